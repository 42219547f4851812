"""Closed-form factorization, SeFa (Shen & Zhou, CVPR 2021; docs/methods.md §4).

The first map from the latent is affine, y = A z + b, so a step α n moves y by
α A n whatever z is. The unit directions that move y most solve

    n* = argmax_{‖n‖ = 1} ‖A n‖² = argmax_{‖n‖ = 1} nᵀ AᵀA n,

i.e. the top eigenvectors of AᵀA. Needs only ``generator.first_projection()``
(the Generator contract): no generator pass, no labels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.formats.directions import fix_signs
from steer.generators.base import Generator


def sefa(generator: Generator, k: int) -> tuple[Tensor, Tensor]:
    """The top ``k`` SeFa directions of ``generator`` and their eigenvalues.

    Returns ``(directions, eigenvalues)``: directions (k, latent_dim), unit
    rows, orthogonal, sorted by eigenvalue (descending); eigenvalues (k,);
    both in A's dtype and on A's device. Each row of A is scaled to unit norm
    first (as in the authors' code); AᵀA is decomposed in float64 with the
    symmetric solver ``torch.linalg.eigh``. An eigenvector's sign is
    arbitrary: it is fixed so that each direction's largest-magnitude
    coordinate is positive, which makes results repeatable.
    """
    d = generator.latent_dim
    if not 1 <= k <= d:
        raise SteerError(f"SeFa finds 1 to latent_dim={d} directions; asked for k={k}.")
    a = generator.first_projection()  # raises a SteerError for a generator without one
    if a.dim() != 2 or a.shape[1] != d:
        raise SteerError(
            f"{type(generator).__name__}.first_projection() returned shape {tuple(a.shape)}; SeFa needs "
            f"(outputs, latent_dim={d}): one row per output of the first affine map from the latent."
        )
    dtype, a = a.dtype, a.detach().double()
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)  # unit rows; all-zero rows stay zero
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)  # n* = argmax_{‖n‖=1} nᵀ(ÂᵀÂ)n; eigh: ascending
    order = eigenvalues.argsort(descending=True)[:k]
    directions = fix_signs(eigenvectors[:, order].T)  # (k, d)
    return directions.to(dtype), eigenvalues[order].to(dtype)
