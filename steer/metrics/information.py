"""Mutual information between code dimensions and factors by histogram discretisation (Chen et al. 2018, §4;
Locatello et al. 2019's protocol: equal-width bins per column).

    I(c; v) = Σ_{a,b} p(a, b) log [p(a, b) / (p(a) p(b))]      (nats)
    H(v)    = I(v; v) = −Σ_b p(b) log p(b)

A discrete factor with fewer values than bins keeps one bin per value.
"""

from __future__ import annotations

import torch
from sklearn.metrics import mutual_info_score
from torch import Tensor

BINS = 20


def discretised(x: Tensor, bins: int = BINS) -> Tensor:
    """(N, K) bin indices of each column of ``x`` (N, K): ``bins`` equal-width bins from its min to its max."""
    low, high = x.min(0).values, x.max(0).values
    width = torch.where(high > low, (high - low) / bins, 1)
    return ((x - low) / width).floor().clamp(0, bins - 1).long()


def mutual_information(codes: Tensor, factors: Tensor, bins: int = BINS) -> Tensor:
    """(D, K) I(c_i; v_k) in nats between each discretised code dimension and factor."""
    c, v = discretised(codes, bins).numpy(), discretised(factors, bins).numpy()
    return torch.tensor([[mutual_info_score(v[:, k], c[:, i]) for k in range(v.shape[1])] for i in range(c.shape[1])],
                        dtype=torch.float64)


def entropy(factors: Tensor, bins: int = BINS) -> Tensor:
    """(K,) H(v_k) in nats of each discretised factor."""
    v = discretised(factors, bins).numpy()
    return torch.tensor([mutual_info_score(v[:, k], v[:, k]) for k in range(v.shape[1])], dtype=torch.float64)
