"""Walks in latent space: ``walk(z, graph_α, y)`` → moved latent (docs/methods.md §1).

Every walk is built as ``Walk(latent_dim, sliders, num_classes, **options)``;
a config names the class and its options, steer fills in the first three from
the generator and the edit.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from steer.errors import SteerError
from steer.formats.directions import load_directions
from steer.generators.base import check_finite


class Walk(nn.Module):
    """Base class: checks shapes, then ``move(z, walk_alpha, y)``. ``per_class``: the walk has its own
    directions per class, so its steerability is also reported per class."""

    per_class = False

    def __init__(self, latent_dim: int, sliders: int = 1, num_classes: int | None = None) -> None:
        super().__init__()
        if latent_dim <= 0 or sliders <= 0:
            raise SteerError(f"a walk needs latent_dim > 0 and sliders > 0, got {latent_dim}, {sliders}.")
        self.latent_dim, self.sliders, self.num_classes = latent_dim, sliders, num_classes

    def forward(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None = None) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise SteerError(f"{type(self).__name__} moves latents (N, {self.latent_dim}), got {tuple(z.shape)}.")
        if walk_alpha.shape != (len(z), self.sliders):
            raise SteerError(
                f"{type(self).__name__} takes α of shape ({len(z)}, {self.sliders}), got {tuple(walk_alpha.shape)}."
            )
        check_finite(z, type(self).__name__)
        check_finite(walk_alpha, type(self).__name__, "α")
        return self.move(z, walk_alpha.to(z.dtype), y)

    def move(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None) -> Tensor:
        raise NotImplementedError


class LinearWalk(Walk):
    """z + Σ_k α_k w_k, one direction w_k per slider.

    ``init``: "normal" (default) draws w ~ N(0, init_std²), as the steerability
    code's walks (graphs/*/graph_util.py); "uniform" draws w ~ U(−1, 1), as its
    §4.4 joint code (steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py,
    ``self.w``; docs/PAPER_PRESETS.md).
    """

    def __init__(self, latent_dim: int, sliders: int = 1, num_classes: int | None = None, init_std: float = 0.1,
                 init: Literal["normal", "uniform"] = "normal"):
        super().__init__(latent_dim, sliders, num_classes)
        if init not in ("normal", "uniform"):
            raise SteerError(f"LinearWalk init must be normal (w ~ N(0, init_std²)) or uniform (w ~ U(−1, 1)), "
                             f"got {init!r}.")
        w = torch.randn(sliders, latent_dim) * init_std if init == "normal" else torch.rand(sliders, latent_dim) * 2 - 1
        self.w = nn.Parameter(w)

    def move(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None) -> Tensor:
        return z + walk_alpha @ self.w


class ClassLinearWalk(Walk):
    """z + Σ_k α_k w_{y,k}: one set of directions per class of a conditional generator."""

    per_class = True

    def __init__(self, latent_dim: int, sliders: int = 1, num_classes: int | None = None, init_std: float = 0.1):
        super().__init__(latent_dim, sliders, num_classes)
        if not num_classes:
            raise SteerError(
                "ClassLinearWalk keeps one direction per class, but the generator is unconditional "
                "(num_classes=None); use LinearWalk."
            )
        self.w = nn.Parameter(torch.randn(num_classes, sliders, latent_dim) * init_std)

    def move(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None) -> Tensor:
        if y is None:
            raise SteerError("ClassLinearWalk needs the class labels y of the latents it moves.")
        return z + torch.einsum("ns,nsd->nd", walk_alpha, self.w[y])


class NNWalk(Walk):
    """Non-linear walk: repeated residual steps z ← z + T(z), re-projected to ‖z₀‖.

    Graph α = n·ε (ε = ``step_size``): |α|/ε steps, the last one fractional, with
    separate step nets for α > 0 and α < 0. Training unrolls as many steps as
    the edit's α range needs (N_f = max|α|/ε, 4–5 with the configs); at test
    time larger α simply apply the step more often (recursive extrapolation).

    ``integer_steps``: round(|α|/ε) whole steps and no fractional one, as the
    paper's code (graph α = an integer step count n ∈ −N_f…N_f, target α = n·ε;
    utils/transforms.py ``get_train_alpha``, docs/PAPER_PRESETS.md). Pair it
    with an edit whose α lie on the ε grid, or the walk and its target disagree.
    """

    def __init__(
        self,
        latent_dim: int,
        sliders: int = 1,
        num_classes: int | None = None,
        step_size: float = 0.25,
        hidden: int = 256,
        integer_steps: bool = False,
    ) -> None:
        super().__init__(latent_dim, sliders, num_classes)
        if sliders != 1:
            raise SteerError(f"NNWalk steers one slider; this edit has {sliders}. Use LinearWalk for it.")
        if step_size <= 0 or hidden <= 0:
            raise SteerError(f"NNWalk needs step_size > 0 and hidden > 0, got {step_size}, {hidden}.")
        self.step_size, self.integer_steps = step_size, integer_steps
        self.forward_step, self.backward_step = self._step_net(hidden), self._step_net(hidden)

    def _step_net(self, hidden: int) -> nn.Sequential:
        net = nn.Sequential(nn.Linear(self.latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, self.latent_dim))
        nn.init.normal_(net[2].weight, std=1e-3)
        nn.init.zeros_(net[2].bias)
        return net

    def move(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None) -> Tensor:
        steps = walk_alpha[:, :1].abs() / self.step_size  # n, per latent
        steps = steps.round() if self.integer_steps else steps
        positive = walk_alpha[:, :1] >= 0
        norm = z.norm(dim=1, keepdim=True)
        for k in range(int(torch.ceil(steps.max()).item()) if len(z) else 0):
            fraction = (steps - k).clamp(0, 1)
            delta = torch.where(positive, self.forward_step(z), self.backward_step(z))
            moved = z + fraction * delta
            z = moved * norm / moved.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return z


class DirectionWalk(Walk):
    """z + Σ_k α_k · scale · u_k along fixed directions u_k read from a direction file; nothing to train.

    ``path``: a direction file (``steer discover sefa|pca`` writes one);
    ``index``: which of its directions are the sliders, one per slider
    (default: the first ``sliders``); ``scale``: latent distance per unit α.
    """

    def __init__(self, latent_dim: int, sliders: int = 1, num_classes: int | None = None, path: str = "",
                 index: int | list[int] | None = None, scale: float = 1.0) -> None:
        super().__init__(latent_dim, sliders, num_classes)
        if not path:
            raise SteerError("DirectionWalk needs path: a direction file (steer discover sefa|pca writes one).")
        found = load_directions(path, latent_dim)
        chosen = list(range(sliders)) if index is None else [index] if isinstance(index, int) else list(index)
        if len(chosen) != sliders:
            raise SteerError(f"DirectionWalk: the edit has {sliders} slider(s) but index chooses {len(chosen)} "
                             f"direction(s) ({chosen}); give one index per slider.")
        if not all(-len(found) <= i < len(found) for i in chosen):
            raise SteerError(f"DirectionWalk: index {chosen} is out of range; {path} holds {len(found)} directions "
                             f"(0 … {len(found) - 1}).")
        self.scale = scale
        self.register_buffer("directions", found.directions[chosen].clone())  # (sliders, latent_dim), unit rows

    def move(self, z: Tensor, walk_alpha: Tensor, y: Tensor | None) -> Tensor:
        return z + (walk_alpha * self.scale) @ self.directions.to(z.dtype)  # z + Σ_k α_k · scale · u_k
