"""Scoring latent directions and the factor regressor g_θ on known factors of sprite-like images.

Which factor does a direction control, and what else does it move? For n
seeded latents z_i and steps t_s along a unit direction u, the factors of
G(z_i + t_s u) are measured (``steer.sprites.histograms.attribute_values``:
x, y in px, area in px², …) and each factor f is fitted against t, pooled over
the latents with each latent's own offset removed (a within-latent fit):

    ṽ_is = v_is − mean_s v_is,   t̃_is = t_s − mean_s t_s   (means over latent i's valid steps)
    slope_f = Σ t̃ ṽ / Σ t̃²,      R²_f = 1 − Σ (ṽ − slope_f t̃)² / Σ ṽ²

* controlled factor: the factor with the highest R², if that R² is at least
  ``CONTROL_R2`` (0.5); below it the direction controls none of the factors;
* leakage: the highest R² among the other factors (0: nothing else moves
  linearly with t; 1: another factor follows t as faithfully);
* cross-talk: the largest standardised slope |slope_f| / std_f among the other
  factors over that of the controlled factor, where std_f is the factor's std
  over the generator's own samples G(z_i) (its learned data). 0.1 means the
  next factor moves a tenth as many of its stds per step.

Images with no object (NaN attributes) are left out and counted; a latent
with fewer than two images with an object carries no within-latent
information and is left out of the fit (counted as dropped).

The control score of g_θ (Plumerault & Le Borgne): request factor values,
move n latents to each with ``FactorRegressor.latent_for`` (absolute values,
after ``fit_offset`` against the measured factor), and measure; the std of
the measured factor at each requested value is the figure (lower is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.errors import SteerError
from steer.generators.base import Generator
from steer.seeding import rng
from steer.sprites.histograms import attribute_values, check_attributes

if TYPE_CHECKING:
    from steer.modules.factor_regressor import FactorRegressor

CONTROL_R2 = 0.5  # a direction controls its best factor only if that factor's R² reaches this


@torch.no_grad()
def measure_latents(generator: Generator, z: Tensor, factors: Sequence[str], y: Tensor | None = None,
                    batch_size: int = 500) -> Tensor:
    """(N, len(factors)) raw attributes of G(z) on the CPU, NaN where the image has no object."""
    device = next(generator.parameters(), z).device
    out = []
    for start in range(0, len(z), batch_size):
        rows = slice(start, start + batch_size)
        images = generator(z[rows].to(device), None if y is None else y[rows].to(device))
        out.append(attribute_values(images, factors).cpu())
    return torch.cat(out)


def within_fit(t: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pooled within-latent fit of values (n, S, F) against steps t (S,): (slope (F,), R² (F,), used (n,)).

    NaN values are left out; latents with fewer than two valid steps are not used.
    R² is 0 for a factor that does not vary along t, NaN when no latent is used.
    """
    values = values.double()
    valid = values.isfinite()
    used = valid.all(-1).sum(1) >= 2
    valid &= used[:, None, None]
    count = valid.sum(1, keepdim=True).clamp_min(1)
    tt = t.to(values)[None, :, None].expand_as(values)
    t_c = torch.where(valid, tt - torch.where(valid, tt, 0).sum(1, keepdim=True) / count, 0)  # t̃ = t − mean_s t
    v0 = torch.where(valid, values, 0)
    v_c = torch.where(valid, v0 - v0.sum(1, keepdim=True) / count, 0)  # ṽ = v − mean_s v
    slope = (t_c * v_c).sum((0, 1)) / (t_c**2).sum((0, 1))  # Σ t̃ ṽ / Σ t̃²
    total = (v_c**2).sum((0, 1))
    residual = ((v_c - slope * t_c) ** 2).sum((0, 1))
    still = total <= 1e-12 * (v0**2).sum((0, 1))  # no spread beyond rounding: the factor does not vary
    r2 = torch.where(still, 0.0, 1 - residual / total.clamp_min(1e-30))  # R² = 1 − SS_res / SS_tot
    if not used.any():
        slope, r2 = torch.full_like(slope, torch.nan), torch.full_like(r2, torch.nan)
    return slope.float(), r2.float(), used


@dataclass
class DirectionScores:
    """Per direction (rows) and factor (columns): R² and slope of the within-latent fit."""

    factors: tuple[str, ...]
    steps: Tensor  # (S,) steps t along each unit direction
    n: int  # latents per direction
    r2: Tensor  # (k, F)
    slope: Tensor  # (k, F) factor units per unit step along u
    factor_std: Tensor  # (F,) std of each factor over the generator's samples
    vanished: Tensor  # (k,) images (of n·S) with no object
    dropped: Tensor  # (k,) latents left out of the fit

    def __len__(self) -> int:
        return len(self.r2)

    @property
    def controlled(self) -> list[str | None]:
        """The factor with the highest R² per direction; None where that R² is below ``CONTROL_R2`` (or NaN)."""
        best, index = self.r2.nan_to_num(-1).max(1)
        return [self.factors[int(i)] if b >= CONTROL_R2 else None for b, i in zip(best.tolist(), index)]

    def _others(self, per_factor: Tensor) -> Tensor:
        """max over the factors other than the best-R² one, per direction (0 with a single factor)."""
        best = self.r2.nan_to_num(-1).argmax(1, keepdim=True)
        others = per_factor.scatter(1, best, float("-inf")).amax(1).clamp_min(0)
        return others if len(self.factors) > 1 else torch.zeros(len(self))

    @property
    def standardised_slope(self) -> Tensor:
        """(k, F) |slope_f| / std_f: factor stds moved per unit step."""
        return self.slope.abs() / self.factor_std.clamp_min(1e-12)

    @property
    def leakage(self) -> Tensor:
        """(k,) the highest R² among the factors other than the controlled one."""
        return self._others(self.r2.nan_to_num(0))

    @property
    def crosstalk(self) -> Tensor:
        """(k,) the largest standardised slope among the other factors over the controlled factor's."""
        best = self.r2.nan_to_num(-1).argmax(1, keepdim=True)
        own = self.standardised_slope.gather(1, best)[:, 0]
        return self._others(self.standardised_slope.nan_to_num(0)) / own.clamp_min(1e-12)

    def to_json(self) -> dict:
        return {
            "factors": list(self.factors), "steps": self.steps.tolist(), "n": self.n,
            "factor_std": dict(zip(self.factors, self.factor_std.tolist())),
            "directions": [{
                "controlled": c, "r2": dict(zip(self.factors, r2)), "slope": dict(zip(self.factors, slope)),
                "leakage": leak, "crosstalk": talk, "vanished_images": van, "dropped_latents": drop,
            } for c, r2, slope, leak, talk, van, drop in zip(
                self.controlled, self.r2.tolist(), self.slope.tolist(), self.leakage.tolist(),
                self.crosstalk.tolist(), self.vanished.tolist(), self.dropped.tolist())],
        }


def score_directions(generator: Generator, directions: Tensor, factors: Sequence[str] = ("x", "y", "area"),
                     steps: Tensor | None = None, n: int = 200, seed: int = 0,
                     batch_size: int = 500, progress: bool = False) -> DirectionScores:
    """Which of ``factors`` each unit direction (k, latent_dim) controls, how faithfully, and what else it moves.

    ``steps``: the t of G(z + t u), default linspace(−2, 2, 9) (u is normalised
    first, so t is a distance in the latent). See the module docstring.
    """
    factors = tuple(check_attributes(factors))
    steps = torch.linspace(-2, 2, 9) if steps is None else torch.as_tensor(steps, dtype=torch.float32).flatten()
    d = generator.latent_dim
    if directions.dim() != 2 or directions.shape[1] != d or len(directions) == 0:
        raise SteerError(f"directions must be (k, {d}) for this generator's {d}-d latent, "
                         f"got {tuple(directions.shape)}.")
    if len(steps) < 2 or n < 1 or batch_size < 1:
        raise SteerError(f"scoring needs at least 2 steps, n ≥ 1 and batch_size ≥ 1; got {len(steps)} steps, "
                         f"n={n}, batch_size={batch_size}.")
    units = torch.nn.functional.normalize(directions.detach().float().cpu(), dim=1)
    draw = rng(seed, "direction_scores", "latents")
    z, y = generator.sample_latent(n, draw), generator.sample_class(n, draw)
    base = measure_latents(generator, z, factors, y, batch_size)  # the generator's own samples G(z_i)
    factor_std = (base - base.nanmean(0)).square().nanmean(0).sqrt()
    classes = None if y is None else y.repeat_interleave(len(steps))
    rows = []
    for u in tqdm(units, desc="scoring directions", unit="direction", disable=not progress):
        moved = (z[:, None] + steps[None, :, None] * u).reshape(-1, d)  # z_i + t_s u, latent-major
        rows.append(measure_latents(generator, moved, factors, classes, batch_size).reshape(n, len(steps), -1))
    values = torch.stack(rows)  # (k, n, S, F)
    fits = [within_fit(steps, v) for v in values]
    return DirectionScores(
        factors=factors, steps=steps, n=n,
        r2=torch.stack([f[1] for f in fits]), slope=torch.stack([f[0] for f in fits]), factor_std=factor_std,
        vanished=(~values.isfinite().all(-1)).sum((1, 2)), dropped=torch.stack([(~f[2]).sum() for f in fits]))


def score_table(named: dict[str, DirectionScores]) -> tuple[list[str], list[list]]:
    """(header, rows) of several direction sets' scores (e.g. one per method), one row per direction, numeric."""
    factors = next(iter(named.values())).factors
    header = ["method", "u", "controls", *[f"R² {f}" for f in factors], "leakage", "cross-talk", "vanished"]
    rows = [[name, i, d["controlled"] or "none", *[d["r2"][f] for f in factors], d["leakage"], d["crosstalk"],
             d["vanished_images"]]
            for name, scores in named.items() for i, d in enumerate(scores.to_json()["directions"])]
    return header, rows


def score_rows(named: dict[str, DirectionScores]) -> tuple[list[str], list[list[str]]]:
    """``score_table`` as text for printing: scores to 3 decimals."""
    header, rows = score_table(named)
    return header, [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]


@dataclass
class ControlScores:
    """How precisely g_θ sets a factor: the measured factor at each requested value."""

    factor: str
    requested: Tensor  # (V,)
    mean: Tensor  # (V,) mean measured value
    std: Tensor  # (V,) std of the measured value over the latents
    mean_abs_error: Tensor  # (V,) mean |measured − requested|
    vanished: Tensor  # (V,) latents whose image has no object
    n: int
    offset: float  # g_θ's offset after fit_offset

    @property
    def gain(self) -> float:
        """Least-squares slope of the mean measured value on the requested one: 1 follows, 0 does not move.

        A generator that cannot move the factor gets a small std trivially; the gain tells it apart.
        """
        ok = self.mean.isfinite()
        r, m = self.requested[ok] - self.requested[ok].mean(), self.mean[ok] - self.mean[ok].mean()
        return ((r * m).sum() / (r * r).sum()).item() if ok.sum() > 1 else float("nan")  # Σ r̃ m̃ / Σ r̃²

    def to_json(self) -> dict:
        return {"factor": self.factor, "n": self.n, "offset": self.offset, "requested": self.requested.tolist(),
                "mean": self.mean.tolist(), "std": self.std.tolist(), "mean_abs_error": self.mean_abs_error.tolist(),
                "vanished": self.vanished.tolist(), "mean_std": self.std.nanmean().item(),
                "overall_mean_abs_error": self.mean_abs_error.nanmean().item(), "gain": self.gain}


def score_control(regressor: FactorRegressor, generator: Generator, factor: str, requested: Sequence[float] | Tensor,
                  n: int = 100, seed: int = 0, batch_size: int = 500) -> ControlScores:
    """Move n seeded latents to each requested value of ``factor`` with g_θ and measure what comes out.

    ``regressor``: a fitted ``steer.modules.FactorRegressor`` for ``generator``.
    Its offset is first fitted (``fit_offset``) on 4n other latents, against the
    measured factor of their images, so the requested values are absolute.
    """
    (factor,) = check_attributes([factor])
    requested = torch.as_tensor(requested, dtype=torch.float32).flatten()
    if n < 2 or len(requested) == 0:
        raise SteerError(f"control scoring needs n ≥ 2 latents and at least one requested value; got n={n}, "
                         f"{len(requested)} values.")
    draw = rng(seed, "control", "offset")
    anchor, anchor_y = generator.sample_latent(4 * n, draw), generator.sample_class(4 * n, draw)
    measured = measure_latents(generator, anchor, [factor], anchor_y, batch_size)[:, 0]
    seen = measured.isfinite()
    if seen.sum() < 2:
        raise SteerError(f"the generator's images show no object to measure {factor} on; "
                         "control scoring needs sprite-like images.")
    offset = regressor.fit_offset(anchor[seen].to(regressor.v), measured[seen].to(regressor.v))
    draw = rng(seed, "control", "latents")
    z, y = generator.sample_latent(n, draw), generator.sample_class(n, draw)
    out = {k: [] for k in ("mean", "std", "mean_abs_error", "vanished")}
    for value in requested:
        moved = regressor.latent_for(z.to(regressor.v), value).float().cpu()
        got = measure_latents(generator, moved, [factor], y, batch_size)[:, 0]
        ok = got[got.isfinite()]
        out["mean"].append(ok.mean())
        out["std"].append(ok.std() if len(ok) > 1 else torch.tensor(torch.nan))
        out["mean_abs_error"].append((ok - value).abs().mean())
        out["vanished"].append((~got.isfinite()).sum())
    return ControlScores(factor, requested, n=n, offset=offset, **{k: torch.stack(v) for k, v in out.items()})
