"""Mutual Information Gap (Chen, Li, Grosse & Duvenaud, NeurIPS 2018, eq. 4).

    MIG = (1/K) Σ_k [ I(c_{j(1)}; v_k) − I(c_{j(2)}; v_k) ] / H(v_k)

where j(1), j(2) are the code dimensions with the largest and second largest
mutual information with factor v_k (histogram estimates, ``steer.metrics.information``).
1: each factor is captured by one dimension alone; 0: by two equally.
Factors with H(v_k) = 0 (constant) are left out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.metrics.collected import CodesAndFactors, check_pairs
from steer.metrics.information import BINS, entropy, mutual_information


def mig_per_factor(codes: Tensor, factors: Tensor, bins: int = BINS) -> Tensor:
    """(K,) the normalised gap of each factor; NaN for a constant factor."""
    check_pairs(codes, factors)
    if codes.shape[1] < 2:
        raise SteerError(f"MIG compares the two code dimensions most informative about a factor; the code has "
                         f"{codes.shape[1]} dimension(s).")
    top = mutual_information(codes, factors, bins).topk(2, dim=0).values  # (2, K)
    h = entropy(factors, bins)
    return torch.where(h > 0, (top[0] - top[1]) / h.clamp_min(1e-12), torch.nan)


def mig(codes: Tensor, factors: Tensor, bins: int = BINS) -> Tensor:
    """MIG of codes (N, D) on factors (N, K), in [0, 1]."""
    return mig_per_factor(codes, factors, bins).nanmean()


class MIG(CodesAndFactors):
    """Mutual Information Gap over every (code, factor) pair seen; ``bins`` per column for the histograms."""

    def __init__(self, bins: int = BINS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bins = bins

    def compute(self) -> Tensor:
        return mig(*self.pairs(), bins=self.bins)
