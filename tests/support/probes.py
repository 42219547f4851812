"""Test-only callbacks for train.py runs, added with ``--trainer.callbacks+=tests.support.probes.<Name>``."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from pytorch_lightning import Callback, LightningModule, Trainer

from steer.losses import MaskedL2
from steer.objective import repeat_alpha, steer_pair


class RecordRank(Callback):
    """Saves what this rank saw to ``out``/rank<global rank>.pt when training ends.

    ``latents``: every training latent it drew; ``walk``: its walk's final state;
    for the last validation, ``val_index`` (its samples), ``val_errors`` (label
    of α → each sample's walk error, recomputed here) and ``logged`` (label →
    the walk error the module logged, i.e. the synced value).
    """

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.latents: list[torch.Tensor] = []
        self.val_index: list[torch.Tensor] = []
        self.val_errors: dict[str, list[torch.Tensor]] = {}
        self.logged: dict[str, float] = {}

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self.latents.append(batch["z"].detach().cpu().clone())

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.val_index, self.val_errors = [], {}

    @torch.no_grad()
    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        z, y = batch["z"], batch.get("y")
        self.val_index.append(batch["index"].cpu())
        for alpha in pl_module.test_alphas:
            pair = steer_pair(pl_module.generator, pl_module.edit, pl_module.walk, z, repeat_alpha(alpha, len(z), z), y)
            errors = MaskedL2()(pair.walked, pair.target, pair.mask, reduction="none")
            self.val_errors.setdefault(pl_module.edit.describe(alpha.cpu()), []).append(errors.cpu())

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            self.logged = {label: float(metrics[f"val/walk_error/{label}"]) for label in self.val_errors}

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save({
            "world_size": trainer.world_size,
            "latents": torch.cat(self.latents),
            "walk": {k: v.detach().cpu().clone() for k, v in pl_module.walk.state_dict().items()},
            "val_index": torch.cat(self.val_index),
            "val_errors": {label: torch.cat(e) for label, e in self.val_errors.items()},
            "logged": self.logged,
        }, self.out / f"rank{trainer.global_rank}.pt")


class StallAt(Callback):
    """Holds the run inside training step ``step`` + 1 (gradients computed, optimizer not stepped) until killed."""

    def __init__(self, step: int, seconds: float = 300.0) -> None:
        self.step, self.seconds = step, seconds

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer) -> None:
        if trainer.global_step == self.step:
            time.sleep(self.seconds)
            raise RuntimeError(f"StallAt({self.step}) was not killed within {self.seconds} s")


class RecordGANRank(Callback):
    """Saves what this rank of a GANModule fit saw to ``out``/rank<global rank>.pt when training ends.

    ``latents``: every latent its generator was given in training mode;
    ``images``: its real training images; ``state``: the module's final
    parameters and buffers; for the last validation, ``val_images`` (its
    share), ``counts`` (its own, unsynced histogram states) and ``logged``
    (the histogram intersections the module logged, i.e. the synced values).
    """

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.latents: list[torch.Tensor] = []
        self.images: list[torch.Tensor] = []
        self.val_images: list[torch.Tensor] = []
        self.counts: dict[str, torch.Tensor] = {}
        self.logged: dict[str, float] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pl_module.generator.register_forward_pre_hook(self._record_latent)

    def _record_latent(self, generator: torch.nn.Module, args: tuple) -> None:
        if generator.training:
            self.latents.append(args[0].detach().cpu().clone())

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self.images.append(batch["image"].cpu().clone())

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.val_images = []

    def on_validation_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        self.val_images.append(batch["image"].cpu().clone())

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # callbacks run before the module's hook, which syncs, logs and resets the histograms
        states = ("real_counts", "fake_counts", "real_n", "fake_n")
        self.counts = {k: getattr(pl_module.histograms, k).cpu().clone() for k in states}

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.logged = {k.rsplit("/", 1)[-1]: float(v) for k, v in trainer.callback_metrics.items()
                       if k.startswith("val/hist_intersection/")}

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save({
            "world_size": trainer.world_size,
            "latents": torch.cat(self.latents),
            "images": torch.cat(self.images),
            "state": {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()},
            "parameters": [k for k, _ in pl_module.named_parameters()],
            "val_images": torch.cat(self.val_images),
            "counts": self.counts,
            "logged": self.logged,
        }, self.out / f"rank{trainer.global_rank}.pt")
