"""The explorer without its page: a generator, the sources that steer it, and the images of one page state.

Only what changed is generated: G(z) (the edit target's input) is cached per
latent, the strip per latent and per position of the sliders other than the
one that moves, so moving a slider costs one generator pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.explore.sources import Source, open_source
from steer.generators.base import Generator
from steer.losses import MaskedL2
from steer.notebook import LATENT_STREAM
from steer.seeding import rng

#: Images in the strip across α.
STRIP = 9


@dataclass(frozen=True)
class State:
    """What the page shows: the latent (by seed), class, truncation, the source steering and its slider positions
    (``values``; log₂ α for a multiplicative edit), and which slider moved last (the strip sweeps it)."""

    seed: int = 0
    class_index: int | None = None
    truncation: float | None = None
    source: str | None = None
    values: tuple[float, ...] = ()
    moved: int = 0


@dataclass
class View:
    """The images of one state, each (C, H, W) or (A, C, H, W) in [-1, 1]: the walked image G(walk(z, α)), the
    edit target edit(G(z), α) and its masked L2 to the walked image (walk checkpoints only), and the strip."""

    alpha: Tensor
    walked: Tensor
    strip: Tensor
    target: Tensor | None = None
    loss: float | None = None
    caption: str = ""


@dataclass
class Explorer:
    """A frozen generator and the walk checkpoints and direction files loaded beside it, by path."""

    generator: Generator
    sources: dict[str, Source] = field(default_factory=dict)
    _latent: tuple = (None, None)
    _strip: tuple = (None, None)

    def add(self, path: str) -> Source:
        """Load a walk checkpoint or direction file (one that fits the generator; otherwise a SteerError says why)."""
        if path not in self.sources:
            self.sources[path] = open_source(path, self.generator)
        return self.sources[path]

    def start(self, state: State, alpha: Sequence[float] | None = None) -> State:
        """``state`` with its source (default: the first loaded) and the slider positions of ``alpha`` (one per
        slider, in the edit's units; default: the identity)."""
        state = replace(state, source=state.source or next(iter(self.sources), None))
        if state.source is None:
            if alpha is not None:
                raise SteerError("--alpha needs a walk checkpoint or direction file to steer (--walks, --directions).")
            return state
        sliders = self.add(state.source).sliders
        if alpha is None:
            return replace(state, values=tuple(s.identity for s in sliders))
        if len(alpha) != len(sliders):
            raise SteerError(f"{state.source} has {len(sliders)} slider(s); give one α for each, got {len(alpha)}.")
        if any(s.log2 and a <= 0 for s, a in zip(sliders, alpha)):
            raise SteerError(f"{state.source} scales by α: give factors > 0 (1 = unchanged), got {list(alpha)}.")
        return replace(state, values=tuple(s.value(a) for s, a in zip(sliders, alpha)))

    def alpha(self, state: State) -> Tensor:
        """α (sliders,) of the state, in the edit's units (σ for a direction file)."""
        sliders = self.sources[state.source].sliders
        return torch.tensor([s.alpha(v) for s, v in zip(sliders, state.values)])

    @torch.no_grad()
    def latent(self, state: State) -> tuple[Tensor, Tensor | None, Tensor]:
        """z, y and G(z, y) of the state's seed, class and truncation: cached, the same latent as
        ``steer.load(…).images(n=1, seed=seed, classes=class_index)``."""
        key = (state.seed, state.class_index, state.truncation)
        if self._latent[0] != key:
            self._set_truncation(state.truncation)
            z, y = self.generator.sample(1, rng(LATENT_STREAM, state.seed))
            if state.class_index is not None:
                if self.generator.num_classes is None or not 0 <= state.class_index < self.generator.num_classes:
                    raise SteerError(f"class {state.class_index} is not one of the generator's classes "
                                     f"({self.generator.num_classes or 'unconditional'}).")
                y = torch.tensor([state.class_index])
            self._latent = (key, (z, y, self.generator(z, y)))
        return self._latent[1]

    @torch.no_grad()
    def view(self, state: State) -> View:
        """The images of ``state``; generates only what the previous call did not."""
        z, y, image = self.latent(state)
        if state.source is None:
            return View(torch.zeros(0), image[0], image)
        source = self.sources[state.source]
        alpha = self.alpha(state)
        walked = source.steerable.images(z, classes=y, alphas=source.walk_alphas(alpha[None]))[0, 0]
        view = View(alpha, walked, self.strip(state))
        if source.edit is not None:
            target, mask = source.edit(image, alpha[None])
            view.target, view.loss = target[0], float(MaskedL2()(walked[None], target, mask))
        view.caption = self.caption(source, alpha, view.loss)
        return view

    def strip(self, state: State) -> Tensor:
        """The path across the moved slider's range (the others where they are), (STRIP, C, H, W); cached."""
        source = self.sources[state.source]
        others = tuple(v for k, v in enumerate(state.values) if k != state.moved)
        key = (state.seed, state.class_index, state.truncation, state.source, state.moved, others)
        if self._strip[0] != key:
            z, y, _ = self.latent(state)
            self._strip = (key, source.steerable.images(z, classes=y, alphas=source.walk_alphas(self.path(state)))[0])
        return self._strip[1]

    def path(self, state: State) -> Tensor:
        """The α (STRIP, sliders) of the strip: the moved slider across its range, the others as they are."""
        slider = self.sources[state.source].sliders[state.moved]
        alphas = self.alpha(state).repeat(STRIP, 1)
        alphas[:, state.moved] = torch.tensor([slider.alpha(float(v))
                                               for v in torch.linspace(slider.low, slider.high, STRIP)])
        return alphas

    def caption(self, source: Source, alpha: Tensor, loss: float | None) -> str:
        """α in words (with the edit's units), and the masked L2 to the edit target."""
        if source.edit is None:
            words = ", ".join(f"{s.name}: {a:+.2f}σ" for s, a in zip(source.sliders, alpha.tolist()) if a != 0)
            return f"α = {words or '0'}"
        return f"α = {source.edit.describe(alpha)}; masked L2 to the edit target: {loss:.4g}"

    def _set_truncation(self, truncation: float | None) -> None:
        if truncation is not None:
            if self.generator.truncation is None:
                raise SteerError(f"{type(self.generator).__name__} was built without truncation; leave it out, or "
                                 "give the generator a truncation in its spec.")
            self.generator.truncation = truncation
