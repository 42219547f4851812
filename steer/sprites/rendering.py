"""Rendering sprites from their factors in pure torch, anti-aliased by supersampling (see steer.sprites.factors)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.sprites.factors import SHAPES

ELLIPSE_ASPECT = 0.5  # minor / major axis of the ellipse
_CHUNK_SAMPLES = 1 << 22  # sub-pixel samples rendered at once (16 MiB per float tensor)

# The heart: a square of side a turned 45° (|u| + |v| ≤ a/√2) with two discs of
# diameter a centred on the midpoints of its upper edges, (±a/(2√2), a/(2√2)).
# The inner half of each disc lies in the square, so  area = a² (1 + π/4).
# Width = a (1 + 1/√2). Each outer half-disc has its centroid 4r/(3π) beyond its
# edge (r = a/2), so the centroid sits above the square's centre by
#   c = 2 (π a²/8) (a/(2√2) + 2a/(3π√2)) / (a² (1 + π/4)) = a (π/8 + 1/6) / (√2 (1 + π/4)).
_HEART_WIDTH = 1 + 1 / math.sqrt(2)
_HEART_CENTROID = (math.pi / 8 + 1 / 6) / (math.sqrt(2) * (1 + math.pi / 4))



def _square(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # max(|u|, |v|) ≤ w/2
    return torch.maximum(u.abs(), v.abs()) <= width / 2


def _ellipse(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # (u/A)² + (v/B)² ≤ 1, semi-axes A = w/2 (along u at rotation 0), B = ELLIPSE_ASPECT · A
    major = width / 2
    return (u / major) ** 2 + (v / (ELLIPSE_ASPECT * major)) ** 2 <= 1


def _heart(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # the union described at _HEART_CENTROID, shifted so its centroid is at (0, 0)
    a = width / _HEART_WIDTH
    v = v + _HEART_CENTROID * a
    h = a / (2 * math.sqrt(2))  # disc centres (±h, h)
    in_square = u.abs() + v.abs() <= 2 * h
    in_discs = (u.abs() - h) ** 2 + (v - h) ** 2 <= (a / 2) ** 2
    return in_square | in_discs


_INSIDE = (_square, _ellipse, _heart)  # in SHAPES order


def shape_area(shape: Tensor, scale: Tensor, size: int) -> Tensor:
    """Exact area in pixels of each sprite (ignoring what falls outside the image)."""
    width = scale.float() * size
    square = width**2
    ellipse = math.pi * ELLIPSE_ASPECT * width**2 / 4  # π A B
    heart = (width / _HEART_WIDTH) ** 2 * (1 + math.pi / 4)  # a² (1 + π/4)
    return torch.stack([square, ellipse, heart])[shape.long(), torch.arange(len(shape), device=shape.device)]


def render(
    shape: Tensor,
    x: Tensor,
    y: Tensor,
    scale: Tensor,
    rotation: Tensor,
    colour: Tensor,
    size: int,
    samples: int = 4,
) -> Tensor:
    """Images (N, 3, size, size) in [-1, 1] of N sprites, on the device of ``x``.

    ``shape`` (N,) indexes ``SHAPES``; ``x``, ``y``, ``scale``, ``rotation`` are (N,)
    in the module's units; ``colour`` is (N, 3) RGB in [0, 1]. Anti-aliased by
    supersampling: each pixel's coverage is the fraction of its samples × samples
    sub-pixel grid inside the shape, and pixel = coverage · colour.
    """
    n = _check_render_args(shape, x, y, scale, rotation, colour, size, samples)
    device = x.device
    shape, x, y, scale, rotation, colour = (t.to(device) for t in (shape, x, y, scale, rotation, colour))
    per_chunk = max(1, _CHUNK_SAMPLES // (size * samples) ** 2)  # bounds memory for large batches
    chunks = [_coverage(shape[rows], x[rows], y[rows], scale[rows] * size, rotation[rows], size, samples)
              for rows in torch.arange(n, device=device).split(per_chunk)]
    coverage = torch.cat([torch.zeros(0, size, size, device=device), *chunks])
    return coverage[:, None] * colour.float()[:, :, None, None] * 2 - 1


def _coverage(shape: Tensor, x: Tensor, y: Tensor, width: Tensor, rotation: Tensor, size: int, samples: int) -> Tensor:
    """(N, size, size) fraction of each pixel's sub-pixel samples inside the sprite."""
    sub = (torch.arange(size * samples, device=x.device, dtype=torch.float32) + 0.5) / samples  # sample positions
    rad = torch.deg2rad(rotation.float())[:, None, None]
    # offset from the centroid with y up, then into the shape's frame: (u, v) = R(−θ)(dx, dy)
    dx = sub[None, None, :] - x.float()[:, None, None]
    dy = y.float()[:, None, None] - sub[None, :, None]
    u, v = rad.cos() * dx + rad.sin() * dy, rad.cos() * dy - rad.sin() * dx
    width = width.float()[:, None, None]
    inside = torch.zeros(u.shape, dtype=torch.bool, device=x.device)
    for s, test in enumerate(_INSIDE):
        idx = (shape == s).nonzero()[:, 0]
        if len(idx):
            inside[idx] = test(u[idx], v[idx], width[idx])
    return inside.float().view(len(x), size, samples, size, samples).mean(dim=(2, 4))


def _check_render_args(
    shape: Tensor, x: Tensor, y: Tensor, scale: Tensor, rotation: Tensor, colour: Tensor, size: int, samples: int
) -> int:
    if size <= 0 or samples <= 0:
        raise SteerError(f"render needs size > 0 and samples > 0, got size={size}, samples={samples}.")
    if x.dim() != 1:
        raise SteerError(f"render takes one value of x per sprite, shape (N,), got {tuple(x.shape)}.")
    n = len(x)
    named = {"shape": shape, "x": x, "y": y, "scale": scale, "rotation": rotation}
    bad = [f"{k} {tuple(t.shape)}" for k, t in named.items() if t.shape != (n,)]
    bad += [f"colour {tuple(colour.shape)}"] if colour.shape != (n, 3) else []
    if bad:
        raise SteerError(f"render needs (N,) factors and an (N, 3) colour, with N={n} from x; got {', '.join(bad)}.")
    if n and (shape.min() < 0 or shape.max() >= len(SHAPES)):
        raise SteerError(f"shape indices must be in 0..{len(SHAPES) - 1} ({', '.join(SHAPES)}), "
                         f"got values from {shape.min().item()} to {shape.max().item()}.")
    return n


def render_factors(factors: dict[str, Tensor], size: int, samples: int = 4) -> Tensor:
    """``render`` for a factor dict as ``SpriteFactors.sample`` returns."""
    colour = torch.stack([factors["red"], factors["green"], factors["blue"]], dim=1)
    return render(factors["shape"], factors["x"], factors["y"], factors["scale"], factors["rotation"], colour, size,
                  samples)


