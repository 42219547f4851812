"""Images for people: strips and grids as tensors, PNG and GIF files, logger uploads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from steer.checkpoint import atomic_write


def to_uint8(images: Tensor) -> Tensor:
    """Images in [-1, 1] (…, C, H, W) → uint8 in [0, 255], clipped."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def grid(rows: Sequence[Tensor], pad: int = 2) -> Tensor:
    """Rows of equally many images (each (K, C, H, W) in [-1, 1]) → one (C, H', W') image in [-1, 1]."""
    stacked = torch.cat([r.detach().float().cpu() for r in rows])
    return make_grid(stacked, nrow=len(rows[0]), padding=pad, pad_value=1.0)


def pil(image: Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] → PIL image."""
    array = to_uint8(image).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def save_png(image: Tensor, path: Path) -> Path:
    """A PNG of one (C, H, W) image in [-1, 1], written atomically."""
    return atomic_write(path, lambda f: pil(image).save(f, format="PNG"))


def save_gif(frames: Sequence[Tensor], path: Path, ms_per_frame: int = 120, bounce: bool = True) -> Path:
    """Animated GIF of (C, H, W) frames in [-1, 1]; ``bounce`` plays forward then back."""
    images = [pil(f) for f in frames]
    if bounce and len(images) > 2:
        images = images + images[-2:0:-1]
    return atomic_write(
        path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    )


def log_image(logger: object, key: str, image: Tensor, step: int, caption: str = "") -> None:
    """Send one (C, H, W) image in [-1, 1] to a W&B or TensorBoard logger; other loggers are skipped."""
    if hasattr(logger, "log_image"):  # WandbLogger
        logger.log_image(key=key, images=[pil(image)], step=step, caption=[caption] if caption else None)
    elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
        logger.experiment.add_image(key, to_uint8(image), global_step=step)
