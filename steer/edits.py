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
from kornia.color import lab_to_rgb, rgb_to_lab
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
    #: How far the default test grid reaches past the training range, as a factor of its end (the scale
    #: range for a multiplicative edit): as far as the steerability paper's code tests at least.
    test_reach: float = 2.0

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
        """The evaluation grid (A, sliders), identity included, reaching ``test_reach`` past the training range."""
        raise NotImplementedError

    def training_range(self) -> tuple[Tensor, Tensor]:
        """The lowest and the highest α (sliders,) that :meth:`sample_alpha` draws."""
        raise NotImplementedError

    def in_training_range(self, alphas: Tensor) -> Tensor:
        """(A,) True where every slider of α lies inside the training range."""
        lo, hi = self.training_range()
        return ((alphas >= lo - 1e-6) & (alphas <= hi + 1e-6)).all(1)

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
    """Resample ``images`` at ``theta @ [x, y, 1]`` (normalised coordinates, per image)."""
    return _sample(images, F.affine_grid(theta, list(images.shape), align_corners=False))


def _sample(images: Tensor, grid: Tensor, defined: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Resample ``images`` at ``grid`` (N, H, W, 2), normalised source coordinates per output pixel.

    The mask is 1 where the sampled point lies inside the source image (the
    pixels the warp defines; ``defined`` (N, H, W) may exclude more) and 0
    where the warp brings in undefined content.
    """
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = (grid.abs() <= 1 + 1e-6).all(dim=-1)
    mask = inside if defined is None else inside & defined
    return warped, mask[:, None].to(images.dtype)


def _extend(inside: Tensor, below: float, above: float, steps: int = 2) -> Tensor:
    """The sorted grid ``inside`` with ``steps`` more points on each side, out to ``below`` and ``above``."""
    low = torch.linspace(below, float(inside[0]), steps + 1)[:-1]
    high = torch.linspace(float(inside[-1]), above, steps + 1)[1:]
    return torch.cat([low, inside, high])


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
    test_reach = 4.0  # the paper's code: trained 1/4 … 4, tested 1/16 … 16

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
        """9 steps over the training range, even in log scale, then 2 more on each side out to min/4 and max·4."""
        lo, hi, reach = math.log2(self.min_scale), math.log2(self.max_scale), math.log2(self.test_reach)
        return 2 ** _extend(torch.linspace(lo, hi, 9), lo - reach, hi + reach)[:, None]

    def training_range(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([self.min_scale]), torch.tensor([self.max_scale])

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
    test_reach = 1.5  # the paper's code: trained ±128 px, tested ±200 px

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
        """9 steps over ±max_shift, then 2 more on each side out to ±1.5 max_shift."""
        reach = self.test_reach * self.max_shift
        return _extend(torch.linspace(-self.max_shift, self.max_shift, 9), -reach, reach)[:, None]

    def training_range(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([-float(self.max_shift)]), torch.tensor([float(self.max_shift)])


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
    test_reach = 2.0  # the paper's code: trained ±45°, tested ±90°
    largest_angle = 180

    def __init__(self, max_angle: int = 45, raw_alpha: bool = False) -> None:
        if not 1 <= max_angle <= self.largest_angle:
            raise SteerError(f"{self.name} max_angle must be in 1..{self.largest_angle} degrees, got {max_angle}.")
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
        """7 steps over ±max_angle, then 2 more on each side out to ±test_reach · max_angle."""
        reach = self.test_reach * self.max_angle
        return _extend(torch.linspace(-self.max_angle, self.max_angle, 7), -reach, reach)[:, None]

    def training_range(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([-float(self.max_angle)]), torch.tensor([float(self.max_angle)])


class Rotate3D(Rotate2D):
    """Turn the image, as a plane, by α degrees about its vertical centre line, seen by a pinhole camera.

    Positive α turns the right edge away from the camera. The camera looks at
    the plane's centre from a distance f equal to the image diagonal (as in the
    steerability paper's code) with focal length f. A point (x, y) of the plane
    (pixels from the centre) is seen at

        u = f x cos α / (f + x sin α),   v = f y / (f + x sin α),

    so each output pixel (u, v) samples the source at the inverse homography

        x = u / D,   y = v cos α / D,   D = cos α − u sin α / f

    (u, v, x, y in units of half the width and height here; f likewise). The mask keeps the pixels
    whose source lies inside the image and in front of the camera (D > 0). Training α as for
    Rotate2D (±randint(1, max_angle), graph α = α / max_angle); the default test grid reaches
    1.5 × max_angle (the paper's code tests ±720°, past the edge-on view at 90°, which steer does not).
    """

    test_reach = 1.5
    largest_angle = 60  # the test grid then stays short of the edge-on view at 90°

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        n, _, h, w = images.shape
        focal = math.hypot(h, w) / (w / 2)  # the diagonal, in half widths
        identity = F.affine_grid(_affine(n, images.device, images.dtype), [n, 1, h, w], align_corners=False)
        u, v = identity[..., 0], identity[..., 1]
        rad = torch.deg2rad(alpha[:, 0])[:, None, None]
        cos = rad.cos()
        depth = cos - u * rad.sin() / focal
        safe = torch.where(depth > 1e-6, depth, torch.ones_like(depth))
        grid = torch.stack([u / safe, v * cos / safe], dim=-1)
        return _sample(images, grid, depth > 1e-6)


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
        """Each slider alone at ±max/2, ±max, ±1.5 max and ±2 max (the paper's code: trained ±0.5, tested ±1), and
        the identity."""
        reach = self.test_reach * self.max_offset
        steps = _extend(torch.tensor([-1.0, -0.5, 0.5, 1.0]) * self.max_offset, -reach, reach)
        rows = [torch.zeros(self.sliders)]
        for k in range(self.sliders):
            for s in steps:
                row = torch.zeros(self.sliders)
                row[k] = s
                rows.append(row)
        return torch.stack(rows)

    def training_range(self) -> tuple[Tensor, Tensor]:
        return torch.full((self.sliders,), -self.max_offset), torch.full((self.sliders,), self.max_offset)

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
        """9 steps over ±max_offset, then 2 more on each side out to ±2 max_offset."""
        reach = self.test_reach * self.max_offset
        return _extend(torch.linspace(-self.max_offset, self.max_offset, 9), -reach, reach)[:, None]

    def describe(self, alpha: Tensor) -> str:
        return f"{alpha.item():+.2f}"


class ColorLab(Color):
    """Shift L, a and b of CIE Lab (D65) by 50 α_L, 128 α_a and 128 α_b; 3 sliders, α in [-1, 1] scaled as in the
    steerability paper's code. Every pixel is defined.

    Images in [-1, 1] are read as sRGB in [0, 1] (x' = (x + 1) / 2, clamped), converted to Lab by kornia
    (sRGB → linear RGB → XYZ → L = 116 f(Y/Yn) − 16, a = 500 (f(X/Xn) − f(Y/Yn)), b = 200 (f(Y/Yn) − f(Z/Zn))),
    shifted, converted back and clamped to [0, 1], then mapped to [-1, 1]. Training α: U(-max_offset,
    max_offset) per slider (0.5: L ± 25, a and b ± 64); graph α = α; test grid as for Color (out to ±2 max_offset).
    """

    scale = (50.0, 128.0, 128.0)  # α = 1 moves L by 50 (of 0 … 100) and a, b by 128
    attributes = ()  # the sprites' measured colours are RGB, not Lab

    def apply(self, images: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        if images.shape[1] != 3:
            raise SteerError(f"{self.name} edits RGB images; got {images.shape[1]}-channel images.")
        lab = rgb_to_lab(((images + 1) / 2).clamp(0, 1))
        shift = alpha * torch.tensor(self.scale, device=images.device, dtype=images.dtype)
        rgb = lab_to_rgb(lab + shift[:, :, None, None], clip=True)
        return rgb * 2 - 1, torch.ones_like(images[:, :1])

    @property
    def slider_names(self) -> list[str]:
        return ["L", "a", "b"]
