"""The checkpoint folder of `steer fit`: one writer at a time, and an --overwrite that replaces the previous run.

With ``--overwrite``, the previous run's files (``*.ckpt``, ``config.yaml`` and
the ``report``/``predictions`` folders steer writes beside them) are moved into
``.previous-<time>/`` inside the folder once the new run has started (fit
start, after the model, data and any ``--ckpt_path`` were loaded). They are
removed as soon as the new run has written its first checkpoint, and put back
if it fails before. A ``.previous-*`` left by a killed run is settled by the
next run in that folder the same way. Lightning's ``-v1`` names never appear.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from pytorch_lightning import Callback, LightningModule, Trainer

from steer.errors import SteerError
from steer.locks import FolderLock

PREVIOUS_RUN = ("*.ckpt", "config.yaml", "report", "predictions")  # what a run leaves in its folder
RESUME_KEYS = ("last", "best", "hpc", "registry")  # --ckpt_path values Lightning resolves in the run's own folder


def previous_run(folder: Path) -> list[Path]:
    """The files and folders of the run in ``folder``."""
    return sorted({p for pattern in PREVIOUS_RUN for p in folder.glob(pattern)})


def _resumes_in(dirpath: str, ckpt_path: str) -> bool:
    if ckpt_path in RESUME_KEYS or ckpt_path.startswith("registry:"):
        return True
    return Path(ckpt_path).resolve().parent == Path(dirpath).resolve()


def refuse_overwrite(dirpath: str | None, ckpt_path: str | None, overwrite: bool) -> None:
    """A new run must not write over another run's checkpoints; resuming the run in ``dirpath`` may."""
    if not dirpath or overwrite or not Path(dirpath).is_dir():
        return
    existing = sorted(Path(dirpath).glob("*.ckpt"))
    if not existing or (ckpt_path and _resumes_in(dirpath, str(ckpt_path))):
        return
    if ckpt_path:
        raise SteerError(
            f"{dirpath} already holds checkpoints of another run ({existing[0].name}, …) and --ckpt_path {ckpt_path} "
            f"is not in it. Resume that run in its own folder (--checkpoint.dirpath {Path(ckpt_path).parent}), "
            "choose another --checkpoint.dirpath, or pass --overwrite to replace the run there."
        )
    raise SteerError(
        f"{dirpath} already holds checkpoints of another run ({existing[0].name}, …). Resume it with "
        "--ckpt_path last, choose another --checkpoint.dirpath, or pass --overwrite to replace them."
    )


def _move(paths: list[Path], into: Path) -> None:
    for path in paths:
        target = into / path.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(path, target)


class RunFolder(Callback):
    """fit's checkpoint folder (rank zero; other ranks share it): locked for the fit, checked again under the lock,
    and with ``overwrite`` the previous run moved aside at fit start (see the module's docstring)."""

    def __init__(self, ckpt_path: str | None, overwrite: bool) -> None:
        self.ckpt_path, self.overwrite = ckpt_path, overwrite
        self.folder: Path | None = None
        self._lock: FolderLock | None = None
        self._aside: Path | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
        if stage != "fit" or not trainer.is_global_zero or not dirpath:
            return
        self.folder = Path(dirpath)
        self._lock = FolderLock(self.folder, f"--checkpoint.dirpath {dirpath}").acquire()
        for left in sorted(self.folder.glob(".previous-*")):  # a run killed before its first checkpoint
            self._aside = left
            self._settle(failed=True)
        refuse_overwrite(dirpath, self.ckpt_path, self.overwrite)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        files = previous_run(self.folder) if self._lock is not None and self.overwrite else []
        if not files:
            return
        self._aside = self.folder / f".previous-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self._aside.mkdir()
        _move(files, self._aside)
        print(f"note: --overwrite: the previous run in {self.folder} is in {self._aside.name} until this run writes "
              "its first checkpoint, then removed.", file=sys.stderr)

    def _settle(self, failed: bool = False) -> None:
        """Remove the previous run once a new checkpoint exists; put it back if the new run failed before one."""
        if self._aside is None:
            return
        if any(self.folder.glob("*.ckpt")):
            shutil.rmtree(self._aside, ignore_errors=True)
            self._aside = None
        elif failed:
            _move(sorted(self._aside.iterdir()), self.folder)
            self._aside.rmdir()
            print(f"note: put back the previous run in {self.folder}: the run that was to replace it wrote no "
                  "checkpoint.", file=sys.stderr)
            self._aside = None

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: object,
                             batch_idx: int) -> None:
        self._settle()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._settle(failed=True)
        self._release()

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._settle(failed=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
