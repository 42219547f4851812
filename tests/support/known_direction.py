"""A generator whose zoom direction is known exactly: the last latent coordinate (as graph α)."""

import torch
import torch.nn.functional as F
from torch import nn

from steer.edits import Zoom
from steer.generators import Generator


class ZoomingGenerator(Generator):
    """Smooth random 32 px textures from z[:, :-1], zoomed by exp(z[:, -1]).

    A BatchNorm sits in the path so that tests can tell whether the generator
    was left in eval mode (its running statistics would change in train mode).
    """

    def __init__(self, latent_dim: int = 9) -> None:
        super().__init__(latent_dim=latent_dim, resolution=32)
        self.texture = nn.Linear(latent_dim - 1, 3 * 4 * 4)
        nn.init.normal_(self.texture.weight, std=0.5)
        self.norm = nn.BatchNorm2d(3)

    def sample_latent(self, n, generator=None):
        z = torch.randn(n, self.latent_dim - 1, generator=generator)
        return torch.cat([z, torch.zeros(n, 1)], 1)

    def synthesize(self, z, y):
        coarse = self.norm(self.texture(z[:, :-1]).view(-1, 3, 4, 4))
        image = torch.tanh(F.interpolate(coarse, size=32, mode="bicubic", align_corners=False))
        return Zoom()(image, Zoom().alpha_from_walk(z[:, -1:]))[0]
