"""Latents of style-based generators (StyleGAN2/3): z, w or W+ with chosen rows, truncation, SeFa's matrix."""

from __future__ import annotations

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.generators.base import Generator

LATENT_SPACES = ("z", "w", "w+")


def w_lift(latent_space: str, style_dim: int, listed: int, latent_dim: int) -> Tensor | None:
    """L with latent = L w for a StyleGAN latent that holds w (PCA on w, ``Generator.latent_lift``); None in z.

    w: L = I. W+: I on each of the ``listed`` row blocks, then a zero block for
    the w of the other rows when the latent has one (as SeFa's W+ directions).
    """
    if latent_space == "z":
        return None
    eye = torch.eye(style_dim)
    if latent_space == "w":
        return eye
    base = [torch.zeros_like(eye)] if latent_dim > listed * style_dim else []
    return torch.cat([eye] * listed + base)


class StyleLatentGenerator(Generator):
    """A generator whose synthesis reads ``num_ws`` rows of w (W+), steered in z, w or W+.

    Latents by ``latent_space`` (d = ``style_dim``, L = ``num_ws``):

    * ``"z"``: z (N, ``z_dim``, default d). forward maps it (with the class, if any) to w,
      truncates, uses w on every row.
    * ``"w"``: w (N, d), used on every row. ``sample_latent`` returns mapped,
      truncated w.
    * ``"w+"``: the rows listed in ``layers`` (default: all L), then, when some
      rows are not listed, one more block: the w used for all other rows.
      Shape (N, (k + 1)·d) for k < L listed rows, (N, L·d) for all. Walks that
      move only the listed blocks leave the other rows alone; ``sample_latent``
      returns w in every block, so its images equal the w-space ones.

    ``truncation`` ψ pulls w toward w̄ (``latent_avg``): w ↦ w̄ + ψ(w − w̄), at
    sampling time in w/W+, in forward in z. A conditional model's w depends on
    its class: in w/W+ ``sample_latent`` maps z with the classes that the next
    ``sample_class`` call on the same random generator will draw, so the pair
    (latent, class) a caller draws in that order belongs together.
    Subclasses implement :meth:`map` and register the ``latent_avg`` buffer.
    """

    def __init__(self, style_dim: int, num_ws: int, resolution: int, latent_space: str,
                 layers: list[int] | None, truncation: float | None, num_classes: int | None = None,
                 z_dim: int | None = None) -> None:
        name = type(self).__name__
        if latent_space not in LATENT_SPACES:
            raise SteerError(f"{name} latent_space must be one of {', '.join(LATENT_SPACES)}; got {latent_space!r}.")
        listed = self._check_layers(layers, num_ws, latent_space)
        if latent_space == "w+":
            base = len(listed)  # the block that holds w for the unlisted rows
            source = [listed.index(r) if r in listed else base for r in range(num_ws)]
            blocks = base + (base < num_ws)
        else:
            source, blocks = [0] * num_ws, 1
        z_dim = z_dim or style_dim
        super().__init__(z_dim if latent_space == "z" else blocks * style_dim, resolution, num_classes, truncation)
        self.z_dim = z_dim
        self.style_dim = style_dim
        self.latent_space = latent_space
        self.layers = listed
        self._source = source  # W+ row r is block source[r] of the latent

    def _check_layers(self, layers: list[int] | None, rows: int, space: str) -> list[int]:
        name = type(self).__name__
        if layers is None:
            return list(range(rows))
        if space == "z":
            raise SteerError(f"{name} layers select W+ rows; they have no meaning with latent_space='z'. Use 'w' or 'w+'.")
        if not layers or len(set(layers)) != len(layers) or any(not 0 <= r < rows for r in layers):
            raise SteerError(f"{name} layers must be distinct W+ rows in 0..{rows - 1} at this size, got {layers}.")
        return sorted(layers)

    def map(self, z: Tensor, y: Tensor | None) -> Tensor:
        """w (N, style_dim) for z (N, z_dim) and classes y (None if unconditional), untruncated."""
        raise NotImplementedError

    # -- latents ----------------------------------------------------------------------
    def truncate(self, w: Tensor) -> Tensor:
        """w̄ + ψ(w − w̄) (truncation trick), or w when ψ is None."""
        if self.truncation is None:
            return w
        return self.latent_avg + self.truncation * (w - self.latent_avg)

    def _next_classes(self, n: int, generator: torch.Generator | None) -> Tensor | None:
        """The classes ``sample_class(n, generator)`` will draw next, leaving the generator's state as it was."""
        if self.num_classes is None:
            return None
        source = torch.default_generator if generator is None else generator
        state = source.get_state()
        y = self.sample_class(n, source)
        source.set_state(state)
        return y

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents on the CPU: z ~ N(0, I); in w/W+, w = truncate(map(z, y)) in every block."""
        z = torch.randn(n, self.z_dim, generator=generator)
        if self.latent_space == "z":
            return z
        y = self._next_classes(n, generator)
        device = self.latent_avg.device
        with torch.no_grad():
            w = self.truncate(self.map(z.to(device), None if y is None else y.to(device))).cpu()
        return w.repeat(1, self.latent_dim // self.style_dim)

    def rows(self, latent: Tensor, y: Tensor | None = None) -> Tensor:
        """The W+ rows (N, num_ws, style_dim) a latent stands for."""
        if self.latent_space == "z":
            latent = self.truncate(self.map(latent, y))
        return latent.reshape(latent.shape[0], -1, self.style_dim)[:, self._source]

    @property
    def walk_mask(self) -> Tensor | None:
        """In W+ with chosen layers, walks move the listed rows only, never the block of the other rows."""
        listed = len(self.layers) * self.style_dim
        if self.latent_space != "w+" or listed == self.latent_dim:
            return None
        return torch.cat([torch.ones(listed), torch.zeros(self.latent_dim - listed)]).to(self.latent_avg.device)

    # -- PCA (GANSpace) -----------------------------------------------------------------
    def latent_lift(self, layer: str) -> Tensor | None:
        """In w and W+ the latent holds w, the output of the mapping (``default_layer``), so components in w are
        directions as they are (:func:`w_lift`); f = L⁺ latent reads w back."""
        lift = w_lift(self.latent_space, self.style_dim, len(self.layers), self.latent_dim)
        return None if layer != self.default_layer or lift is None else lift.to(self.latent_avg.device)

    # -- SeFa -------------------------------------------------------------------------
    def sefa_matrix(self, style_weights: list[tuple[int, Tensor]]) -> Tensor:
        """A for SeFa from the style weights A_r (out_r × d) of the W+ rows r (docs/methods.md §4).

        Only rows in ``layers`` count. w: A = [A_r; …] (Σ out_r × d), since
        s_r = A_r w + b_r. W+: the map from the latent restricted to moves that
        shift every listed row by the same n, i.e. A·P with P the projector onto
        such moves; its columns for listed block b are A / k (k listed rows),
        zero for the base block, so its top eigenvectors are the SeFa directions
        written on every listed row.
        """
        name = type(self).__name__
        if self.latent_space == "z":
            raise SteerError(
                f"{name} SeFa works on the style weights, which read w, not z: "
                "use latent_space='w' or 'w+' for closed-form directions."
            )
        picked = [a for r, a in sorted(style_weights, key=lambda pair: pair[0]) if r in self.layers]
        if not picked:
            raise SteerError(f"{name} layers {self.layers} drive no modulated conv (only the last ToRGB); add earlier rows.")
        a = torch.cat(picked).detach()
        if self.latent_space == "w":
            return a
        k = len(self.layers)
        base = [torch.zeros_like(a)] if self.latent_dim > k * self.style_dim else []
        return torch.cat([a / k] * k + base, dim=1)
