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

    def train(self, mode: bool = True) -> "MaskedLPIPS":
        return super().train(False)  # a fixed metric: its dropout and BN never train

    def forward(self, a: Tensor, b: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        d = self.lpips(a * mask, b * mask).flatten()
        return d if reduction == "none" else d.mean()
