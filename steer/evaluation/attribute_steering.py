"""Steerability measured on image attributes of sprites (docs/methods.md §1, "Steerability on image attributes").

For each α of the edit's test grid, the attributes of G(walk(z, α)) over n
latents are compared with those of the data edited by the same α, edit(x, α)
over n real sprites:

* per attribute, the model's and the data's mean and std, and the histogram
  intersection HI = Σ_i min(p_i, q_i) of the two distributions (50 bins on [0, 1]);
* achieved α: the α that moves the edit's own attribute (``Edit.attributes``:
  x for a shift, area for a zoom, colour for a colour edit) from its mean at
  the identity to its mean at α, e.g. achieved shift = mean x(α) − mean x(0);
* the limit: the largest requested α up to which the achieved α stays within
  (1 − fraction) of it (as for the registration-based limit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.data.latents import evaluation_latents
from steer.edits import Edit
from steer.errors import SteerError
from steer.evaluation.steerability import follow_limits
from steer.generators.base import Generator
from steer.objective import repeat_alpha, walked_image
from steer.seeding import rng
from steer.sprites.factors import SpriteFactors
from steer.sprites.histograms import attribute_values, check_attributes, histograms, intersection, to_unit
from steer.sprites.rendering import render_factors
from steer.walks import Walk

MEASURED = ("x", "y", "area", "red", "green", "blue")  # the attributes measured by default


@dataclass
class AttributeSteering:
    """What ``measure_attributes`` finds; raw units (pixels, pixels², degrees, colour in [0, 1])."""

    edit: Edit
    alphas: Tensor  # (A, sliders)
    names: list[str]
    model_mean: Tensor  # (A, K) over G(walk(z, α))
    model_std: Tensor
    data_mean: Tensor  # (A, K) over edit(x, α), x real
    data_std: Tensor
    intersection: Tensor  # (A, K)
    achieved: Tensor | None  # (A, sliders), None if the edit moves no measured attribute
    fraction: float
    n: int

    def limits(self) -> dict | None:
        return None if self.achieved is None else follow_limits(self.edit, self.alphas, self.achieved, self.fraction)

    def to_json(self) -> dict:
        flat = (lambda t: t[:, 0].tolist()) if self.edit.sliders == 1 else (lambda t: t.tolist())
        per = {name: {"model_mean": self.model_mean[:, k].tolist(), "model_std": self.model_std[:, k].tolist(),
                      "data_mean": self.data_mean[:, k].tolist(), "data_std": self.data_std[:, k].tolist(),
                      "hist_intersection": self.intersection[:, k].tolist()} for k, name in enumerate(self.names)}
        return {"edit": repr(self.edit), "alphas": flat(self.alphas), "attributes": per,
                "achieved_alpha": None if self.achieved is None else flat(self.achieved),
                "limit": self.limits(), "limit_fraction": self.fraction, "n": self.n}


class WalkedAttributes:
    """The measured attributes of G(walk(z, α)) per α row, gathered batch by batch.

    Called as ``walked(a, images)`` with the walked images of one batch at α row
    ``a``: :func:`steer.evaluation.steerability.measure` calls it (its
    ``observe``) on the images it computes anyway, so measuring steerability and
    attributes together runs every G(walk(z, α)) once.
    """

    def __init__(self, names: Sequence[str] = MEASURED) -> None:
        self.names = check_attributes(names)
        self.values: dict[int, list[Tensor]] = defaultdict(list)

    def __call__(self, index: int, images: Tensor) -> None:
        self.values[index].append(attribute_values(images, self.names).cpu())

    def stacked(self) -> Tensor:
        """(A, n, len(names)) over the α rows and latents seen."""
        return torch.stack([torch.cat(self.values[a]) for a in range(len(self.values))])


@torch.no_grad()
def measure_attributes(
    generator: Generator,
    edit: Edit,
    walk: Walk,
    factors: SpriteFactors,
    names: Sequence[str] = MEASURED,
    n: int = 500,
    batch_size: int = 100,
    seed: int = 0,
    fraction: float = 0.8,
    alphas: Tensor | None = None,
    progress: bool = True,
) -> AttributeSteering:
    """Attribute distributions of the walked model and of the edited data at every α of the grid."""
    walked = WalkedAttributes(names)
    check_data(generator, factors)
    alphas = edit.check_alpha(edit.test_alphas() if alphas is None else alphas)
    device = next(generator.parameters(), torch.empty(0)).device
    for z, y in tqdm(evaluation_latents(generator.sample, n, batch_size, seed), desc="measuring attributes",
                     unit="batch", total=-(-n // batch_size), disable=not progress):
        z, y = z.to(device), (y.to(device) if y is not None else None)
        for a, alpha in enumerate(alphas):
            walked(a, walked_image(generator, edit, walk, z, repeat_alpha(alpha, len(z), z), y))
    return attribute_steering(walked, edit, factors, alphas, n, batch_size, seed, fraction, device)


@torch.no_grad()
def attribute_steering(walked: WalkedAttributes, edit: Edit, factors: SpriteFactors, alphas: Tensor, n: int,
                       batch_size: int, seed: int = 0, fraction: float = 0.8,
                       device: torch.device | None = None) -> AttributeSteering:
    """Compare the walked model's attributes (over ``n`` latents at the α rows ``alphas``) with those of ``n``
    real sprites edited by the same α, drawn in batches of ``batch_size`` from ``rng(seed, "evaluate-data")``."""
    names, g_data = walked.names, rng(seed, "evaluate-data")
    data: list[list[Tensor]] = [[] for _ in alphas]
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        real = render_factors(factors.sample(b, g_data), factors.size).to(device)
        for a, alpha in enumerate(alphas):
            data[a].append(attribute_values(edit(real, repeat_alpha(alpha, b, real))[0], names).cpu())
    model_values, data_values = walked.stacked(), torch.stack([torch.cat(d) for d in data])
    hi = torch.stack([intersection(histograms(to_unit(m, names, factors.size)),
                                   histograms(to_unit(d, names, factors.size)), n, n)
                      for m, d in zip(model_values, data_values)])
    model_mean, data_mean = model_values.nanmean(1), data_values.nanmean(1)
    achieved = None
    if edit.attributes and set(edit.attributes) <= set(names):
        columns = [names.index(a) for a in edit.attributes]
        identity = (edit.walk_alpha(alphas) == 0).all(1)
        if identity.any():
            reference = model_mean[identity][:1, columns].expand(len(alphas), -1)
            achieved = edit.alpha_from_attributes(model_mean[:, columns], reference)
    return AttributeSteering(edit, alphas, names, model_mean, nanstd(model_values), data_mean, nanstd(data_values),
                             hi, achieved, fraction, n)


def check_data(generator: Generator, factors: SpriteFactors) -> None:
    """Refuse sprites data of another size than the generator's images (before any slow work)."""
    if factors.size != generator.resolution:
        raise SteerError(f"the sprites data is {factors.size} px but the generator makes {generator.resolution} px "
                         "images; give the data the generator was trained on.")


def nanstd(values: Tensor) -> Tensor:
    """Std over dim 1 ignoring NaN (images with no foreground, or no face found)."""
    mean = values.nanmean(1, keepdim=True)
    return ((values - mean) ** 2).nanmean(1).sqrt()
