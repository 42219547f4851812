"""FactorVAE score (Kim & Mnih, ICML 2018, §4), on a sample of observed (code, factor) pairs.

Each code dimension is divided by its std over the whole sample; dimensions
whose variance is below 5 % of the largest are "collapsed" and never chosen.
A vote: pick a factor k at random, take ``batch`` samples that share factor k's
value (its histogram bin: the sample is observed, not generated with v_k held
fixed, so "fixed" means "in the same one of ``bins`` bins" while the others
vary freely), and find the dimension with the least variance of the
normalised code over them:

    d* = argmin_d Var_batch(c_d / s_d)    → the vote (d*, k)

A majority-vote classifier maps each dimension to the factor it was most often
voted for on ``votes`` training votes; the score is its accuracy on as many fresh votes:

    score = (1/V) Σ_votes 1[ argmax_k' count(d*, k') = k ]

1: fixing any factor pins exactly one dimension of its own.
"""

from __future__ import annotations

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.metrics.collected import CodesAndFactors, check_pairs
from steer.metrics.information import BINS, discretised

COLLAPSED = 0.05  # a dimension whose variance is below this fraction of the largest one is ignored


def _votes(codes: Tensor, active: Tensor, bins: Tensor, count: int, batch: int, g: torch.Generator
           ) -> tuple[Tensor, Tensor]:
    """``count`` votes (d* (count,), k (count,)) on normalised codes; only ``active`` dimensions can be d*."""
    factors = torch.nonzero((bins != bins[:1]).any(0)).flatten()  # factors that vary in the sample
    if len(factors) == 0:
        raise SteerError("the FactorVAE score needs at least one factor that varies in the sample.")
    ks = factors[torch.randint(len(factors), (count,), generator=g)]
    chosen = []
    for k in ks.tolist():
        anchor = torch.randint(len(codes), (), generator=g)
        members = torch.nonzero(bins[:, k] == bins[anchor, k]).flatten()
        rows = members[torch.randint(len(members), (batch,), generator=g)]
        chosen.append(codes[rows].var(0).masked_fill(~active, torch.inf).argmin())
    return torch.stack(chosen), ks


def factorvae_score(codes: Tensor, factors: Tensor, batch: int = 64, votes: int = 500, bins: int = BINS,
                    seed: int = 0) -> Tensor:
    """The FactorVAE score of codes (N, D) on factors (N, K), in [0, 1]."""
    check_pairs(codes, factors)
    variance = codes.var(0)
    if variance.max() <= 0:
        raise SteerError("the FactorVAE score needs a code that varies; every dimension is constant.")
    active = variance >= COLLAPSED * variance.max()
    normalised = codes / variance.sqrt().clamp_min(1e-30)  # c_d / s_d
    g = torch.Generator().manual_seed(seed)
    bins_of = discretised(factors, bins)
    train_d, train_k = _votes(normalised, active, bins_of, votes, batch, g)
    counts = torch.zeros(codes.shape[1], factors.shape[1])
    counts.index_put_((train_d, train_k), torch.ones(votes), accumulate=True)
    classifier = counts.argmax(1)  # each dimension → its majority factor
    eval_d, eval_k = _votes(normalised, active, bins_of, votes, batch, g)
    return (classifier[eval_d] == eval_k).double().mean()


class FactorVAEScore(CodesAndFactors):
    """The FactorVAE score over every (code, factor) pair seen."""

    def __init__(self, batch: int = 64, votes: int = 500, bins: int = BINS, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch, self.votes, self.bins, self.seed = batch, votes, bins, seed

    def compute(self) -> Tensor:
        return factorvae_score(*self.pairs(), batch=self.batch, votes=self.votes, bins=self.bins, seed=self.seed)
