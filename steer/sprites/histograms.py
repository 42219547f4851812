"""Attribute distributions of sprite-like images and their histogram intersection (docs/methods.md §1).

    HI(p, q) = Σ_i min(p_i, q_i)   over 50 bins on [0, 1]

Each attribute of ``steer.sprites.attributes.measure`` is first mapped to
[0, 1] (square images of side S): x / S, y / S, area / S², orientation
(−90°…90°) / 180 + ½, and the colour channels as they are. An image with no
foreground has no attributes: it counts in the total but in no bin, so a
generator that draws blanks loses intersection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import Tensor
from torchmetrics import Metric

from steer.errors import SteerError
from steer.sprites.attributes import measure

Attribute = Literal["x", "y", "area", "orientation", "red", "green", "blue"]  # what is measured on a sprite image
ATTRIBUTES: tuple[str, ...] = get_args(Attribute)
BINS = 50


def check_attributes(names: Sequence[str]) -> list[str]:
    """``names`` as a list, or a clear error naming the unknown ones."""
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown or not names:
        raise SteerError(f"unknown or no attribute(s) {unknown or list(names)}; choose from {list(ATTRIBUTES)}.")
    return list(names)


def attribute_values(images: Tensor, names: Sequence[str]) -> Tensor:
    """(N, len(names)) raw attributes of images in [-1, 1]: pixels, pixels², degrees, colour in [0, 1].

    NaN for images with no foreground.
    """
    m = measure(images)
    colour = m["colour"]
    raw = {"x": m["x"], "y": m["y"], "area": m["area"], "orientation": m["orientation"],
           "red": colour[:, 0], "green": colour[:, 1 % colour.shape[1]], "blue": colour[:, 2 % colour.shape[1]]}
    return torch.stack([raw[n] for n in names], 1).masked_fill(m["area"][:, None] <= 0, torch.nan)


def to_unit(values: Tensor, names: Sequence[str], size: int) -> Tensor:
    """Raw attributes (…, len(names)) of size × size images mapped to [0, 1] for histograms."""
    scale = {"x": (size, 0.0), "y": (size, 0.0), "area": (size * size, 0.0), "orientation": (180, 0.5)}
    return torch.stack([values[..., k] / scale[n][0] + scale[n][1] if n in scale else values[..., k]
                        for k, n in enumerate(names)], -1)


def histograms(values: Tensor, bins: int = BINS) -> Tensor:
    """(A, bins) counts of each column of ``values`` (N, A) over [0, 1]; NaN rows count nowhere."""
    index = (values.clamp(0, 1) * bins).long().clamp(max=bins - 1)
    valid = ~values.isnan()
    counts = torch.zeros(values.shape[1], bins, device=values.device)
    return counts.scatter_add_(1, index.T.masked_fill(~valid.T, 0), valid.T.float())


def intersection(p: Tensor, q: Tensor, n_p: float, n_q: float) -> Tensor:
    """Σ_i min(p_i / n_p, q_i / n_q) per row of counts p, q (A, bins) over n_p, n_q samples."""
    return torch.minimum(p / max(n_p, 1), q / max(n_q, 1)).sum(dim=-1)


class AttributeHistograms(Metric):
    """Histogram intersection of each attribute between real and generated images, synced across ranks."""

    full_state_update = False

    def __init__(self, names: Sequence[str] = ("x", "y", "area", "red", "green", "blue"), bins: int = BINS) -> None:
        super().__init__()
        self.names = check_attributes(names)
        for side in ("real", "fake"):
            self.add_state(f"{side}_counts", torch.zeros(len(self.names), bins), dist_reduce_fx="sum")
            self.add_state(f"{side}_n", torch.zeros(()), dist_reduce_fx="sum")

    def update(self, real: Tensor, fake: Tensor) -> None:
        self.real_counts += histograms(to_unit(attribute_values(real, self.names), self.names, real.shape[-1]))
        self.fake_counts += histograms(to_unit(attribute_values(fake, self.names), self.names, fake.shape[-1]))
        self.real_n += len(real)
        self.fake_n += len(fake)

    def compute(self) -> dict[str, Tensor]:
        hi = intersection(self.real_counts, self.fake_counts, float(self.real_n), float(self.fake_n))
        return dict(zip(self.names, hi))
