"""The steerability objective (Jahanian et al. 2020, docs/methods.md §1).

    min_w  E_{z, α} L( G(walk(z, α)), edit(G(z), α) ; m )

The target is built from a detached G(z); the walk sees the edit's graph α.
Training, validation and evaluation all compute their pairs here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from steer.edits import Edit
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.walks import Walk


class Pair(NamedTuple):
    walked: Tensor  # G(walk(z, α))
    target: Tensor  # edit(G(z), α)
    mask: Tensor  # pixels the edit defines
    source: Tensor  # G(z), detached


def steer_pair(
    generator: Generator,
    edit: Edit,
    walk: Walk,
    z: Tensor,
    alpha: Tensor,
    y: Tensor | None = None,
    source: Tensor | None = None,
) -> Pair:
    """Walked image and edit target for latents ``z`` and strengths ``alpha`` (N, sliders).

    ``source`` = G(z) may be passed in when several α share the same latents,
    so the generator's target pass runs once per batch. Where the generator
    declares a ``walk_mask``, the walk moves only those latent coordinates.
    The pair is fp32 also when the generator ran in bf16 (:func:`fp32`).
    """
    if source is None:
        with torch.no_grad():
            source = generator(z, y)
    source = source.detach()
    target, mask = edit(source, alpha)
    return Pair(*map(fp32, (walked_image(generator, edit, walk, z, alpha, y), target, mask, source)))


def fp32(t: Tensor) -> Tensor:
    """A bf16/fp16 tensor in fp32, any other as it is. Under autocast (``--trainer.precision bf16-mixed``) the
    generator's images are bf16; the pair comes back in fp32 so that losses and metrics sum in fp32."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def steer_pairs(generator: Generator, edit: Edit, walk: Walk, z: Tensor, alpha: Tensor,
                y: Tensor | None = None) -> Pair:
    """The pairs of K = len(alpha) / len(z) strengths per latent: latent i with the α rows iK … iK + K − 1.

    G(z) runs once per latent and its edit K times, edit(G(z_i), α_ik); the walked
    images G(walk(z_i, α_ik)) run for all N·K pairs. A training pair then costs
    2 + 1/K generator passes (target, walked forward, its backward) instead of 3.
    K = 1 is :func:`steer_pair`.
    """
    k = len(alpha) // len(z)
    if k * len(z) != len(alpha):
        raise SteerError(f"the batch has {len(alpha)} strengths α for {len(z)} latents; "
                         "it needs the same number of α for every latent.")
    if k == 1:
        return steer_pair(generator, edit, walk, z, alpha, y)
    with torch.no_grad():
        source = generator(z, y)
    def each(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.repeat_interleave(k, dim=0)
    return steer_pair(generator, edit, walk, each(z), alpha, each(y), each(source))


def steer_grid(generator: Generator, edit: Edit, walk: Walk, z: Tensor, alphas: Tensor,
               y: Tensor | None = None) -> Iterator[Pair]:
    """The pair at each α row of ``alphas`` (A, sliders) in turn, for the same latents; G(z) runs once."""
    with torch.no_grad():
        source = generator(z, y)
    for alpha in alphas:
        yield steer_pair(generator, edit, walk, z, repeat_alpha(alpha, len(z), z), y, source)


def walked_image(generator: Generator, edit: Edit, walk: Walk, z: Tensor, alpha: Tensor,
                 y: Tensor | None = None) -> Tensor:
    """G(walk(z, α)) for strengths ``alpha`` (N, sliders) in the edit's units; see :func:`moved_image`."""
    return moved_image(generator, walk, z, edit.walk_alpha(alpha.to(z.device)), y)


def moved_image(generator: Generator, walk: Walk, z: Tensor, walk_alpha: Tensor, y: Tensor | None = None) -> Tensor:
    """G(walk(z, walk_alpha)) for the walk's own strengths (N, sliders); only the generator's ``walk_mask``
    coordinates move."""
    moved = walk(z, walk_alpha.to(z.device), y)
    movable = generator.walk_mask
    return generator(moved if movable is None else z + (moved - z) * movable, y)


def repeat_alpha(alpha: Tensor, n: int, like: Tensor) -> Tensor:
    """One α row (sliders,) repeated for ``n`` latents, on ``like``'s device."""
    return alpha.to(like.device, like.dtype).expand(n, -1).contiguous()
