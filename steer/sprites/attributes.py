"""Attributes of sprite-like images (one bright object on a dark background) from image moments.

``measure(images)`` returns, per image, the object's centre (x, y in pixels,
pixel (row i, column j) covering [j, j+1) × [i, i+1) as in
``steer.sprites.factors``), area (pixels), orientation and elongation (from the
second central moments) and mean colour. Batched torch, on the images' device.

``python -m steer.sprites.attributes`` prints how closely these match the
true factors of rendered sprites (``validate``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from steer.errors import SteerError
from steer.seeding import rng
from steer.sprites.factors import SHAPES, SpriteFactors
from steer.sprites.rendering import render_factors, shape_area


def foreground(images: Tensor, threshold: float = 0.1) -> tuple[Tensor, Tensor]:
    """Soft foreground ``(weight, gate)``, each (N, H, W), of images in [-1, 1].

    Brightness b = max over channels of (image + 1)/2. The gate rises smoothly
    from 0 at b = threshold/2 to 1 at b = threshold, and is 0 away from the
    object (pixels with no neighbour, in their 3×3 block, brighter than
    threshold): background noise below threshold/2, or isolated noise below
    threshold, counts for nothing. A gated pixel's weight is its coverage
    b / peak (clipped at 1), where peak = the 75th percentile of b over the pixels
    brighter than threshold, i.e. the object's own brightness: anti-aliased edges count by
    the fraction of the pixel they cover, which keeps area and moments exact
    for flat-coloured objects.
    """
    if images.dim() != 4:
        raise SteerError(f"measure takes images (N, C, H, W) in [-1, 1], got shape {tuple(images.shape)}.")
    if not 0 < threshold < 1:
        raise SteerError(f"foreground threshold is a brightness in (0, 1), got {threshold}.")
    brightness = ((images.float() + 1) / 2).amax(dim=1)
    t = ((brightness - threshold / 2) / (threshold / 2)).clamp(0, 1)
    near = F.max_pool2d((brightness > threshold).float()[:, None], 3, stride=1, padding=1)[:, 0]
    gate = t * t * (3 - 2 * t) * near  # smoothstep, next to the object only
    lit = torch.where(brightness > threshold, brightness, torch.nan).flatten(1)
    peak = torch.nanquantile(lit, 0.75, dim=1).nan_to_num(1.0)[:, None, None]  # 1.0: nothing lit, all gates 0
    return gate * (brightness / peak).clamp(max=1), gate


def measure(images: Tensor, threshold: float = 0.1) -> dict[str, Tensor]:
    """Foreground attributes of images (N, C, H, W) in [-1, 1], each (N,) unless noted.

    * ``x``, ``y``: centroid in pixels.
    * ``area``: foreground area in pixels (fractional at the edges).
    * ``orientation``: angle in degrees, counter-clockwise from +x as seen, of the
      major axis of the foreground's second moments, in (−90, 90]. It is defined
      modulo 180° only, and is meaningless when ``elongation`` is near 0: a square
      or circle has equal moments along every axis, so its orientation is noise.
      For the sprites' ellipse it is the rotation factor modulo 180°; a heart's
      major axis is the axis perpendicular to its symmetry axis (rotation modulo 180°).
    * ``elongation``: 1 − λ_min/λ_max of the second-moment matrix (0: isotropic).
    * ``colour``: (N, C) mean foreground colour in [0, 1].

    Images with no foreground get area 0 and NaN for everything else.
    """
    weight, gate = foreground(images, threshold)
    _, height, width = weight.shape
    xs = torch.arange(width, device=weight.device, dtype=weight.dtype) + 0.5  # pixel centres
    ys = torch.arange(height, device=weight.device, dtype=weight.dtype) + 0.5
    # raw moments: m00 = Σ w,  x̄ = Σ w x / m00,  ȳ = Σ w y / m00
    m00 = weight.sum(dim=(1, 2))
    x = (weight * xs).sum(dim=(1, 2)) / m00
    y = (weight * ys[:, None]).sum(dim=(1, 2)) / m00
    # central moments: μ20 = Σ w (x−x̄)² / m00, μ02 = Σ w (y−ȳ)² / m00, μ11 = Σ w (x−x̄)(y−ȳ) / m00
    dx = xs - x[:, None, None]
    dy = ys[:, None] - y[:, None, None]
    mu20 = (weight * dx**2).sum(dim=(1, 2)) / m00
    mu02 = (weight * dy**2).sum(dim=(1, 2)) / m00
    mu11 = (weight * dx * dy).sum(dim=(1, 2)) / m00
    # major axis: θ = ½ atan2(2 μ11', μ20 − μ02), μ11' = −μ11 with y pointing up (counter-clockwise as seen)
    orientation = torch.rad2deg(0.5 * torch.atan2(-2 * mu11, mu20 - mu02))
    # eigenvalues of [[μ20, μ11], [μ11, μ02]]: λ± = (μ20 + μ02)/2 ± √(((μ20 − μ02)/2)² + μ11²)
    mean, spread = (mu20 + mu02) / 2, torch.sqrt(((mu20 - mu02) / 2) ** 2 + mu11**2)
    elongation = 1 - (mean - spread) / (mean + spread)
    # colour: a pixel is coverage · colour, so colour = Σ gate · rgb / Σ gate · coverage = Σ gate · rgb / m00
    colour = (gate[:, None] * (images.float() + 1) / 2).sum(dim=(2, 3)) / m00[:, None]
    return {"x": x, "y": y, "area": m00, "orientation": orientation, "elongation": elongation, "colour": colour}


def angle_difference(a: Tensor, b: Tensor, period: float = 180.0) -> Tensor:
    """a − b in degrees, wrapped into [−period/2, period/2)."""
    return torch.remainder(a - b + period / 2, period) - period / 2


def validate(
    n: int = 256, size: int = 64, seed: int = 0, noise: float = 0.0, threshold: float = 0.1
) -> dict[str, float]:
    """Mean and max absolute errors of ``measure`` against the true factors of ``n`` rendered sprites.

    Sprites follow ``SpriteFactors(size)``'s defaults (all shapes, inside the
    image). ``noise`` adds Gaussian noise of that std (in [0, 1] brightness
    units) to every pixel, like an imperfect generator's background. Orientation
    is checked on ellipses only (the shape whose moments define it).
    """
    if n <= 0 or noise < 0:
        raise SteerError(f"validate needs n > 0 and noise ≥ 0, got n={n}, noise={noise}.")
    g = rng(seed, "validate-attributes")
    factors = SpriteFactors(size).sample(n, g)
    images = render_factors(factors, size)
    images = images + 2 * noise * torch.randn(images.shape, generator=g)
    m = measure(images, threshold)
    position = torch.hypot(m["x"] - factors["x"], m["y"] - factors["y"])
    true_area = shape_area(factors["shape"], factors["scale"], size)
    area = (m["area"] - true_area).abs() / true_area
    ellipse = factors["shape"] == SHAPES.index("ellipse")
    orientation = angle_difference(m["orientation"][ellipse], factors["rotation"][ellipse]).abs()
    colour = (m["colour"] - torch.stack([factors[c] for c in ("red", "green", "blue")], dim=1)).abs()
    errors = {"position_px": position, "area_rel": area, "orientation_deg": orientation, "colour": colour}
    out = {}
    for name, e in errors.items():
        out[f"{name}_mean"], out[f"{name}_max"] = e.mean().item(), e.max().item()
    return out


if __name__ == "__main__":
    for size in (64, 32):
        for noise in (0.0, 0.02):
            figures = validate(size=size, noise=noise)
            print(f"size {size}, noise {noise}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()))
