"""The notebook API: ``steer.load(path)`` → a :class:`Steerable` whose walk gives images as tensors, strips and GIFs.

    import steer
    model = steer.load("checkpoints/sprites/joint_shift_x.ckpt")
    images = model.images(n=4)           # (4, A, C, H, W) in [-1, 1], A = the edit's test α grid
    model.save_strip("walk.png", n=4)    # one row per latent, one column per α
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from steer import checkpoint, media
from steer.config import trusting
from steer.edits import Edit
from steer.errors import SteerError
from steer.formats.directions import is_direction_file, load_directions
from steer.formats.record import RECORD_KEY
from steer.generators.base import Generator
from steer.objective import moved_image
from steer.restore import generator_of, load_module, recorded_generator
from steer.seeding import rng
from steer.walks import DirectionWalk, Walk

#: α grid of a direction file, in standard deviations of the latents along the direction.
SIGMAS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Latents drawn to measure that standard deviation.
SIGMA_SAMPLES = 1024
#: The random stream of the latents drawn for a seed: ``images(n=N, seed=s)`` draws the first N of it.
LATENT_STREAM = "notebook"

Alphas = Tensor | Sequence[float] | Sequence[Sequence[float]]


@dataclass
class Steerable:
    """A generator with the walk (and edit) that steers it, as loaded by :func:`load`.

    ``walk`` and ``edit`` are None where the file has none (a GAN or β-VAE
    run has a generator only; a direction file has no edit: its α is in
    standard deviations of the latents along the direction). ``alphas`` is
    the default α grid (A, sliders); ``source`` the file it came from.
    """

    generator: Generator
    walk: Walk | None = None
    edit: Edit | None = None
    alphas: Tensor | None = None
    source: str = ""

    @torch.no_grad()
    def images(self, z: Tensor | None = None, n: int | None = None,
               classes: int | Sequence[int] | Tensor | None = None, alphas: Alphas | None = None,
               seed: int = 0) -> Tensor:
        """G(walk(z, α)) for each latent and α: a CPU tensor (N, A, C, H, W) in [-1, 1].

        ``z``: latents (N, latent_dim); default ``n`` latents (4 unless given)
        drawn with ``seed``. ``classes``: one class for all latents or one per
        latent (conditional generators; default drawn with ``seed``).
        ``alphas``: (A,) for one slider or (A, sliders), in the edit's units
        (a direction file: in σ); default the edit's test grid (``self.alphas``).
        """
        if self.walk is None:
            raise SteerError(f"{self.source} holds a generator but no walk to steer it; walk it with a direction "
                             "file found on it (e.g. steer discover sefa --checkpoint …), or sample .generator.")
        grid = self._alpha_grid(alphas)
        z, y = self._latents(z, n, classes, seed)
        walk_alphas = self.edit.walk_alpha(grid) if self.edit is not None else grid
        rows = [moved_image(self.generator, self.walk, z, a.expand(len(z), -1), y) for a in walk_alphas.to(z)]
        return torch.stack(rows, dim=1).float().cpu()

    def save_strip(self, path: str | Path, images: Tensor | None = None, **options) -> Path:
        """A PNG with one row per latent and one column per α, of ``images`` (N, A, C, H, W) or of
        ``self.images(**options)``."""
        images = self.images(**options) if images is None else images
        return media.save_png(media.grid(list(images)), Path(path))

    def save_gif(self, path: str | Path, images: Tensor | None = None, ms_per_frame: int = 120,
                 **options) -> Path:
        """An animated GIF along α (forward and back), all latents side by side in each frame, of ``images``
        (N, A, C, H, W) or of ``self.images(**options)``."""
        images = self.images(**options) if images is None else images
        return media.save_gif([media.grid([images[:, a]]) for a in range(images.shape[1])], Path(path), ms_per_frame)

    def _alpha_grid(self, alphas: Alphas | None) -> Tensor:
        grid = self.alphas if alphas is None else torch.as_tensor(alphas, dtype=torch.float32)
        grid = grid[:, None] if grid.dim() == 1 else grid
        sliders = self.walk.sliders
        if grid.dim() != 2 or grid.shape[1] != sliders or len(grid) == 0 or not grid.isfinite().all():
            raise SteerError(f"alphas must be finite numbers, shape (A,) or (A, {sliders}) for this walk's {sliders} "
                             f"slider(s); got shape {tuple(grid.shape)}.")
        return grid

    def _latents(self, z: Tensor | None, n: int | None, classes: int | Sequence[int] | Tensor | None,
                 seed: int) -> tuple[Tensor, Tensor | None]:
        device = next(self.generator.parameters(), torch.empty(0)).device
        g = rng(LATENT_STREAM, seed)
        if z is None:
            z, y = self.generator.sample(4 if n is None else n, g)
        elif z.dim() != 2 or z.shape[1] != self.generator.latent_dim:
            raise SteerError(f"z must be latents of shape (N, {self.generator.latent_dim}), got {tuple(z.shape)}.")
        else:
            y = self.generator.sample_class(len(z), g)
        if classes is not None:
            if self.generator.num_classes is None:
                raise SteerError(f"{type(self.generator).__name__} is unconditional; leave out classes.")
            y = torch.as_tensor(classes, dtype=torch.long).expand(len(z)).clone()
            if not ((y >= 0) & (y < self.generator.num_classes)).all():
                raise SteerError(f"classes must lie in 0 … {self.generator.num_classes - 1}, got {y.tolist()}.")
        return z.to(device), None if y is None else y.to(device)


def load(path: str | Path, direction: int = 0, trust: Sequence[str] = (), generator: dict | None = None) -> Steerable:
    """The generator, walk and edit in ``path``: a steer checkpoint (walk run, joint run; a GAN or β-VAE run
    gives the generator alone) or a direction file, whose ``direction``-th direction becomes the walk.

    Nothing in the file decides what code runs: checkpoints load with
    ``weights_only=True`` and are rebuilt from steer's record of their config,
    which may name only classes of steer and the libraries it trusts by default;
    ``trust`` lists your own modules a file may name too (e.g. the package of
    your CustomGenerator's model), as does the environment variable STEER_TRUST.

    A walk checkpoint references its pretrained generator's weights file (its
    path and sha256); ``generator`` (class_path + init_args, the class it was
    trained on) gives the generator anew, e.g. with the new place of a moved
    weights file, whose bytes must be the same.
    """
    with trusting(trust):
        return _load(path, direction, generator)


def _load(path: str | Path, direction: int, generator: dict | None) -> Steerable:
    if is_direction_file(path, "steer file"):  # steer's or another tool's (GANSpace, InterFaceGAN, rosinality SeFa)
        return _from_directions(str(path), direction)
    found = checkpoint.load(path, "steer file")
    if not isinstance(found, dict) or RECORD_KEY not in found:
        raise SteerError(f"{path} is neither a steer checkpoint nor a direction file; give a .ckpt written by "
                         "`steer fit` or a directions.pt written by `steer discover sefa|pca`.")
    module, _ = load_module(Path(path), generator)
    edit, walk = getattr(module, "edit", None), getattr(module, "walk", None)
    return Steerable(generator_of(module, str(path)), walk, edit,
                     edit.test_alphas() if edit is not None and walk is not None else None, str(path))


def _from_directions(path: str, direction: int) -> Steerable:
    """A direction file's ``direction``-th direction as a one-slider walk, α in σ of the latents along it."""
    generator = recorded_generator(load_directions(path).generator, path)
    walk = DirectionWalk(generator.latent_dim, 1, generator.num_classes, path=path, index=direction).eval()
    walk.scale = float(direction_sigmas(generator, walk.directions)[0])
    return Steerable(generator, walk, None, torch.tensor(SIGMAS)[:, None], path)


def direction_sigmas(generator: Generator, directions: Tensor) -> Tensor:
    """The standard deviation (k,) of the generator's latents along each unit direction (k, latent_dim): what
    one unit of α (1σ) moves along a direction file's direction."""
    z, _ = generator.sample(SIGMA_SAMPLES, rng("notebook-sigma"))
    return (z.float() @ directions.T.to(z.dtype)).std(0)
