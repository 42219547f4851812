"""WalkModule: learn a walk on a frozen generator so that it reproduces an image edit."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from steer.edits import Edit
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.losses import Loss, MaskedL2
from steer.media import grid, log_image
from steer.objective import repeat_alpha, steer_pair
from steer.walks import LinearWalk, Walk

WalkFactory = Callable[[int, int, Optional[int]], Walk]


class WalkModule(LightningModule):
    """Trains ``walk`` so that G(walk(z, α)) matches edit(G(z), α) (METHODS.md §1).

    The generator is frozen (eval mode, no gradients, in no optimizer); the walk
    is the only trainable part. Batches are dicts with ``z``, ``alpha`` and, for
    a conditional generator, ``y`` (see LatentDataModule). Validation measures
    the masked L2 of the walk and of the unwalked image at every α of the
    edit's test grid, as metrics that sync across ranks.
    """

    def __init__(
        self,
        generator: Generator,
        edit: Edit,
        walk: WalkFactory = LinearWalk,
        loss: Optional[Loss] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        strip_latents: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "edit", "walk", "loss", "optimizer"])
        self.generator = generator.freeze()
        self.edit = edit
        self.walk = walk(generator.latent_dim, edit.sliders, generator.num_classes)
        if not isinstance(self.walk, Walk):
            raise SteerError(f"model.walk must build a steer.walks.Walk, got {type(self.walk).__name__}.")
        self.loss = loss if loss is not None else MaskedL2()
        self.optimizer = optimizer
        self.strip_latents = strip_latents
        self.register_buffer("test_alphas", edit.test_alphas(), persistent=False)
        self.val_walk = nn.ModuleList(MeanMetric() for _ in self.test_alphas)
        self.val_base = nn.ModuleList(MeanMetric() for _ in self.test_alphas)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.walk.parameters())

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        pair = steer_pair(self.generator, self.edit, self.walk, batch["z"], batch["alpha"], batch.get("y"))
        loss = self.loss(pair.walked, pair.target, pair.mask)
        if not torch.isfinite(loss):
            raise SteerError(
                f"the training loss became {loss.item()} at step {self.global_step} (batch {int(batch['index'][0])}); "
                "training stopped. Lower the learning rate or check the generator and edit for NaN outputs."
            )
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        z, y = batch["z"], batch.get("y")
        source = self.generator(z, y)
        walked_row, target_row = [], []
        for k, alpha in enumerate(self.test_alphas):
            pair = steer_pair(self.generator, self.edit, self.walk, z, repeat_alpha(alpha, len(z), z), y, source)
            self.val_walk[k].update(MaskedL2()(pair.walked, pair.target, pair.mask, reduction="none"))
            self.val_base[k].update(MaskedL2()(pair.source, pair.target, pair.mask, reduction="none"))
            if batch_idx == 0:
                walked_row.append(pair.walked[: self.strip_latents])
                target_row.append(pair.target[: self.strip_latents] * pair.mask[: self.strip_latents])
        if batch_idx == 0 and self.global_rank == 0 and self.logger is not None:
            rows = [r for i in range(len(walked_row[0])) for r in (
                torch.stack([w[i] for w in walked_row]), torch.stack([t[i] for t in target_row]))]
            labels = " | ".join(self.edit.describe(a) for a in self.test_alphas.cpu())
            log_image(self.logger, "val/walk_vs_target", grid(rows), self.global_step,
                      caption=f"rows: walk, target (masked) per latent; columns α: {labels}")

    def on_validation_epoch_end(self) -> None:
        walk_errors = []
        for k, alpha in enumerate(self.test_alphas.cpu()):
            label = self.edit.describe(alpha)
            walk_error = self.val_walk[k].compute()
            self.log(f"val/walk_error/{label}", walk_error)
            self.log(f"val/baseline_error/{label}", self.val_base[k].compute())
            if not torch.equal(alpha, self.edit.identity):
                walk_errors.append(walk_error)
            self.val_walk[k].reset()
            self.val_base[k].reset()
        self.log("val/loss", torch.stack(walk_errors).mean(), prog_bar=True)
