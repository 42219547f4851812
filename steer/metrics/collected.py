"""``CodesAndFactors``: a Metric that collects (code, factor) pairs across batches and ranks, scored at the end.

Every disentanglement metric needs the whole sample at once (histograms,
regressors, votes), so the state is the concatenated codes and factors
(``dist_reduce_fx="cat"``: gathered from every rank before ``compute``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from steer.errors import SteerError


def check_pairs(codes: Tensor, factors: Tensor, least: int = 2) -> None:
    """Codes (N, D) and factors (N, K) of the same N ≥ ``least``, finite; a clear error otherwise."""
    if codes.dim() != 2 or factors.dim() != 2 or len(codes) != len(factors):
        raise SteerError(f"disentanglement metrics take codes (N, D) and factors (N, K) with the same N, got "
                         f"{tuple(codes.shape)} and {tuple(factors.shape)}.")
    if len(codes) < least:
        raise SteerError(f"a disentanglement metric needs at least {least} samples, got {len(codes)}.")
    if not (codes.isfinite().all() and factors.isfinite().all()):
        raise SteerError("codes and factors must be finite; drop the samples whose factors could not be measured.")


class CodesAndFactors(Metric):
    """Collects codes (N, D) and factors (N, K); subclasses score ``self.pairs()`` in ``compute``."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("codes", [], dist_reduce_fx="cat")
        self.add_state("factors", [], dist_reduce_fx="cat")

    def update(self, codes: Tensor, factors: Tensor) -> None:
        check_pairs(codes, factors, least=1)
        self.codes.append(codes.detach().double())
        self.factors.append(factors.detach().double())

    def pairs(self) -> tuple[Tensor, Tensor]:
        """Every code and factor seen so far (on this rank and, once synced, on all)."""
        if not self.codes:
            raise SteerError("a disentanglement metric was computed before any update(codes, factors).")
        return dim_zero_cat(self.codes).cpu(), dim_zero_cat(self.factors).cpu()


def standardised(x: Tensor) -> Tensor:
    """Each column minus its mean over its std (constant columns become 0)."""
    std = x.std(0)
    return (x - x.mean(0)) / torch.where(std > 0, std, 1)
