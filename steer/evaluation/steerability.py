"""How far a walk steers: errors, achieved α by registration, and limits (METHODS.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.edits import Edit
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.losses import MaskedL2
from steer.objective import repeat_alpha, steer_pair
from steer.seeding import rng
from steer.walks import Walk

masked_l2 = MaskedL2()


@dataclass
class Steerability:
    """What ``measure`` finds; ``frames[a]`` are G(walk(z, α_a)) for the first latents (for pictures)."""

    edit: Edit
    alphas: Tensor  # (A, sliders), the edit's own units
    walk_error: Tensor  # (A,) mean masked L2 of G(walk(z, α)) vs edit(G(z), α)
    baseline_error: Tensor  # (A,) the same for the unwalked G(z)
    achieved: Tensor  # (A, sliders) registration α
    fraction: float
    frames: Tensor = field(repr=False)  # (A, K, C, H, W)
    targets: Tensor = field(repr=False)  # (A, K, C, H, W), masked
    n: int = 0

    def limits(self) -> dict:
        """Largest requested α on each side of the identity up to which the walk follows."""
        return follow_limits(self.edit, self.alphas, self.achieved, self.fraction)

    def to_json(self) -> dict:
        flat = (lambda t: t[:, 0].tolist()) if self.edit.sliders == 1 else (lambda t: t.tolist())
        return {
            "edit": repr(self.edit),
            "alphas": flat(self.alphas),
            "walk_error": self.walk_error.tolist(),
            "baseline_error": self.baseline_error.tolist(),
            "achieved_alpha": flat(self.achieved),
            "limit": self.limits(),
            "limit_fraction": self.fraction,
            "n_latents": self.n,
        }


def axes(edit: Edit, alphas: Tensor) -> dict[str, list[int]]:
    """Grid rows per slider: the identity and the rows that move that slider alone."""
    moved = edit.walk_alpha(alphas) != 0
    alone = moved.sum(1) <= 1
    return {name: [i for i in range(len(moved)) if alone[i] and (moved[i, k] or not moved[i].any())]
            for k, name in enumerate(edit.slider_names)}


def follows(edit: Edit, alphas: Tensor, achieved: Tensor, fraction: float) -> Tensor:
    """(A,) True where the achieved graph α is within (1 − fraction) of the requested one."""
    req, got = edit.walk_alpha(alphas), edit.walk_alpha(achieved)
    return (got - req).norm(dim=1) <= (1 - fraction) * req.norm(dim=1) + 1e-6


def follow_limits(edit: Edit, alphas: Tensor, achieved: Tensor, fraction: float) -> dict:
    """Per slider and side of the identity, the largest requested α up to which ``achieved`` follows.

    None on a side where even the first step does not follow; one dict per
    slider name for edits with several sliders.
    """
    ok, g = follows(edit, alphas, achieved, fraction), edit.walk_alpha(alphas)
    out = {}
    for k, (name, rows) in enumerate(axes(edit, alphas).items()):
        sides = {}
        for side, sign in (("negative", -1), ("positive", 1)):
            ordered = sorted((i for i in rows if g[i, k] * sign > 0), key=lambda i: abs(float(g[i, k])))
            reached = None
            for i in ordered:
                if not ok[i]:
                    break
                reached = float(alphas[i, k])
            sides[side] = reached
        out[name] = sides
    return next(iter(out.values())) if edit.sliders == 1 else out


def _registration_line(edit: Edit, alphas: Tensor, points: int) -> tuple[Tensor, Tensor]:
    """Offsets c (P,) and unit directions u (A, sliders): candidate graph α = c·u along each α's own axis."""
    g = edit.walk_alpha(alphas)
    reach = 1.5 * g.norm(dim=1).max().clamp_min(1e-6)
    return torch.linspace(-1, 1, points) * reach, g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _parabola_minimum(c: Tensor, errors: Tensor) -> Tensor:
    """Per row, the minimum of ``errors`` over the grid ``c``, refined by the parabola through its neighbours."""
    best = errors.argmin(1)
    inner = best.clamp(1, len(c) - 2)
    rows = torch.arange(len(errors))
    left, mid, right = errors[rows, inner - 1], errors[rows, inner], errors[rows, inner + 1]
    curvature = left - 2 * mid + right
    shift = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-12), torch.zeros_like(mid))
    refined = c[inner] + shift.clamp(-1, 1) * (c[1] - c[0])
    return torch.where(best == inner, refined, c[best])


def check_options(n: int, batch_size: int, fraction: float) -> None:
    """The options of :func:`measure` that a user sets, checked before any work."""
    if n < 1 or batch_size < 1:
        raise SteerError(f"need n ≥ 1 latents and batch_size ≥ 1, got n={n}, batch_size={batch_size}.")
    if not 0 < fraction <= 1:
        raise SteerError(f"the limit fraction must be in (0, 1] (0.8: within 20 % of the requested α), got {fraction}.")


@torch.no_grad()
def measure(
    generator: Generator,
    edit: Edit,
    walk: Walk,
    n: int = 500,
    batch_size: int = 50,
    seed: int = 0,
    fraction: float = 0.8,
    alphas: Optional[Tensor] = None,
    registration_points: int = 41,
    keep: int = 6,
    progress: bool = True,
) -> Steerability:
    """Errors and achieved α over ``n`` seeded latents at every α of the grid.

    walk_error(α)     = E_z L2_m(G(walk(z, α)), edit(G(z), α))
    baseline_error(α) = E_z L2_m(G(z), edit(G(z), α))
    achieved(α)       = argmin_{α'} E_z L2_m(G(walk(z, α)), edit(G(z), α')), α' on a fine
                        line through the identity along α (registration), the grid's
                        minimum refined by a parabola through its two neighbours
    """
    check_options(n, batch_size, fraction)
    alphas = edit.check_alpha(edit.test_alphas() if alphas is None else alphas)
    device = next(generator.parameters(), torch.empty(0)).device
    offsets, units = _registration_line(edit, alphas, registration_points)
    A, P = len(alphas), registration_points
    # Sums stay on the device and every α is moved there once: no host-device round trip per α.
    walk_sum, base_sum, reg_sum = (torch.zeros(A, device=device), torch.zeros(A, device=device),
                                   torch.zeros(A, P, device=device))
    grid_alphas = alphas.to(device)
    candidates = torch.stack([torch.stack([edit.alpha_from_walk(offsets[p] * units[a:a + 1])[0] for p in range(P)])
                              for a in range(A)]).to(device)  # (A, P, sliders): the registration line's α'
    frames, targets = [], []
    g = rng(seed, "evaluate")
    done = 0
    bar = tqdm(total=n, desc="evaluating", unit="latent", disable=not progress)
    while done < n:
        b = min(batch_size, n - done)
        z, y = generator.sample(b, g, device)
        source = generator(z, y)
        batch_frames, batch_targets = [], []
        for a, alpha in enumerate(grid_alphas):
            pair = steer_pair(generator, edit, walk, z, repeat_alpha(alpha, b, z), y, source)
            walk_sum[a] += masked_l2(pair.walked, pair.target, pair.mask, "none").sum()
            base_sum[a] += masked_l2(source, pair.target, pair.mask, "none").sum()
            for p in range(P):
                moved, mask = edit(source, repeat_alpha(candidates[a, p], b, z))
                reg_sum[a, p] += masked_l2(pair.walked, moved, mask, "none").sum()
            if done == 0:
                batch_frames.append(pair.walked[:keep].cpu())
                batch_targets.append((pair.target * pair.mask)[:keep].cpu())
        if done == 0:
            frames, targets = torch.stack(batch_frames), torch.stack(batch_targets)
        done += b
        bar.update(b)
    bar.close()
    walk_sum, base_sum, reg_sum = walk_sum.cpu(), base_sum.cpu(), reg_sum.cpu()
    achieved = edit.alpha_from_walk(_parabola_minimum(offsets, reg_sum)[:, None] * units)
    identity = (edit.walk_alpha(alphas) == 0).all(1)
    achieved[identity] = alphas[identity]
    return Steerability(edit, alphas, walk_sum / n, base_sum / n, achieved, fraction, frames, targets, n)
