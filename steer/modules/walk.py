"""WalkModule: learn a walk on a frozen generator so that it reproduces an image edit."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from steer.edits import Edit
from steer.errors import SteerError
from steer.generators import reference
from steer.generators.base import Generator
from steer.losses import Loss, MaskedL2
from steer.media import grid, log_image
from steer.modules.recorded import RecordedModule
from steer.objective import steer_grid, steer_pairs
from steer.steerability_metric import SteerabilityMetric, SteerabilityValues
from steer.walks import LinearWalk, Walk

WalkFactory = Callable[[int, int, int | None], Walk]

# The validation and test errors are torchmetrics states, synced across ranks by compute(): Lightning's hint to
# sync the logged values again does not apply to them.
warnings.filterwarnings(
    "ignore", message=r"It is recommended to use `self\.log\('(val|test)/(walk_error/[^']*|baseline_error/[^']*|"
                      r"achieved_alpha/[^']*|loss)', "
)


class WalkModule(RecordedModule):
    """Trains ``walk`` so that G(walk(z, α)) matches edit(G(z), α) (docs/methods.md §1).

    The generator is frozen (eval mode, no gradients, in no optimizer); the walk
    is the only trainable part. Batches are dicts with ``z``, ``alpha`` and, for
    a conditional generator, ``y`` (see LatentDataModule); ``alpha`` may hold K
    rows per latent (LatentDataModule's ``alphas_per_latent``), which share one
    target pass G(z). Validation measures
    the masked L2 of the walk and of the unwalked image at every α of the
    edit's test grid, as metrics that sync across ranks. Test (``train.py
    test``) measures the steerability on the test latents: per test α the
    walk and baseline errors and the achieved α (SteerabilityMetric), logged
    as ``test/…`` and kept in ``steerability_values``. Predict returns the
    walk across the test α and the edit targets for each latent.

    Speed options (docs/PERFORMANCE.md): ``compile`` runs the frozen generator
    through ``torch.compile`` (compiled on the first step of each batch shape);
    ``channels_last`` stores its convolution weights, and so its activations,
    channels-last. Both leave the outputs the same up to float rounding and the
    checkpoint format unchanged. bf16 is the Trainer's ``precision="bf16-mixed"``:
    the generator runs under autocast, the loss and metrics in fp32.

    Checkpoints (docs/architecture.md): a generator whose pretrained weights
    come from a file is referenced (its spec, the file's path and sha256),
    not embedded; ``embed_generator`` embeds the weights instead, for one
    self-contained file. A generator that reads no file is always embedded.
    """

    #: Steps between reads of the loss-finiteness record when training on an
    #: accelerator, where each read is a host-device sync; on the CPU every step
    #: is checked (a read there costs nothing). None: that default.
    finite_check_every: int | None = None

    def __init__(
        self,
        generator: Generator,
        edit: Edit,
        walk: WalkFactory = LinearWalk,
        loss: Loss | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        strip_latents: int = 4,
        compile: bool = False,
        channels_last: bool = False,
        embed_generator: bool = False,
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
        # nan_strategy "disable": torchmetrics' NaN check is a host-device sync per update (18 per validation
        # step); a NaN error now shows as a NaN mean instead of being dropped.
        self.val_walk = nn.ModuleList(MeanMetric(nan_strategy="disable") for _ in self.test_alphas)
        self.val_base = nn.ModuleList(MeanMetric(nan_strategy="disable") for _ in self.test_alphas)
        self.steerability = SteerabilityMetric(edit, self.test_alphas)
        self.steerability_values: SteerabilityValues | None = None  # of the last test run
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)
        if compile:
            # In place (nn.Module.compile): the state dict keeps its keys, so checkpoints do not change.
            self.generator.compile(dynamic=False)
        self._finite: _FiniteRecord | None = None
        self.embed_generator = embed_generator
        self._generator_entry: dict | None = None  # the record's generator entry, made at the first save

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.walk.parameters())

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self._finite is not None and self.global_step - self._finite.start_step >= self._finite.every:
            self._check_finite()  # the read that is due, before this step runs on a possibly spoilt walk
        pair = steer_pairs(self.generator, self.edit, self.walk, batch["z"], batch["alpha"], batch.get("y"))
        loss = self.loss(pair.walked, pair.target, pair.mask)
        self._watch_finite(loss, batch)
        if self._logging_step():
            self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["alpha"]))
        return loss

    def _logging_step(self) -> bool:
        """Whether Lightning will use a ``self.log`` made now (one costs about as much as a small step).

        Lightning hands on-step values to the logger every ``log_every_n_steps``
        steps; the progress bar, when there is one, shows them at every step.
        """
        trainer = self._trainer
        if trainer is None:
            return False
        every = trainer.log_every_n_steps
        return (trainer.progress_bar_callback is not None or bool(trainer.fast_dev_run) or every <= 1
                or (self.global_step + 1) % every == 0)

    # -- a non-finite loss stops training and names the step -------------------------------
    def _watch_finite(self, loss: Tensor, batch: dict[str, Tensor]) -> None:
        """Stop at a NaN or infinite loss without a host-device sync per step.

        On the CPU the loss is read every step. On an accelerator the check stays
        on the device (whether every loss since the last read was finite, how
        many steps were, the first bad value) and is read every
        ``finite_check_every`` steps (default 50), before any checkpoint is
        written and when training ends; the error names the first bad step.
        """
        every = self.finite_check_every or (1 if loss.device.type == "cpu" else 50)
        step, index = self.global_step, batch.get("index")
        if every == 1:
            finite = bool(torch.isfinite(loss))
            if not self._finite_everywhere(finite):
                value = loss.item() if not finite else "non-finite on another rank"
                raise _nonfinite(value, step, None if index is None else int(index[0]))
            return
        if self._finite is None:
            self._finite = _FiniteRecord(step, every, None if index is None else index[0], loss.detach())
        self._finite.update(loss.detach())

    def _check_finite(self) -> None:
        """Read the device-side record (one sync); raise if a loss since the last read was not finite, on this
        rank or any other."""
        record, self._finite = self._finite, None
        if record is not None:
            if not self._finite_everywhere(bool(record.clean)):
                record.check()
                raise _nonfinite("non-finite on another rank", record.start_step, None)

    def _finite_everywhere(self, finite: bool) -> bool:
        """Whether the loss was finite on every rank (under DDP one collective, so every rank stops together
        instead of the others waiting for the stopped one); on one process, ``finite``."""
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return finite
        return not trainer.strategy.reduce_boolean_decision(not finite, all=False)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._check_finite()  # never write a walk that a NaN step has spoilt
        if self._generator_entry is None:
            self._generator_entry = reference.entry(self.generator, self.embed_generator)
        reference.refer(checkpoint, self._generator_entry)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        where = getattr(self._trainer, "ckpt_path", None) or "the checkpoint"
        checkpoint["state_dict"] = reference.completed_state(self, checkpoint, str(where))

    def on_train_end(self) -> None:
        self._check_finite()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        walked_row, target_row = [], []
        for k, pair in enumerate(steer_grid(self.generator, self.edit, self.walk, batch["z"], self.test_alphas,
                                            batch.get("y"))):
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

    # -- test: the steerability evaluation as a Lightning loop; predict: walked images ------------
    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Add the batch to the steerability metric; returns the walk and the masked edit targets of its first
        ``strip_latents`` latents, ``walked`` and ``target`` (A, K, C, H, W), for pictures."""
        pairs = list(steer_grid(self.generator, self.edit, self.walk, batch["z"], self.test_alphas, batch.get("y")))
        self.steerability.update(pairs)
        return {"walked": torch.stack([p.walked[: self.strip_latents] for p in pairs]),
                "target": torch.stack([(p.target * p.mask)[: self.strip_latents] for p in pairs])}

    def on_test_epoch_end(self) -> None:
        values = self.steerability_values = self.steerability.compute()
        self.steerability.reset()
        sliders = self.edit.slider_names if self.edit.sliders > 1 else [None]
        for k, alpha in enumerate(self.test_alphas.cpu()):
            label = self.edit.describe(alpha)
            self.log(f"test/walk_error/{label}", float(values.walk_error[k]))
            self.log(f"test/baseline_error/{label}", float(values.baseline_error[k]))
            for s, name in enumerate(sliders):
                self.log(f"test/achieved_alpha/{label}" + (f"/{name}" if name else ""), float(values.achieved[k, s]))

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Per latent of the batch: the walk across the test α and the masked edit targets, ``walked`` and
        ``target`` (N, A, C, H, W), and the latent's ``index`` in the prediction set."""
        pairs = list(steer_grid(self.generator, self.edit, self.walk, batch["z"], self.test_alphas, batch.get("y")))
        return {"walked": torch.stack([p.walked for p in pairs], 1),
                "target": torch.stack([p.target * p.mask for p in pairs], 1), "index": batch["index"]}


def _nonfinite(value: float, step: int, batch: int | None) -> SteerError:
    where = f"step {step}" + (f" (batch {batch})" if batch is not None else "")
    return SteerError(
        f"the training loss became {value} at {where}; training stopped. "
        "Lower the learning rate or check the generator and edit for NaN outputs."
    )


class _FiniteRecord:
    """Device-side record of the losses since ``start_step``: read only by :meth:`check`."""

    def __init__(self, start_step: int, every: int, start_index: Tensor | None, like: Tensor) -> None:
        self.start_step, self.every, self.start_index = start_step, every, start_index
        self.clean = torch.ones((), dtype=torch.bool, device=like.device)  # every loss so far finite
        self.clean_steps = torch.zeros((), dtype=torch.long, device=like.device)  # steps before the first bad one
        self.value = torch.zeros((), dtype=like.dtype, device=like.device)  # the first bad loss

    def update(self, loss: Tensor) -> None:
        finite = torch.isfinite(loss)
        self.value = torch.where(self.clean & ~finite, loss, self.value)
        self.clean = self.clean & finite
        self.clean_steps = self.clean_steps + self.clean

    def check(self) -> None:
        if bool(self.clean):
            return
        steps = int(self.clean_steps)
        batch = None if self.start_index is None else int(self.start_index) + steps
        raise _nonfinite(self.value.item(), self.start_step + steps, batch)
