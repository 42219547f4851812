"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams, ICLR 2018, §2–3).

One random-forest regressor per factor v_k predicts it from the whole code
(scikit-learn's ``RandomForestRegressor``, the paper's choice; codes and
factors standardised). Its impurity importances give the importance matrix
R (D, K), R_ik = how much code dimension c_i matters for v_k. Then

    P_ik = R_ik / Σ_k' R_ik'                   (dimension i's importance over factors)
    D_i  = 1 − H_K(P_i·),  H_K(p) = −Σ_k p_k log_K p_k
    D    = Σ_i ρ_i D_i,    ρ_i = Σ_k R_ik / Σ_ik R_ik     (disentanglement)
    P̃_ik = R_ik / Σ_i' R_i'k                   (factor k's importance over dimensions)
    C_k  = 1 − H_D(P̃_·k),  C = (1/K) Σ_k C_k            (completeness)
    I    = (1/K) Σ_k R²_k on held-out samples            (informativeness)

The paper reports informativeness as the prediction error, NRMSE_k = √(1 − R²_k);
steer reports the held-out R² so that every score is "higher is better".
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from sklearn.ensemble import RandomForestRegressor
from torch import Tensor

from steer.errors import SteerError
from steer.metrics.collected import CodesAndFactors, check_pairs, standardised


class DCIScores(NamedTuple):
    disentanglement: Tensor  # ()
    completeness: Tensor  # ()
    informativeness: Tensor  # (), mean held-out R²
    importance: Tensor  # (D, K)


def normalised_entropy(p: Tensor, dim: int) -> Tensor:
    """H(p) / log n along ``dim`` (n entries), with 0 log 0 = 0; p sums to 1 along ``dim``."""
    n = p.shape[dim]
    return -(p * p.clamp_min(1e-30).log()).sum(dim) / torch.log(torch.tensor(float(n), dtype=p.dtype))


def importance_matrix(codes: Tensor, factors: Tensor, test_fraction: float = 0.3, trees: int = 50, seed: int = 0
                      ) -> tuple[Tensor, Tensor]:
    """(R (D, K) impurity importances, (K,) held-out R²) of one random forest per factor."""
    c, v = standardised(codes).numpy(), standardised(factors).numpy()
    order = torch.randperm(len(c), generator=torch.Generator().manual_seed(seed)).numpy()
    n_test = max(1, round(test_fraction * len(c)))
    test, train = order[:n_test], order[n_test:]
    importance, r2 = [], []
    for k in range(v.shape[1]):
        forest = RandomForestRegressor(trees, min_samples_leaf=5, random_state=seed, n_jobs=1)
        forest.fit(c[train], v[train, k])
        importance.append(torch.tensor(forest.feature_importances_))
        r2.append(forest.score(c[test], v[test, k]) if v[:, k].std() > 0 else 0.0)
    return torch.stack(importance, 1), torch.tensor(r2, dtype=torch.float64)


def dci(codes: Tensor, factors: Tensor, test_fraction: float = 0.3, trees: int = 50, seed: int = 0) -> DCIScores:
    """D, C, I of codes (N, D) on factors (N, K), each in [0, 1] (I can fall below 0 for a useless code)."""
    check_pairs(codes, factors, least=10)
    if codes.shape[1] < 2 or factors.shape[1] < 2:
        raise SteerError(f"DCI spreads importance over code dimensions and factors; it needs ≥ 2 of each, got "
                         f"{codes.shape[1]} dimension(s) and {factors.shape[1]} factor(s).")
    r, r2 = importance_matrix(codes, factors, test_fraction, trees, seed)
    total = r.sum()
    if total <= 0:
        raise SteerError("no code dimension predicts any factor (every importance is 0); the code is constant.")
    per_dim = r.sum(1)
    used = per_dim > 0
    d_i = 1 - normalised_entropy(r[used] / per_dim[used, None], dim=1)  # D_i = 1 − H_K(P_i·)
    disentanglement = (per_dim[used] / total * d_i).sum()  # D = Σ ρ_i D_i
    per_factor = r.sum(0)
    c_k = 1 - normalised_entropy(r / per_factor.clamp_min(1e-30), dim=0)  # C_k = 1 − H_D(P̃_·k)
    return DCIScores(disentanglement, c_k[per_factor > 0].mean(), r2.mean(), r)


class DCI(CodesAndFactors):
    """DCI over every (code, factor) pair seen: ``compute()`` → {"disentanglement", "completeness",
    "informativeness"}."""

    def __init__(self, test_fraction: float = 0.3, trees: int = 50, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.test_fraction, self.trees, self.seed = test_fraction, trees, seed

    def compute(self) -> dict[str, Tensor]:
        scores = dci(*self.pairs(), test_fraction=self.test_fraction, trees=self.trees, seed=self.seed)
        return {"disentanglement": scores.disentanglement, "completeness": scores.completeness,
                "informativeness": scores.informativeness}
