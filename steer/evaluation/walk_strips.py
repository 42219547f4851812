"""Walked images of a Lightning predict run (``steer predict``) as one PNG strip per latent."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import BasePredictionWriter

from steer.media import grid, save_png
from steer.reports.folder import LockedFolder, beside_checkpoint, check_out_dir

# Each batch carries its latents' own indices ("index"); Lightning's sampler-based batch indices are not needed.
warnings.filterwarnings("ignore", message="Couldn't infer the batch indices fetched from your dataloader")


class WalkStrips(BasePredictionWriter, LockedFolder):
    """Writes ``latent_<index>.png`` per predicted latent: the walk across the test α above the masked edit targets.

    Each rank writes the strips of its own latents as its batches finish; rank zero holds the folder's lock
    until the predict loop ends.

    Args:
        out: folder of the strips; default: ``predictions`` beside the checkpoint (--ckpt_path).
        overwrite: replace strips already in ``out``.
    """

    def __init__(self, out: str | None = None, overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.out = Path(out) if out else None
        self.overwrite = overwrite

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.out = self.out or beside_checkpoint(trainer, "predictions")
        self.hold(trainer, self.out, "--predictions.out")
        check_out_dir(self.out, self.overwrite, sorted(p.name for p in self.out.glob("latent_*.png")), "--predictions.out")
        self.out.mkdir(parents=True, exist_ok=True)

    def write_on_batch_end(self, trainer: Trainer, pl_module: LightningModule, prediction: Any,
                           batch_indices: Sequence[int] | None, batch: Any, batch_idx: int,
                           dataloader_idx: int) -> None:
        for walked, target, index in zip(prediction["walked"], prediction["target"], prediction["index"]):
            save_png(grid([walked, target]), self.out / f"latent_{int(index):05d}.png")
