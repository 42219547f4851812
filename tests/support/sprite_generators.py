"""A sprites generator whose x position is a known latent direction, for attribute-steering tests."""

import torch
from torch import nn

from steer.generators import Generator
from steer.sprites import render


class ShiftingSprite(Generator):
    """One white square at x = 16 + 2·z[:, 0] px (z[:, 0] = 0 when sampled), clamped to [x_min, x_max] (the model's limit), y = 16; 32 px.

    A LinearWalk with w = (max_shift / 2, 0) then moves x by exactly α px until the clamp.
    """

    def __init__(self, x_min: float = 4.0, x_max: float = 28.0) -> None:
        super().__init__(latent_dim=2, resolution=32)
        self.x_min, self.x_max = x_min, x_max
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def sample_latent(self, n, generator=None):
        """Every sprite starts at the centre (x = 16); z[:, 1] is noise the image ignores."""
        return torch.cat([torch.zeros(n, 1), torch.randn(n, 1, generator=generator)], 1)

    def synthesize(self, z, y):
        n = len(z)
        x = (16 + 2 * z[:, 0]).clamp(self.x_min, self.x_max)
        ones = torch.ones(n, device=z.device)
        return render(torch.zeros(n, dtype=torch.long), x, 16 * ones, 0.25 * ones, 0 * ones,
                      torch.ones(n, 3, device=z.device), 32) + 0 * self.anchor
