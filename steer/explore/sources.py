"""What the explorer's sliders steer: a walk checkpoint or a direction file, checked against the explored generator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from steer.edits import Edit
from steer.errors import SteerError
from steer.formats.directions import describe_generator, is_direction_file, load_directions
from steer.formats.provenance import weights_sha256
from steer.generators.base import Generator
from steer.notebook import Steerable, direction_sigmas, load
from steer.restore import load_generator
from steer.walks import DirectionWalk

#: The most sliders one source shows (a direction file's first directions beyond that are left out).
MAX_SLIDERS = 16
#: A direction's slider range, in standard deviations of the latents along it (steer.load's grid is ±3σ).
SIGMA_RANGE = 3.0
#: Slider steps per range.
STEPS = 100


@dataclass(frozen=True)
class Slider:
    """One slider in the edit's own units; ``log2``: the slider holds log₂ α (a multiplicative edit, e.g. zoom)."""

    name: str
    low: float
    high: float
    identity: float
    log2: bool = False

    @property
    def step(self) -> float:
        return (self.high - self.low) / STEPS

    def alpha(self, value: float) -> float:
        """The α a slider position stands for."""
        return 2.0 ** value if self.log2 else value

    def value(self, alpha: float) -> float:
        """The slider position of ``alpha``."""
        return math.log2(alpha) if self.log2 else alpha


@dataclass
class Source:
    """A walk (with its edit) or a direction file's directions, steering the explored generator.

    ``steerable`` walks the explored generator; ``sigmas`` (direction files
    only): latent distance of 1σ along each direction, so that α is in σ.
    """

    path: str
    steerable: Steerable
    sliders: list[Slider]
    sigmas: Tensor | None = None

    @property
    def edit(self) -> Edit | None:
        return self.steerable.edit

    def walk_alphas(self, alphas: Tensor) -> Tensor:
        """α (A, sliders) in the slider units → the α ``steerable.images`` takes."""
        return alphas if self.sigmas is None else alphas * self.sigmas


def open_source(path: str, generator: Generator) -> Source:
    """The walk checkpoint or direction file at ``path``, refused with the reason if it does not fit ``generator``."""
    if is_direction_file(path, "walk checkpoint or direction file"):  # steer's or another tool's (GANSpace, InterFaceGAN, rosinality SeFa)
        return _directions(path, generator)
    return _walk(path, generator)


def _walk(path: str, generator: Generator) -> Source:
    model = load(path)
    if model.walk is None:
        raise SteerError(f"{path} holds a generator but no walk; explore that generator with --checkpoint {path}, or "
                         "add directions found on it (steer discover sefa --checkpoint …).")
    trained = model.generator
    if trained.latent_dim != generator.latent_dim or trained.num_classes != generator.num_classes:
        raise SteerError(
            f"the walk in {path} steers {trained.latent_dim}-d latents ({_classes(trained)}), but the explored "
            f"{type(generator).__name__} has {generator.latent_dim}-d latents ({_classes(generator)}); a walk only "
            f"steers the generator it was trained on: explore it with --checkpoint {path}.")
    if weights_sha256(trained) != weights_sha256(generator):
        raise SteerError(
            f"the walk in {path} was trained on another generator ({type(trained).__name__}, weights sha256 "
            f"{weights_sha256(trained)[:12]}…) than the explored {type(generator).__name__} (weights sha256 "
            f"{weights_sha256(generator)[:12]}…); a walk only steers the generator it was trained on: explore it with "
            f"--checkpoint {path}.")
    edit = model.edit
    grid, log2 = edit.test_alphas(), edit.multiplicative
    span = grid.log2() if log2 else grid
    identity = edit.identity.log2() if log2 else edit.identity
    sliders = [Slider(name, float(span[:, k].min()), float(span[:, k].max()), float(identity[k]), log2)
               for k, name in enumerate(edit.slider_names)]
    return Source(path, Steerable(generator, model.walk, edit, grid, path), sliders)


def _directions(path: str, generator: Generator) -> Source:
    found = load_directions(path, generator.latent_dim)
    _check_found_on(path, found.generator, generator)
    count = min(len(found), MAX_SLIDERS)
    walk = DirectionWalk(generator.latent_dim, count, generator.num_classes, path=path, index=list(range(count)))
    sliders = [Slider(f"{Path(path).stem} #{k} ({found.score_name} {float(found.scores[k]):.3g})", -SIGMA_RANGE,
                      SIGMA_RANGE, 0.0) for k in range(count)]
    return Source(path, Steerable(generator, walk.eval(), None, None, path), sliders,
                  direction_sigmas(generator, walk.directions))


def _check_found_on(path: str, spec: dict, generator: Generator) -> None:
    """Directions fit another generator of the same latent size only if it has the same weights; a recorded
    generator that can no longer be built (a moved checkpoint), or none recorded (another tool's file), is not
    checked."""
    if not spec:
        return
    try:
        found_on = load_generator(spec.get("checkpoint"), None if "checkpoint" in spec else spec)
    except SteerError:
        return
    if weights_sha256(found_on) != weights_sha256(generator):
        raise SteerError(
            f"{path} holds directions found on {describe_generator(spec)}, whose weights differ from the explored "
            f"{type(generator).__name__}'s; explore that generator (--checkpoint or --generator), or use directions "
            "found on this one (steer discover sefa …).")


def _classes(generator: Generator) -> str:
    return "unconditional" if generator.num_classes is None else f"{generator.num_classes} classes"
