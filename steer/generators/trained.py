"""A generator that steer trained itself, read from its train.py checkpoint."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from steer.generators.base import Generator


class TrainedGenerator(Generator):
    """The generator inside a steer checkpoint (a GAN run, a β-VAE run, a joint run), with its trained weights.

    A walk on a generator steer trained names it by its checkpoint:
    ``generator: {class_path: steer.generators.TrainedGenerator, init_args: {checkpoint: PATH}}``.
    The checkpoint's recorded config rebuilds the network (nothing in the
    file runs); every capability of the inner generator (first projection,
    features, walk mask) is passed through.
    """

    def __init__(self, checkpoint: str) -> None:
        from steer.restore import load_generator  # restore imports the CLI, which imports generators

        inner = load_generator(checkpoint)
        super().__init__(inner.latent_dim, inner.resolution, inner.num_classes, inner.truncation)
        self.checkpoint = checkpoint
        self.inner = inner

    def sample_latent(self, n: int, generator=None) -> Tensor:  # noqa: ANN001 - torch.Generator
        return self.inner.sample_latent(n, generator)

    def synthesize(self, z: Tensor, y: Optional[Tensor]) -> Tensor:
        return self.inner.synthesize(z, y)

    @property
    def walk_mask(self) -> Optional[Tensor]:
        return self.inner.walk_mask

    def first_projection(self) -> Tensor:
        return self.inner.first_projection()

    def features(self, z: Tensor, layer: str, y: Optional[Tensor] = None) -> Tensor:
        return self.inner.features(z, layer, y)
