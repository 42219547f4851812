"""Lightning callbacks steer adds to every run."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info
from pytorch_lightning.utilities.exceptions import SIGTERMException


class Throughput(Callback):
    """Times the training steps (forward, backward, optimizer); logs images/s and prints it at the end.

    Data loading and validation are outside the timed span, so the figure is
    the walk step's own speed; the wall-clock figure of the whole fit is
    printed beside it. The metric ``train/images_per_second`` (per rank) is
    logged on Lightning's logging steps (``log_every_n_steps``) and once more
    when the fit ends.

    On CUDA a step returns once its kernels are queued, not done: on each
    logging step, and when the fit ends, the device is synchronised before the
    clock is read, so the work queued since the last read counts in the timed
    span (one sync per logging interval, none on the steps between).
    """

    def __init__(self) -> None:
        self.images = 0
        self.step_seconds = 0.0
        self.fit_start = 0.0
        self._t0 = 0.0

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.fit_start = time.perf_counter()

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        logging = trainer._logger_connector.should_update_logs or bool(trainer.fast_dev_run)  # Lightning's own rule
        if logging:
            synchronize(pl_module.device)
        self.step_seconds += time.perf_counter() - self._t0
        self.images += len(next(iter(batch.values())))
        if logging:
            pl_module.log("train/images_per_second", self.images_per_second())

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        t0 = time.perf_counter()
        synchronize(pl_module.device)  # work the last steps queued after the last logging step
        self.step_seconds += time.perf_counter() - t0

    def images_per_second(self) -> float:
        return self.images / self.step_seconds if self.step_seconds else 0.0

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.images:
            return
        wall = time.perf_counter() - self.fit_start
        for logger in trainer.loggers if trainer.is_global_zero else []:
            logger.log_metrics({"train/images_per_second": self.images_per_second()}, step=trainer.global_step)
        rank_zero_info(
            f"train throughput: {self.images_per_second():.1f} images/s per rank in the training step "
            f"({self.images} images in {self.step_seconds:.1f} s); whole fit {wall:.1f} s with validation "
            f"and data ({self.images / wall:.1f} images/s)."
        )


def synchronize(device: torch.device) -> None:
    """Wait until the work queued on ``device`` is done: CUDA only (on the CPU a call returns when its work is
    done)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class FinalCheckpoint(Callback):
    """Saves last.ckpt when training ends after the last validation.

    With an endless latent stream the epoch never ends, so Lightning's
    ModelCheckpoint saves only after validations; the steps after the last
    one would be lost without this.
    """

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        save_last(trainer)


def save_last(trainer: Trainer) -> str | None:
    """Save the run's last.ckpt now, unless its ModelCheckpoint saved this step already; the path of last.ckpt, or
    None for a run that keeps no last.ckpt."""
    ckpt = trainer.checkpoint_callback
    if not isinstance(ckpt, ModelCheckpoint) or not ckpt.dirpath or not ckpt.save_last:
        return None
    path = str(Path(ckpt.dirpath) / f"{ckpt.CHECKPOINT_NAME_LAST}{ckpt.FILE_EXTENSION}")
    if ckpt._last_global_step_saved != trainer.global_step or not Path(path).is_file():
        trainer.save_checkpoint(path, weights_only=ckpt.save_weights_only)
        ckpt.last_model_path = path
    return path


class SignalCheckpoint(Callback):
    """SIGTERM (what schedulers send before they end a job) and SIGINT (Ctrl+C) stop training after the current step
    with a resumable last.ckpt.

    Lightning stops after the step on SIGTERM (raising ``SIGTERMException``); SIGINT is made to do the same, and
    a second Ctrl+C interrupts at once. ``signum`` is the signal that stopped the run, ``saved`` the checkpoint
    written (the command line exits with 128 + signum).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.saved: str | None = None
        self._previous: signal.Handlers | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not \
                signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._restore()
        stop_after_step = signal.getsignal(signal.SIGTERM)
        if not callable(stop_after_step):  # Lightning's handler is not in place: interrupt as Python does
            raise KeyboardInterrupt
        self.signum = signum
        stop_after_step(signal.SIGTERM, frame)

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            self.signum = self.signum or signal.SIGTERM
            if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
                self.saved = save_last(trainer)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()
