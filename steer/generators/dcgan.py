"""A DCGAN generator (Radford et al. 2016): transposed convolutions from a 1×1 latent."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from steer.errors import SteerError
from steer.generators.base import Generator


class DCGAN(Generator):
    """Trainable DCGAN generator for square images of 32 or 64 px (any power of two ≥ 8).

    Layout: ConvT(d→8w, 4, 1, 0) to 4×4, then stride-2 ConvT blocks doubling
    the size and halving the width, BatchNorm + ReLU, Tanh at the end. With
    ``num_classes`` set, a learned class embedding is concatenated to z.
    ``self.main`` has the same layer indices as the PyTorch DCGAN tutorial, so
    its state dicts load directly.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        resolution: int = 64,
        width: int = 64,
        channels: int = 3,
        num_classes: int | None = None,
        class_embedding_dim: int = 16,
        truncation: float | None = None,
    ) -> None:
        super().__init__(latent_dim, resolution, num_classes, truncation)
        ups = resolution.bit_length() - 3  # stride-2 blocks after the 4×4 start
        if resolution < 8 or resolution & (resolution - 1):
            raise SteerError(f"DCGAN resolution must be a power of two ≥ 8 (e.g. 32, 64), got {resolution}.")
        if width <= 0 or channels <= 0:
            raise SteerError(f"DCGAN width and channels must be positive, got width={width}, channels={channels}.")
        self.channels = channels
        self.embed = nn.Embedding(num_classes, class_embedding_dim) if num_classes else None
        in_dim = latent_dim + (class_embedding_dim if num_classes else 0)
        widths = [width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. 8w, 4w, 2w, w at 64 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def _input(self, z: Tensor, y: Tensor | None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return z[:, :, None, None]

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.main(self._input(z, y))

    def first_projection(self) -> Tensor:
        """A = first ConvT weight (d, C, k, k) reshaped to (C·k·k) × d, z rows only."""
        w = self.main[0].weight[: self.latent_dim]
        return w.reshape(self.latent_dim, -1).T.detach()
