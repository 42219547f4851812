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


class ConditionalDCGAN128(nn.Module):
    """A third-party conditional DCGAN as found in public repositories, 128 px: the label goes through an
    embedding and joins z as extra channels; ``forward(noise, labels)`` with noise (N, nz, 1, 1) and labels (N,)
    class indices → (N, nc, 128, 128), tanh. With ``ngf=64`` (the usual width) its weights take 52 MB; tests use a
    narrower one of the same shape."""

    def __init__(self, nz: int = 100, num_classes: int = 10, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(num_classes, num_classes)

        def up(cin: int, cout: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz + num_classes, ngf * 16, 4, 1, 0, bias=False),  # 4×4
            nn.BatchNorm2d(ngf * 16),
            nn.ReLU(True),
            *up(ngf * 16, ngf * 8),  # 8×8
            *up(ngf * 8, ngf * 4),  # 16×16
            *up(ngf * 4, ngf * 2),  # 32×32
            *up(ngf * 2, ngf),  # 64×64
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # 128×128
            nn.Tanh(),
        )

    def forward(self, noise: Tensor, labels: Tensor) -> Tensor:
        return self.main(torch.cat([noise, self.label_emb(labels)[:, :, None, None]], dim=1))


class FixedBatch(nn.Module):
    """Flat z → 8×8 RGB, tanh, with a bug often seen in research code: the batch size of 2 it was tried with is
    written into a reshape, so any other batch fails inside its forward."""

    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(latent_dim, 3 * 8 * 8)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.fc(z)).view(2, 3, 8, 8)
