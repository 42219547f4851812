"""The factors of a sprite and their distributions (``Fixed``, ``Uniform``, ``Normal``, ``SpriteFactors``).

A sprite is one flat-coloured shape (square, ellipse, heart) on a black
background. Its factors: ``x``, ``y`` (centroid, pixels), ``scale`` (width of
the unrotated shape as a fraction of the image side), ``rotation`` (degrees,
counter-clockwise as seen, like ``steer.edits.Rotate2D``), ``red``, ``green``,
``blue`` (colour in [0, 1]) and ``shape`` (index into ``SHAPES``).

Coordinates: pixel (row i, column j) covers [j, j+1) × [i, i+1), so the image
centre is (size/2, size/2) and y grows downwards. Every factor is drawn from
a configurable distribution, so biased data sets (e.g. x ~ Normal(32, 2)) are
one config line away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from steer.errors import SteerError

SHAPES = ("square", "ellipse", "heart")
FACTORS = ("shape", "x", "y", "scale", "rotation", "red", "green", "blue")


class Distribution:
    """A distribution of one real factor: ``sample(n, generator)`` → (n,) float32."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    @property
    def support(self) -> tuple[float, float]:
        """The smallest interval that holds every draw (bounds may be ±inf)."""
        raise NotImplementedError


@dataclass
class Fixed(Distribution):
    """Always ``value``."""

    value: float

    def __post_init__(self) -> None:
        _check_finite(self, value=self.value)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.full((n,), float(self.value))

    @property
    def support(self) -> tuple[float, float]:
        return (self.value, self.value)


@dataclass
class Uniform(Distribution):
    """U(low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_finite(self, low=self.low, high=self.high)
        _check_order(self, self.low, self.high)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.low + (self.high - self.low) * torch.rand(n, generator=generator)

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass
class Normal(Distribution):
    """N(mean, std²), truncated to [low, high] where either bound is given (None: unbounded).

    Truncation by the inverse CDF: x = mean + std Φ⁻¹(U(Φ(a), Φ(b))),
    a = (low − mean)/std, b = (high − mean)/std, so no draw is wasted or clipped
    onto a bound (except far in the tails, where float64 runs out of precision).
    """

    mean: float
    std: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        _check_finite(self, mean=self.mean, std=self.std)
        if self.std < 0:
            raise SteerError(f"Normal std must be ≥ 0, got {self.std}; use Fixed for a constant factor.")
        _check_order(self, *self.support)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        low, high = self.support
        if self.std == 0:
            return torch.full((n,), min(max(float(self.mean), low), high))
        cdf_low, cdf_high = (0.5 * (1 + math.erf((b - self.mean) / (self.std * math.sqrt(2)))) for b in (low, high))
        u = torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(torch.finfo(torch.float64).tiny)
        x = self.mean + self.std * torch.special.ndtri(cdf_low + u * (cdf_high - cdf_low))
        return x.clamp(low, high).float()

    @property
    def support(self) -> tuple[float, float]:
        return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)


def _check_finite(dist: Distribution, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise SteerError(f"{type(dist).__name__} {name} must be a finite number, got {value}.")


def _check_order(dist: Distribution, low: float, high: float) -> None:
    if low > high:
        raise SteerError(f"{type(dist).__name__} needs low ≤ high, got low={low}, high={high}; swap them.")




class SpriteFactors:
    """Independent draws of every factor; ``shapes`` maps shape names to probabilities.

    Defaults (None): every shape equally likely, x, y ~ U(0.3, 0.7)·size, scale ~
    U(0.2, 0.4), rotation ~ U(0, 360), each colour channel ~ U(0.5, 1), which keeps
    every sprite inside the image and bright against the background.
    """

    def __init__(
        self,
        size: int = 64,
        shapes: dict[str, float] | None = None,
        x: Distribution | None = None,
        y: Distribution | None = None,
        scale: Distribution | None = None,
        rotation: Distribution | None = None,
        red: Distribution | None = None,
        green: Distribution | None = None,
        blue: Distribution | None = None,
    ) -> None:
        if size <= 0:
            raise SteerError(f"sprite size must be a positive number of pixels, got {size}.")
        self.size = size
        self.shape_probs = _shape_probs(shapes)
        given = {"x": x, "y": y, "scale": scale, "rotation": rotation, "red": red, "green": green, "blue": blue}
        defaults = {"x": Uniform(0.3 * size, 0.7 * size), "y": Uniform(0.3 * size, 0.7 * size),
                    "scale": Uniform(0.2, 0.4), "rotation": Uniform(0.0, 360.0),
                    "red": Uniform(0.5, 1.0), "green": Uniform(0.5, 1.0), "blue": Uniform(0.5, 1.0)}
        self.dists = {name: defaults[name] if dist is None else dist for name, dist in given.items()}
        for name, dist in self.dists.items():
            if not isinstance(dist, Distribution):
                raise SteerError(f"sprite factor {name} needs a Fixed, Uniform or Normal distribution, got {dist!r}.")
        low, _ = self.dists["scale"].support
        if low <= 0:
            raise SteerError(f"sprite scale must stay > 0, but {self.dists['scale']} can draw {low}; "
                             "set a low bound > 0.")
        for c in ("red", "green", "blue"):
            low, high = self.dists[c].support
            if low < 0 or high > 1:
                raise SteerError(f"sprite {c} must stay in [0, 1], but {self.dists[c]} spans [{low}, {high}]; "
                                 "set low/high bounds inside [0, 1].")

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``n`` draws of every factor in ``FACTORS`` order, all from ``generator``."""
        out = {"shape": torch.multinomial(self.shape_probs, n, replacement=True, generator=generator)}
        out.update({name: dist.sample(n, generator) for name, dist in self.dists.items()})
        return out

    def __repr__(self) -> str:
        shapes = {s: round(p, 4) for s, p in zip(SHAPES, self.shape_probs.tolist()) if p}
        dists = ", ".join(f"{k}={v}" for k, v in self.dists.items())
        return f"SpriteFactors(size={self.size}, shapes={shapes}, {dists})"


def _shape_probs(shapes: dict[str, float] | None) -> Tensor:
    if shapes is None:
        return torch.ones(len(SHAPES)) / len(SHAPES)
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        raise SteerError(f"unknown sprite shape(s) {unknown}; choose from {list(SHAPES)}.")
    probs = torch.tensor([float(shapes.get(s, 0.0)) for s in SHAPES])
    if not torch.isfinite(probs).all() or (probs < 0).any() or probs.sum() <= 0:
        raise SteerError(f"sprite shape probabilities must be ≥ 0 with a positive sum, got {shapes}.")
    return probs / probs.sum()


