"""Small user generators for the CustomGenerator tests (stand-ins for a model a user brings)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from steer.generators import CustomGenerator


class TinyDeconv(nn.Module):
    """DCGAN-like: z (N, d, 1, 1) → 8×8 RGB in [-1, 1] (tanh), with a BatchNorm."""

    def __init__(self, latent_dim: int = 6, width: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 3, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class TinyConditional(nn.Module):
    """Flat z and a class (one-hot rows, or indices when ``index``) → 4×4 RGB in [0, 1] (sigmoid)."""

    def __init__(self, latent_dim: int = 5, num_classes: int = 3, index: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, num_classes) if index else None
        self.fc = nn.Linear(latent_dim + num_classes, 3 * 4 * 4)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        y = self.embed(y) if self.embed is not None else y
        return torch.sigmoid(self.fc(torch.cat([z, y], dim=1))).view(-1, 3, 4, 4)


class Unbounded(nn.Module):
    """Flat z → 4×4 RGB with no output squashing (values beyond [-1, 1])."""

    def __init__(self, latent_dim: int = 5) -> None:
        super().__init__()
        self.fc = nn.Linear(latent_dim, 3 * 4 * 4)
        nn.init.constant_(self.fc.bias, 5.0)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc(z).view(-1, 3, 4, 4)


class ConditionalDCGAN(nn.Module):
    """A DCGAN-style cGAN: z (N, nz, 1, 1) and one-hot y (N, classes) as extra channels → 8×8 RGB, tanh."""

    def __init__(self, nz: int = 6, num_classes: int = 3, width: int = 8) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz + num_classes, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.main(torch.cat([z, y[:, :, None, None]], dim=1))



class ConditionalCustom(CustomGenerator):
    """A CustomGenerator of :class:`ConditionalDCGAN` (6-d z, 3 classes, 8 px) with no options of its own, so that a
    spec names it as ``{"class_path": "tests.support.user_models.ConditionalCustom"}``."""

    def __init__(self) -> None:
        with torch.random.fork_rng(devices=[]):  # the user's model draws its weights from the global generator
            torch.manual_seed(0)
            super().__init__(f"{__name__}.ConditionalDCGAN", latent_dim=6, resolution=8, num_classes=3,
                             class_input="onehot", latent_shape="image")
