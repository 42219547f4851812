"""Reconstruction losses between a walked image and its edit target, over valid pixels."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from steer.errors import SteerError


class Loss(nn.Module):
    """``loss(a, b, mask)``: scalar (``reduction='mean'``) or one value per image ('none')."""

    def forward(self, a: Tensor, b: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        raise NotImplementedError


class MaskedL2(Loss):
    """Σ m·(a−b)² / Σ m: the mean squared error over the pixels the edit defines.

    'mean' pools the whole batch (the formula over all its pixels), 'none'
    gives each image's own masked mean.
    """

    def forward(self, a: Tensor, b: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        mask = mask.expand_as(a)
        sq = mask * (a - b) ** 2
        if reduction == "none":
            return sq.flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1e-8)
        return sq.sum() / mask.sum().clamp_min(1e-8)


ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def alexnet_weights_path() -> Path:
    """Where torchvision looks for the ImageNet AlexNet weights LPIPS needs."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


class MaskedLPIPS(Loss):
    """LPIPS(m·a, m·b) with the AlexNet backbone and the v0.1 linear layers.

    The backbone's ImageNet weights cannot be downloaded at run time: if the
    file is missing, construction fails with one message saying where to put
    it. ``random_backbone=True`` builds LPIPS on an untrained AlexNet (the
    lpips package's ``pnet_rand``) — meaningless as a perceptual distance, for
    exercising the plumbing in tests only.
    """

    def __init__(self, random_backbone: bool = False) -> None:
        super().__init__()
        try:
            import lpips
        except ImportError:
            raise SteerError("MaskedLPIPS needs the 'lpips' package: pip install lpips.") from None
        if not random_backbone and not alexnet_weights_path().is_file():
            raise SteerError(
                f"LPIPS needs the ImageNet AlexNet weights, which steer never downloads. Put "
                f"{ALEXNET_FILE} (from torchvision's AlexNet_Weights.IMAGENET1K_V1) in "
                f"{alexnet_weights_path().parent}/ ($TORCH_HOME/hub/checkpoints/), or use the "
                "masked L2 loss (steer.losses.MaskedL2), which works now."
            )
        self.random_backbone = random_backbone
        self.lpips = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=random_backbone, verbose=False)
        self.lpips.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> MaskedLPIPS:
        return super().train(False)  # a fixed metric: its dropout and BN never train

    def forward(self, a: Tensor, b: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        d = self.lpips(a * mask, b * mask).flatten()
        return d if reduction == "none" else d.mean()


class MaskedLowPass(Loss):
    """The masked error after a Gaussian low-pass filter (Plumerault & Le Borgne; docs/methods.md §2).

        L = ‖F{m·(a−b)} · F{k_σ}‖² / (H·W) / Σ m

    F is the 2-D DFT; dividing by H·W (Parseval) makes it the energy of the
    blurred masked difference, Σ (k_σ ⊛ m·(a−b))², so a difference too smooth to
    be blurred gives exactly the masked L2. k_σ is a Gaussian of width σ pixels
    sampled on the image's periodic grid and normalised to sum 1 (the blur is
    circular). σ is ``sigma`` pixels at ``reference_resolution`` and scales with
    the image width (their σ = 3 at 128 px is 1.5 at 64 px); with
    ``reference_resolution=None`` it is ``sigma`` pixels at any size.
    Reductions as MaskedL2: 'mean' pools the batch, 'none' is per image.
    """

    def __init__(self, sigma: float = 3.0, reference_resolution: int | None = 128) -> None:
        super().__init__()
        if not sigma > 0 or (reference_resolution is not None and reference_resolution <= 0):
            raise SteerError(f"MaskedLowPass needs sigma > 0 and a positive reference_resolution, got "
                             f"sigma={sigma}, reference_resolution={reference_resolution}.")
        self.sigma, self.reference_resolution = sigma, reference_resolution

    def sigma_pixels(self, width: int) -> float:
        """σ in pixels of an image ``width`` pixels wide."""
        return self.sigma if self.reference_resolution is None else self.sigma * width / self.reference_resolution

    def transfer(self, height: int, width: int, like: Tensor) -> Tensor:
        """F{k_σ} (H, W): the DFT of the normalised periodic Gaussian (real and even)."""
        sigma = self.sigma_pixels(width)

        def axis(n: int) -> Tensor:
            offset = torch.arange(n, device=like.device, dtype=like.dtype)
            distance = torch.minimum(offset, n - offset)  # circular distance to pixel 0
            kernel = torch.exp(-(distance**2) / (2 * sigma**2))
            return torch.fft.fft(kernel / kernel.sum()).real

        return axis(height)[:, None] * axis(width)[None, :]  # separable: F{k_y k_x} = F{k_y} F{k_x}

    def low_pass(self, images: Tensor) -> Tensor:
        """``images`` blurred by k_σ: F⁻¹{F{images} · F{k_σ}}."""
        height, width = images.shape[-2:]
        spectrum = torch.fft.fft2(images) * self.transfer(height, width, images)
        return torch.fft.ifft2(spectrum).real

    def forward(self, a: Tensor, b: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        mask = mask.expand_as(a)
        height, width = a.shape[-2:]
        spectrum = torch.fft.fft2(mask * (a - b)) * self.transfer(height, width, a)  # F{m·(a−b)} · F{k_σ}
        energy = (spectrum.abs() ** 2).flatten(1).sum(1) / (height * width)  # Parseval: = Σ (k_σ ⊛ m·(a−b))²
        if reduction == "none":
            return energy / mask.flatten(1).sum(1).clamp_min(1e-8)
        return energy.sum() / mask.sum().clamp_min(1e-8)
