"""The decoder of a β-VAE (steer.modules.BetaVAE) seen as a Generator."""

from __future__ import annotations

from torch import Tensor, nn

from steer.errors import SteerError
from steer.generators.base import Generator


class VAEDecoder(Generator):
    """Decoder p(x|z) of a β-VAE for square images of 8, 16, 32, 64, … px (a power of two ≥ 8).

    Layout of ``self.main`` (as in Burgess et al. 2018's dSprites model, scaled
    by ``width`` and ``hidden``)::

        0 Linear(latent_dim → hidden)   1 ReLU
        2 Linear(hidden → width·4·4)    3 ReLU     4 Unflatten to (width, 4, 4)
        then per doubling up to ``resolution``: ConvT(width → width, 4, 2, 1), ReLU;
        the last ConvT maps to ``channels`` and gives Bernoulli logits.

    ``logits(z)`` are the per-pixel Bernoulli logits l the VAE's loss uses; the
    image is the Bernoulli mean mapped to [-1, 1]: 2σ(l) − 1 = tanh(l/2).
    Latents follow the prior N(0, I) (``sample_latent``, inherited).
    """

    def __init__(
        self,
        latent_dim: int = 10,
        resolution: int = 32,
        channels: int = 3,
        width: int = 32,
        hidden: int = 256,
    ) -> None:
        super().__init__(latent_dim, resolution)
        if resolution < 8 or resolution & (resolution - 1):
            raise SteerError(f"VAEDecoder resolution must be a power of two ≥ 8 (e.g. 32, 64), got {resolution}.")
        if channels <= 0 or width <= 0 or hidden <= 0:
            raise SteerError(f"VAEDecoder channels, width and hidden must be positive, got channels={channels}, "
                             f"width={width}, hidden={hidden}.")
        self.channels, self.width, self.hidden = channels, width, hidden
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, width * 4 * 4), nn.ReLU(),
            nn.Unflatten(1, (width, 4, 4)),
        ]
        for _ in range(doublings(resolution) - 1):
            layers += [nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(width, channels, 4, 2, 1))
        self.main = nn.Sequential(*layers)

    def logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits (N, channels, resolution, resolution) of p(x|z)."""
        return self.main(z)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return (self.logits(z) / 2).tanh()  # 2σ(l) − 1 = tanh(l/2)

    def first_projection(self) -> Tensor:
        """A = the first Linear's weight, (hidden, latent_dim)."""
        return self.main[0].weight.detach()



def doublings(resolution: int) -> int:
    """Stride-2 steps between a 4×4 map and ``resolution`` px."""
    return resolution.bit_length() - 3
