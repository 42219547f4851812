"""The factor regressor g_θ: a direction u and a monotone factor curve g from trajectories (docs/methods.md §2).

Fitted on trajectory records (steer.discovery.trajectories) through the
differences of equation 6 of Plumerault & Le Borgne,

    min_{v, g}  E (g(⟨u, z_t⟩) − g(⟨u, z0⟩) − δt)² + λ_v ‖v‖² + λ_s Σ_k (s_{k+1} − s_k)²,   u = v / ‖v‖,

with g monotone piecewise-linear on fixed knots (slopes s_k = exp θ_k ≥ 0,
linear beyond the end knots). g is evaluated on the unit direction u, so the
knots on [−5, 5] cover ⟨u, z⟩ ~ N(0, 1) whatever the fit does to ‖v‖; the L2
penalty keeps ‖v‖ from drifting (a scale-free loss lets it grow under Adam).

Factor values. δt is only defined up to an offset, so g is anchored at g(0) = 0:
``factor(z) = g(⟨u, z⟩) + offset`` with ``offset`` 0 is the factor relative to
its median over the latent prior (⟨u, z⟩ = 0 is the median of N(0, I) along u),
in the edit's additive units (pixels for ShiftX, ln-scale for Zoom).
:meth:`FactorRegressor.fit_offset` sets ``offset`` from measured attributes
(e.g. sprite x positions in pixels), after which every value is absolute.
"""

from __future__ import annotations

from typing import Protocol

import torch
from pytorch_lightning import LightningModule
from torch import Tensor, nn

from steer.errors import SteerError
from steer.seeding import rng


class TargetDistribution(Protocol):
    """Anything with ``sample(n, generator) → (n,)``, e.g. steer.sprites.Uniform / Normal / Fixed."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...


class FactorRegressor(LightningModule):
    """u and g of ``t̂ = g(⟨u, z⟩)`` fitted on trajectory records (TrajectoryDataModule batches).

    Args:
        latent_dim: latent size of the generator the records come from.
        knots: number of knots of g, evenly spaced on [−knot_range, knot_range].
        knot_range: half-width of the knot interval in units of ⟨u, z⟩.
        lr: Adam learning rate.
        direction_penalty: λ_v, the L2 penalty on v.
        smoothness: λ_s, the penalty on differences of neighbouring slopes.
        seed: seed of v's initial draw.
    """

    def __init__(self, latent_dim: int, knots: int = 101, knot_range: float = 5.0, lr: float = 0.01,
                 direction_penalty: float = 1e-3, smoothness: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        if latent_dim < 1 or knots < 2 or not knot_range > 0 or not lr > 0:
            raise SteerError(f"FactorRegressor needs latent_dim ≥ 1, knots ≥ 2, knot_range > 0 and lr > 0; got "
                             f"{latent_dim}, {knots}, {knot_range}, {lr}.")
        self.save_hyperparameters()
        self.latent_dim = latent_dim
        self.v = nn.Parameter(torch.randn(latent_dim, generator=rng(seed, "factor_regressor", "v")))
        self.log_slopes = nn.Parameter(torch.zeros(knots - 1))  # s_k = exp θ_k: g starts as the identity
        self.register_buffer("knots", torch.linspace(-knot_range, knot_range, knots), persistent=False)
        self.register_buffer("offset", torch.zeros(()))

    # -- the model --------------------------------------------------------------
    @property
    def direction(self) -> Tensor:
        """u = v / ‖v‖."""
        return self.v / self.v.norm().clamp_min(1e-12)

    def coordinate(self, z: Tensor) -> Tensor:
        """⟨u, z⟩ per latent."""
        return z @ self.direction

    def _curve(self, s: Tensor) -> Tensor:
        """Σ_k s_k clamp(s − x_k, 0, x_{k+1} − x_k), continued linearly below x_0 and above x_K."""
        x, slopes = self.knots, self.log_slopes.exp()
        ramp = torch.minimum((s[..., None] - x[:-1]).clamp(min=0), x[1:] - x[:-1])
        return ((ramp * slopes).sum(-1) + slopes[0] * (s - x[0]).clamp(max=0)
                + slopes[-1] * (s - x[-1]).clamp(min=0))

    def g(self, s: Tensor) -> Tensor:
        """The factor curve, anchored at g(0) = 0; monotone non-decreasing."""
        return self._curve(s) - self._curve(torch.zeros((), device=s.device, dtype=s.dtype))

    @torch.no_grad()
    def factor(self, z: Tensor) -> Tensor:
        """The factor value of latents z: g(⟨u, z⟩) + offset."""
        return self.g(self.coordinate(z)) + self.offset

    def coordinate_for(self, value: Tensor) -> Tensor:
        """The ⟨u, z⟩ whose factor is ``value``: g⁻¹(value − offset), exact on every linear piece."""
        y = torch.as_tensor(value, dtype=self.v.dtype, device=self.v.device) - self.offset
        at_knots, slopes = self.g(self.knots), self.log_slopes.exp()
        k = (torch.searchsorted(at_knots, y.contiguous()) - 1).clamp(0, len(slopes) - 1)  # the piece holding y
        return self.knots[k] + (y - at_knots[k]) / slopes[k].clamp_min(1e-12)

    # -- use ------------------------------------------------------------------------
    @torch.no_grad()
    def latent_for(self, z: Tensor, value: Tensor | float, relative: bool = False) -> Tensor:
        """z moved along u until its factor is ``value``; only ⟨u, z⟩ changes.

        ``value`` is absolute (in factor units, see ``offset``), or with
        ``relative=True`` the change from each latent's own factor.
        """
        target = self.factor(z) + value if relative else torch.as_tensor(value, dtype=z.dtype, device=z.device)
        s = self.coordinate_for(target.expand(len(z)))
        u = self.direction
        return z + (s - z @ u)[:, None] * u  # z' = z + (s* − ⟨u, z⟩) u

    @torch.no_grad()
    def sample(self, n: int, target: TargetDistribution, generator: torch.Generator | None = None) -> Tensor:
        """n latents whose factor follows ``target``: the part of N(0, I) orthogonal to u, plus g⁻¹(t) u."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.v)
        values = target.sample(n, generator).to(self.v)
        u = self.direction
        return z - (z @ u)[:, None] * u + self.coordinate_for(values)[:, None] * u

    @torch.no_grad()
    def fit_offset(self, z: Tensor, measured: Tensor) -> float:
        """Anchor factor values to measured attributes of G(z): offset = mean(measured − g(⟨u, z⟩))."""
        measured = torch.as_tensor(measured, dtype=z.dtype, device=z.device)
        if measured.shape != (len(z),) or not torch.isfinite(measured).all():
            raise SteerError(f"fit_offset needs one finite measurement per latent ({len(z)}), "
                             f"got shape {tuple(measured.shape)}.")
        self.offset.fill_((measured - self.g(self.coordinate(z))).mean())
        return self.offset.item()

    # -- training ---------------------------------------------------------------------
    def difference_error(self, batch: dict[str, Tensor]) -> Tensor:
        """E (g(⟨u, z_t⟩) − g(⟨u, z0⟩) − δt)² (equation 6)."""
        predicted = self.g(self.coordinate(batch["z_t"])) - self.g(self.coordinate(batch["z0"]))
        return ((predicted - batch["delta"]) ** 2).mean()

    def penalty(self) -> Tensor:
        """λ_v ‖v‖² + λ_s Σ_k (s_{k+1} − s_k)²."""
        slopes = self.log_slopes.exp()
        return (self.hparams.direction_penalty * self.v.pow(2).sum()
                + self.hparams.smoothness * slopes.diff().pow(2).sum())

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        error = self.difference_error(batch)
        self.log("train/loss", error, prog_bar=True, batch_size=len(batch["delta"]))
        return error + self.penalty()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.difference_error(batch), prog_bar=True, batch_size=len(batch["delta"]),
                 sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
