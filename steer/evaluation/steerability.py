"""How far a walk steers: errors, achieved α by registration, and limits (docs/methods.md §1)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.data.latents import evaluation_latents
from steer.edits import Edit
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.objective import steer_grid
from steer.steerability_metric import SteerabilityMetric, SteerabilityValues
from steer.walks import Walk


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
    classes: list[int] | None = None  # the classes asked for (None: all, drawn uniformly)
    frame_classes: list[int] | None = None  # (K,) the class of each latent in the pictures
    per_class: dict[int, SteerabilityValues] = field(default_factory=dict)  # a per-class walk's values by class

    def limits(self, values: SteerabilityValues | None = None) -> dict:
        """Largest requested α on each side of the identity up to which the walk follows (over ``values``' α)."""
        return follow_limits(self.edit, self.alphas, self.achieved if values is None else values.achieved,
                             self.fraction)

    def to_json(self) -> dict:
        flat = (lambda t: t[:, 0].tolist()) if self.edit.sliders == 1 else (lambda t: t.tolist())
        out = {
            "edit": repr(self.edit),
            "alphas": flat(self.alphas),
            "walk_error": self.walk_error.tolist(),
            "baseline_error": self.baseline_error.tolist(),
            "achieved_alpha": flat(self.achieved),
            "limit": self.limits(),
            "limit_fraction": self.fraction,
            "n_latents": self.n,
            "classes": self.classes,
        }
        if self.per_class:
            out["per_class"] = {str(c): {"walk_error": v.walk_error.tolist(), "baseline_error": v.baseline_error.tolist(),
                                         "achieved_alpha": flat(v.achieved), "limit": self.limits(v), "n_latents": v.n}
                                for c, v in self.per_class.items()}
        return out


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
    alphas: Tensor | None = None,
    registration_points: int = 41,
    keep: int = 6,
    progress: bool = True,
    classes: list[int] | None = None,
    observe: Callable[[int, Tensor], None] | None = None,
) -> Steerability:
    """Errors and achieved α over ``n`` seeded latents at every α of the grid.

    ``classes``: the classes of a conditional generator to use, in turn
    (default: drawn uniformly). A per-class walk (``walk.per_class``, e.g.
    ClassLinearWalk) is also measured per class: one metric per class seen,
    whose summed states give the overall values.

    walk_error(α)     = E_z L2_m(G(walk(z, α)), edit(G(z), α))
    baseline_error(α) = E_z L2_m(G(z), edit(G(z), α))
    achieved(α)       = argmin_{α'} E_z L2_m(G(walk(z, α)), edit(G(z), α')), α' on a fine
                        line through the identity along α (registration), the grid's
                        minimum refined by a parabola through its two neighbours

    ``observe(a, walked)``, if given, sees each batch's G(walk(z, α)) at α row a
    (e.g. :class:`steer.evaluation.attribute_steering.WalkedAttributes`), so
    another measure of the walked images needs no second generator pass.
    """
    check_options(n, batch_size, fraction)
    alphas = edit.check_alpha(edit.test_alphas() if alphas is None else alphas)
    device = next(generator.parameters(), torch.empty(0)).device
    classes = generator.check_classes(classes)
    metric = SteerabilityMetric(edit, alphas, registration_points).to(device)
    by_class: dict[int, SteerabilityMetric] = {}
    grid_alphas = alphas.to(device)  # every α is moved to the device once
    frames, targets, shown = [], [], None  # of the first batch, for pictures

    def sample(count: int, draw: torch.Generator) -> tuple[Tensor, Tensor | None]:
        return generator.sample(count, draw, classes=classes)

    for z, y in tqdm(evaluation_latents(sample, n, batch_size, seed), desc="evaluating", unit="batch",
                     total=-(-n // batch_size), disable=not progress):
        z, y = z.to(device), (y.to(device) if y is not None else None)
        shown = shown if shown is not None or y is None else y[:keep].tolist()
        pairs = list(steer_grid(generator, edit, walk, z, grid_alphas, y))
        if walk.per_class and y is not None:
            for c in y.unique().tolist():
                if c not in by_class:
                    by_class[c] = SteerabilityMetric(edit, alphas, registration_points).to(device)
                rows = y == c
                by_class[c].update([type(pair)(*(t[rows] if len(t) == len(y) else t for t in pair)) for pair in pairs])
        else:
            metric.update(pairs)
        for a, pair in enumerate(pairs):
            if observe is not None:
                observe(a, pair.walked)
            if len(frames) < len(alphas):
                frames.append(pair.walked[:keep].cpu())
                targets.append((pair.target * pair.mask)[:keep].cpu())
    for part in by_class.values():
        metric.merge_state(part)  # sums of every class: the overall values
    with warnings.catch_warnings():  # split: the overall metric holds the classes' merged sums, not updates of its own
        warnings.filterwarnings("ignore", "The ``compute`` method of metric", UserWarning)
        values = metric.compute()
    return Steerability(edit, alphas, values.walk_error, values.baseline_error, values.achieved, fraction,
                        torch.stack(frames), torch.stack(targets), n, classes, shown,
                        {c: by_class[c].compute() for c in sorted(by_class)})
