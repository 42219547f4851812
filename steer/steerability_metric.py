"""How far a walk steers, per α of a test grid: the one computation, as a metric that syncs across ranks.

For every test α the metric sums, over the latents it sees,

    walk error      L2_m(G(walk(z, α)), edit(G(z), α))
    baseline error  L2_m(G(z), edit(G(z), α))
    registration    L2_m(G(walk(z, α)), edit(G(z), α')) for α' on a fine line through the
                    identity along α; its minimum is the α the walk achieves

Its states are sums (torchmetrics, reduced by summing across DDP ranks), so
the result is the same for any split of the latents over ranks and batches,
up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

import torch
from torch import Tensor
from torchmetrics import Metric

from steer.edits import Edit
from steer.losses import MaskedL2

masked_l2 = MaskedL2()


class SteerabilityValues(NamedTuple):
    """What :class:`SteerabilityMetric` computes, one row per test α (on the CPU)."""

    walk_error: Tensor  # (A,) mean masked L2 of the walked image to the edit target
    baseline_error: Tensor  # (A,) the same for the unwalked image
    achieved: Tensor  # (A, sliders) registration α, in the edit's own units
    n: int  # latents seen per α


class SteerabilityMetric(Metric):
    """Per test α: mean walk and baseline errors and the registration α over all latents updated.

    ``alphas`` (A, sliders) is the edit's test grid; ``registration_points``
    candidate α' per α are tried along the line through the identity in the
    direction of α, reaching 1.5 × the grid's largest graph α.
    """

    full_state_update = False

    def __init__(self, edit: Edit, alphas: Tensor, registration_points: int = 41) -> None:
        super().__init__()
        self.edit = edit
        self.alphas = alphas.detach().cpu()
        self.offsets, self.units = registration_line(edit, self.alphas, registration_points)
        A, P = len(self.alphas), registration_points
        candidates = torch.stack([torch.stack([edit.alpha_from_walk(self.offsets[p] * self.units[a:a + 1])[0]
                                               for p in range(P)]) for a in range(A)])  # (A, P, sliders): α' tried
        # Many α try the same α' (the line through the identity is shared by α of either sign, and the
        # identity tries only α' = identity), so each distinct α' warps G(z) once per batch and is compared
        # with the walked images of every α that tries it: tried_by[starts[u]:starts[u + 1]] are the α rows
        # that try distinct candidate u, and slots (A, P) say which of those comparisons is row a's at point p.
        unique, inverse = torch.unique(candidates.flatten(0, 1), dim=0, return_inverse=True)
        inverse = inverse.view(A, P)
        rows = [sorted(set(torch.nonzero(inverse == u)[:, 0].tolist())) for u in range(len(unique))]
        self.tried_by, self.starts = [a for r in rows for a in r], [0, *accumulate(len(r) for r in rows)]
        slots = torch.tensor([[self.starts[inverse[a, p]] + rows[inverse[a, p]].index(a) for p in range(P)]
                              for a in range(A)])
        self.register_buffer("candidates", unique, persistent=False)  # (U, sliders): the distinct α' tried
        self.register_buffer("slots", slots, persistent=False)
        self.add_state("walk_sum", torch.zeros(A), dist_reduce_fx="sum")
        self.add_state("base_sum", torch.zeros(A), dist_reduce_fx="sum")
        self.add_state("reg_sum", torch.zeros(A, P), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(A, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pairs: Sequence[tuple[Tensor, Tensor, Tensor, Tensor]]) -> None:
        """Add one batch of latents at every test α: ``pairs[a]`` = (walked images, edit targets, masks,
        unwalked images) at α row a (``steer.objective.steer_grid``'s pairs, in order)."""
        source = pairs[0][3]
        n = len(source)
        for a, (walked, target, mask, _) in enumerate(pairs):
            self.walk_sum[a] += masked_l2(walked, target, mask, "none").sum()
            self.base_sum[a] += masked_l2(source, target, mask, "none").sum()
        errors = []
        for u, candidate in enumerate(self.candidates):
            moved, moved_mask = self.edit(source, candidate.to(source.dtype).expand(n, -1).contiguous())
            errors += [masked_l2(pairs[a][0], moved, moved_mask, "none").sum()
                       for a in self.tried_by[self.starts[u]:self.starts[u + 1]]]
        self.reg_sum += torch.stack(errors)[self.slots]
        self.count += n

    def compute(self) -> SteerabilityValues:
        walk_sum, base_sum, reg_sum, count = (s.cpu() for s in (self.walk_sum, self.base_sum, self.reg_sum, self.count))
        achieved = self.edit.alpha_from_walk(parabola_minimum(self.offsets, reg_sum)[:, None] * self.units)
        identity = (self.edit.walk_alpha(self.alphas) == 0).all(1)
        achieved[identity] = self.alphas[identity]
        return SteerabilityValues(walk_sum / count, base_sum / count, achieved, int(count.min()))


def registration_line(edit: Edit, alphas: Tensor, points: int) -> tuple[Tensor, Tensor]:
    """Offsets c (P,) and unit directions u (A, sliders): candidate graph α = c·u along each α's own axis."""
    g = edit.walk_alpha(alphas)
    reach = 1.5 * g.norm(dim=1).max().clamp_min(1e-6)
    return torch.linspace(-1, 1, points) * reach, g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)


def parabola_minimum(c: Tensor, errors: Tensor) -> Tensor:
    """Per row, the minimum of ``errors`` over the grid ``c``, refined by the parabola through its neighbours."""
    best = errors.argmin(1)
    inner = best.clamp(1, len(c) - 2)
    rows = torch.arange(len(errors))
    left, mid, right = errors[rows, inner - 1], errors[rows, inner], errors[rows, inner + 1]
    curvature = left - 2 * mid + right
    shift = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-12), torch.zeros_like(mid))
    refined = c[inner] + shift.clamp(-1, 1) * (c[1] - c[0])
    return torch.where(best == inner, refined, c[best])
