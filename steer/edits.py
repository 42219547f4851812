"""Image edits with a strength α (docs/methods.md §1): the targets that walks learn to reproduce.

Every α tensor is (N, sliders) in the edit's own units (zoom factor, pixels,
degrees, colour offset). ``walk_alpha`` maps it to the "graph α" the walk sees,
which is 0 for the identity edit. ``__call__(images, α)`` returns the edited
images and a mask (N, 1, H, W) of the pixels the edit defines. Pure torch,
batched, on the images' device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from steer.errors import SteerError


class Edit:
    """Base class: an image transformation with ``sliders`` strength components."""

    sliders: int = 1
    unit: str = ""
    multiplicative: bool = False  # α scales (1 = identity) rather than adds (0 = identity): log axes in plots
    #: The measured image attribute each slider moves (names of ``steer.sprites.histograms.ATTRIBUTES``,
    #: in raw units: pixels, pixels², colour in [0, 1]); () where no attribute measures the edit.
    attributes: tuple[str, ...] = ()

    def sample_alpha(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` training strengths (n, sliders), drawn from ``generator``."""
        raise NotImplementedError

    def walk_alpha(self, alpha: Tensor) -> Tensor:
        """The α the walk sees (graph α) for target strengths ``alpha``."""
        raise NotImplementedError

    def alpha_from_walk(self, walk_alpha: Tensor) -> Tensor:
        """Inverse of :meth:`walk_alpha`."""
        raise NotImplementedError

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """The edit itself; ``__call__`` checks shapes and calls it."""
        raise NotImplementedError

    def test_alphas(self) -> Tensor:
        """The evaluation grid (A, sliders), identity included."""
        raise NotImplementedError

    def alpha_from_attributes(self, measured: Tensor, reference: Tensor) -> Tensor:
        """The α (N, sliders) that moves ``attributes`` from ``reference`` to ``measured`` (both (N, sliders))."""
        return measured - reference

    @property
    def identity(self) -> Tensor:
        """The α that leaves an image unchanged, shape (sliders,)."""
        return self.alpha_from_walk(torch.zeros(1, self.sliders))[0]

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def slider_names(self) -> list[str]:
        """One name per slider, for plots and limits."""
        return [self.name] if self.sliders == 1 else [f"{self.name}{k}" for k in range(self.sliders)]

    def __call__(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        alpha = self.check_alpha(alpha, len(images))
        return self.apply(images, alpha.to(images.device, images.dtype))

    def check_alpha(self, alpha: Tensor, n: int | None = None) -> Tensor:
        """``alpha`` as (n, sliders); a clear error for any other shape or non-finite values."""
        alpha = torch.as_tensor(alpha, dtype=torch.float32) if not torch.is_tensor(alpha) else alpha
        if alpha.dim() == 1 and self.sliders == 1:
            alpha = alpha[:, None]
        if alpha.dim() != 2 or alpha.shape[1] != self.sliders or (n is not None and len(alpha) != n):
            want = f"({n if n is not None else 'N'}, {self.sliders})"
            raise SteerError(f"{self.name} takes α of shape {want}, got {tuple(alpha.shape)}.")
        if alpha.device.type == "cpu":  # on an accelerator, reading values back would sync every call
            self.check_values(alpha)
        return alpha

    def check_values(self, alpha: Tensor) -> None:
        """A clear error for α values outside the edit's domain (here: NaN or infinite)."""
        if not torch.isfinite(alpha).all():
            raise SteerError(f"{self.name} got a NaN or infinite α.")

    def describe(self, alpha: Tensor) -> str:
        """A short label for one α row, e.g. '×2.00' or '+8px'."""
        return ", ".join(f"{a:+.3g}{self.unit}" for a in alpha.tolist())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.name}({args})"


def _warp(images: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
    """Resample ``images`` at ``theta @ [x, y, 1]`` (normalised coordinates, per image).

    The mask is 1 where the sampled point lies inside the source image (the
    pixels the warp defines) and 0 where the warp brings in undefined content.
    """
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = (grid.abs() <= 1 + 1e-6).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    return warped, mask.to(images.dtype)


def _affine(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.eye(2, 3, device=device, dtype=dtype).repeat(n, 1, 1)


def _random_sign(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.randint(0, 2, (n, 1), generator=generator).float() * 2 - 1


class Zoom(Edit):
    """Zoom about the centre by factor s (s > 1 zooms in). Graph α = log s.

    Training s: half U(min_scale, 1), half U(1, max_scale). Zooming out leaves
    a border the source does not define; the mask excludes it.
    """

    unit = "×"
    multiplicative = True
    attributes = ("area",)

    def __init__(self, min_scale: float = 0.25, max_scale: float = 4.0) -> None:
        if not 0 < min_scale < 1 < max_scale:
            raise SteerError(f"Zoom needs 0 < min_scale < 1 < max_scale, got {min_scale}, {max_scale}.")
        self.min_scale, self.max_scale = min_scale, max_scale

    def sample_alpha(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, 1, generator=generator)
        zoom_in = torch.rand(n, 1, generator=generator) < 0.5
        return torch.where(zoom_in, 1 + u * (self.max_scale - 1), self.min_scale + u * (1 - self.min_scale))

    def check_values(self, alpha: Tensor) -> None:
        super().check_values(alpha)
        if (alpha <= 0).any():
            raise SteerError(f"Zoom factors must be > 0 (1 = unchanged), got {alpha.min().item():g}.")

    def walk_alpha(self, alpha: Tensor) -> Tensor:
        return alpha.log()

    def alpha_from_walk(self, walk_alpha: Tensor) -> Tensor:
        return walk_alpha.exp()

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        theta = _affine(len(images), images.device, images.dtype)
        theta[:, :, :2] /= alpha[:, :, None]  # output(x) = input(x / s)
        return _warp(images, theta)

    def test_alphas(self) -> Tensor:
        lo, hi = math.log2(self.min_scale), math.log2(self.max_scale)
        return 2 ** torch.linspace(lo, hi, 9)[:, None]

    def describe(self, alpha: Tensor) -> str:
        return f"×{alpha.item():.2f}"

    def alpha_from_attributes(self, measured: Tensor, reference: Tensor) -> Tensor:
        # area grows as s²: s = √(area / area₀)
        return (measured / reference).sqrt()


class _Shift(Edit):
    """Translate by α pixels along one axis. Training α: ±randint(1, max_shift); graph α = α / max_shift,
    or α itself with ``raw_alpha`` (the §4.4 code's z + αw, docs/PAPER_PRESETS.md)."""

    unit = "px"
    axis = 0  # 0: x (right is positive), 1: y (down is positive)

    def __init__(self, max_shift: int = 32, raw_alpha: bool = False) -> None:
        if max_shift < 1:
            raise SteerError(f"{self.name} max_shift must be ≥ 1 pixel, got {max_shift}.")
        self.max_shift, self.raw_alpha = max_shift, raw_alpha

    def sample_alpha(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        steps = torch.randint(1, self.max_shift + 1, (n, 1), generator=generator).float()
        return steps * _random_sign(n, generator)

    def walk_alpha(self, alpha: Tensor) -> Tensor:
        return alpha if self.raw_alpha else alpha / self.max_shift

    def alpha_from_walk(self, walk_alpha: Tensor) -> Tensor:
        return walk_alpha if self.raw_alpha else walk_alpha * self.max_shift

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        size = images.shape[3 - self.axis]
        if self.max_shift >= size:
            raise SteerError(
                f"{self.name} max_shift={self.max_shift} must be smaller than the image size {size}; "
                f"set max_shift to at most {size - 1} (a quarter of the image, {max(size // 4, 1)}, is typical)."
            )
        theta = _affine(len(images), images.device, images.dtype)
        theta[:, self.axis, 2] = -2 * alpha[:, 0] / size  # output(x) = input(x - α)
        return _warp(images, theta)

    def test_alphas(self) -> Tensor:
        return torch.linspace(-self.max_shift, self.max_shift, 9)[:, None]


class ShiftX(_Shift):
    """Shift right by α pixels (negative: left)."""

    axis = 0
    attributes = ("x",)


class ShiftY(_Shift):
    """Shift down by α pixels (negative: up)."""

    attributes = ("y",)

    axis = 1


class Rotate2D(Edit):
    """In-plane rotation by α degrees, counter-clockwise as seen. Training α: ±randint(1, max_angle).

    Graph α = α / max_angle, or α in degrees with ``raw_alpha`` (the §4.4 MNIST
    code's z + αw, steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py; docs/PAPER_PRESETS.md).
    The corners the rotation brings in are masked out.
    """

    unit = "°"

    def __init__(self, max_angle: int = 45, raw_alpha: bool = False) -> None:
        if not 1 <= max_angle <= 180:
            raise SteerError(f"Rotate2D max_angle must be in 1..180 degrees, got {max_angle}.")
        self.max_angle, self.raw_alpha = max_angle, raw_alpha

    def sample_alpha(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        steps = torch.randint(1, self.max_angle + 1, (n, 1), generator=generator).float()
        return steps * _random_sign(n, generator)

    def walk_alpha(self, alpha: Tensor) -> Tensor:
        return alpha if self.raw_alpha else alpha / self.max_angle

    def alpha_from_walk(self, walk_alpha: Tensor) -> Tensor:
        return walk_alpha if self.raw_alpha else walk_alpha * self.max_angle

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        rad = torch.deg2rad(alpha[:, 0])
        cos, sin = rad.cos(), rad.sin()
        theta = _affine(len(images), images.device, images.dtype)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
        return _warp(images, theta)

    def test_alphas(self) -> Tensor:
        return torch.linspace(-self.max_angle, self.max_angle, 7)[:, None]


class Color(Edit):
    """Add α_c to channel c in [-1, 1] space, no clipping; 3 sliders (R, G, B). Every pixel is defined.

    Training α: U(-max_offset, max_offset) per channel; graph α = α.
    """

    sliders = 3
    attributes = ("red", "green", "blue")

    def __init__(self, max_offset: float = 0.5) -> None:
        if max_offset <= 0:
            raise SteerError(f"{self.name} max_offset must be > 0, got {max_offset}.")
        self.max_offset = max_offset

    def sample_alpha(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return (torch.rand(n, self.sliders, generator=generator) * 2 - 1) * self.max_offset

    def walk_alpha(self, alpha: Tensor) -> Tensor:
        return alpha

    def alpha_from_walk(self, walk_alpha: Tensor) -> Tensor:
        return walk_alpha

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        if images.shape[1] % self.sliders:
            raise SteerError(f"{self.name} with {self.sliders} sliders cannot edit {images.shape[1]}-channel images.")
        offset = alpha.repeat_interleave(images.shape[1] // self.sliders, dim=1)
        return images + offset[:, :, None, None], torch.ones_like(images[:, :1])

    def test_alphas(self) -> Tensor:
        """Each slider alone at ±max/2 and ±max, and the identity."""
        steps = torch.tensor([-1.0, -0.5, 0.5, 1.0]) * self.max_offset
        rows = [torch.zeros(self.sliders)]
        for k in range(self.sliders):
            for s in steps:
                row = torch.zeros(self.sliders)
                row[k] = s
                rows.append(row)
        return torch.stack(rows)

    @property
    def slider_names(self) -> list[str]:
        return ["R", "G", "B"] if self.sliders == 3 else super().slider_names

    def alpha_from_attributes(self, measured: Tensor, reference: Tensor) -> Tensor:
        # measured colour is in [0, 1]; α adds in [-1, 1]: α = 2 Δcolour
        return 2 * (measured - reference)

    def describe(self, alpha: Tensor) -> str:
        parts = [f"{c}{a:+.2f}" for c, a in zip(self.slider_names, alpha.tolist()) if a != 0]
        return " ".join(parts) or "0"


class Brightness(Color):
    """Colour with the same α on every channel: one slider."""

    sliders = 1
    attributes = ()

    def test_alphas(self) -> Tensor:
        return torch.linspace(-self.max_offset, self.max_offset, 9)[:, None]

    def describe(self, alpha: Tensor) -> str:
        return f"{alpha.item():+.2f}"
