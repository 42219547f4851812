"""The Generator contract every model steer steers must meet (docs/architecture.md, Contracts between parts)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from steer.errors import SteerError


def check_finite(x: Tensor, owner: str, what: str = "latents") -> None:
    """Refuse NaN or infinite ``x`` with one line naming ``owner``; CPU tensors only.

    On an accelerator the check would cost a host synchronisation per call
    (the generator and the walk run several times per step), so it is left
    out there, as it is while ``torch.compile`` traces; a NaN that reaches
    training is still caught by the loss check, which names the step.
    """
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum()) if x.dim() > 1 else int((~torch.isfinite(x)).sum())
        raise SteerError(
            f"{owner} got {what} with NaN or infinite values ({bad} of {len(x)} rows); "
            "check where they come from (a diverged walk, a bad latent file)."
        )


class Generator(nn.Module):
    """A generative model seen through one interface.

    Subclasses set ``latent_dim``, ``num_classes`` (None if unconditional) and
    ``resolution``, and implement ``synthesize(z, y)`` returning images in
    [-1, 1], NCHW. Optional: ``first_projection()`` (SeFa) and
    ``features(z, layer)`` (PCA).

    Latents are (N, latent_dim). ``truncation`` (None = off) draws each latent
    coordinate from a normal truncated to [-truncation, truncation].
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int,
        num_classes: int | None = None,
        truncation: float | None = None,
    ) -> None:
        super().__init__()
        if latent_dim <= 0 or resolution <= 0:
            raise SteerError(
                f"latent_dim and resolution must be positive, got latent_dim={latent_dim}, "
                f"resolution={resolution}."
            )
        if num_classes is not None and num_classes <= 0:
            raise SteerError(f"num_classes must be positive or None, got {num_classes}.")
        if truncation is not None and truncation <= 0:
            raise SteerError(f"truncation must be positive or None (off), got {truncation}.")
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.num_classes = num_classes
        self.truncation = truncation
        self._frozen = False

    # -- sampling -----------------------------------------------------------
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents on the CPU, N(0, I), truncated if ``truncation`` is set.

        Truncation uses the inverse CDF: u ~ U(Φ(-t), Φ(t)), z = Φ⁻¹(u).
        """
        if self.truncation is None:
            return torch.randn(n, self.latent_dim, generator=generator)
        lo = 0.5 * (1 + math.erf(-self.truncation / math.sqrt(2)))
        u = torch.rand(n, self.latent_dim, generator=generator, dtype=torch.float64)
        return torch.special.ndtri(lo + u * (1 - 2 * lo)).float()

    def sample_class(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """``n`` class indices (uniform), or None for an unconditional generator."""
        if self.num_classes is None:
            return None
        return torch.randint(self.num_classes, (n,), generator=generator)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n`` latents and classes (None if unconditional), drawn in that order from ``generator``, on ``device``."""
        z, y = self.sample_latent(n, generator), self.sample_class(n, generator)
        return z.to(device), (y.to(device) if y is not None else None)

    # -- synthesis ----------------------------------------------------------
    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images in [-1, 1], NCHW, for latents ``z`` (N, latent_dim) and classes ``y``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise SteerError(
                f"{type(self).__name__} takes latents of shape (N, {self.latent_dim}), "
                f"got {tuple(z.shape)}."
            )
        check_finite(z, type(self).__name__)
        if (y is None) != (self.num_classes is None):
            need = "class labels y" if self.num_classes else "no class labels"
            raise SteerError(f"{type(self).__name__} needs {need} (num_classes={self.num_classes}).")
        return self.synthesize(z, y)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        """The model's own forward pass; called by ``forward`` after the checks."""
        raise NotImplementedError

    # -- pretrained weights: what a walk checkpoint references instead of embedding ------------------
    #: The option that names this generator's weights file, for messages on a moved or changed file
    #: (e.g. "checkpoint"); None: the generator reads no file.
    weights_option: str | None = None

    @property
    def weights_files(self) -> tuple[str, ...]:
        """The files this generator's pretrained weights were read from.

        A walk checkpoint records their paths and sha256 instead of the
        weights (docs/architecture.md, Checkpoints). Empty (the default): the
        weights come from no file (e.g. random init), and walk checkpoints
        embed them.
        """
        return ()

    def architecture(self) -> dict | None:
        """class_path + init_args of a generator with this one's network and state-dict keys that reads no file:
        what a walk checkpoint that embeds the weights is rebuilt with when the weights file is gone. None: none."""
        return None

    # -- optional capabilities --------------------------------------------------
    @property
    def walk_mask(self) -> Tensor | None:
        """(latent_dim,): 1 where a walk may move the latent, 0 where it must stay; None: everywhere."""
        return None

    def first_projection(self) -> Tensor:
        """The matrix A (out × latent_dim) of the first affine map from z, for SeFa."""
        raise SteerError(
            f"{type(self).__name__} does not expose its first projection, so closed-form "
            "(SeFa) directions are not available for it; use PCA or trajectories instead."
        )

    def features(self, z: Tensor, layer: str, y: Tensor | None = None) -> Tensor:
        """Activations of ``layer`` for latents ``z`` (for PCA directions)."""
        raise SteerError(f"{type(self).__name__} does not expose intermediate features, so PCA (GANSpace) directions "
                         "are not available for it; use `steer discover sefa`, or trajectories (`steer discover trajectories`).")

    # -- freezing -------------------------------------------------------------
    def freeze(self) -> Generator:
        """Eval mode and no gradients to the weights, kept through ``.train()`` calls.

        Lightning calls ``train()`` on the whole LightningModule at fit start; a
        frozen generator must not switch its BatchNorm or spectral norm back to
        training behaviour, so ``train`` keeps it in eval mode.
        """
        self._frozen = True
        self.requires_grad_(False)
        return self.eval()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def train(self, mode: bool = True) -> Generator:
        return super().train(mode and not self._frozen)
