"""Report folders written all at once and swapped in whole, by one writer at a time.

Every report steer writes (steerability, directions, trajectories, manifolds)
goes through ``write_folder``: the files are written into a staging folder
beside ``out``, then the old folder is renamed aside, the staging folder
renamed to ``out`` and the old one removed. A failing write (full disk,
read-only folder) leaves ``out`` untouched and no temporary folder behind; a
kill leaves the old report or the new one, never a mix (the next writer of
``out`` puts back an old report a kill left aside and removes staging
leftovers); an existing report is never replaced without ``overwrite``. The
folder's lock (``steer.locks``) is held while it is checked and written.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pytorch_lightning import Callback, LightningModule, Trainer  # noqa: E402

from steer.checkpoint import atomic_write  # noqa: E402
from steer.errors import SteerError  # noqa: E402
from steer.locks import FolderLock  # noqa: E402

Writer = Callable[[Path], object]  # writes one file at the path it is given


def check_out_dir(out: Path, overwrite: bool, files: Sequence[str], option: str = "--out") -> None:
    """Refuse a folder that already holds any of ``files``, unless ``overwrite``; refuse unwritable places.

    ``option``: the command-line option that names the folder, for the messages.
    """
    _check_place(out, option)
    existing = [f for f in files if (out / f).exists()]
    if existing and not overwrite:
        raise SteerError(
            f"{out} already holds a report ({', '.join(existing)}); choose another {option} or pass --overwrite."
        )
    if existing:
        _check_replaceable(out, option)


def _check_place(out: Path, option: str) -> None:
    """Refuse a report folder that is a file, lies below a file, or cannot be written."""
    if out.exists() and not out.is_dir():
        raise SteerError(f"{option} {out} is a file; give a folder for the report.")
    parent = next((p for p in out.parents if p.exists()), None)
    if not out.exists() and parent is not None and not parent.is_dir():
        raise SteerError(f"{option} {out} cannot be created: {parent} is a file, not a folder. "
                         f"Choose another {option}.")
    nearest = out if out.exists() else parent
    if nearest is not None and not os.access(nearest, os.W_OK | os.X_OK):
        where = f"{option} {out}" if nearest == out else f"{option} {out} cannot be created: {nearest}"
        raise SteerError(f"{where} is not writable. Choose a writable folder for the report.")


def _check_replaceable(out: Path, option: str) -> None:
    """--overwrite replaces the whole folder: refuse one that holds folders or the current folder (not a report)."""
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise SteerError(f"{option} {out} holds the current folder; --overwrite replaces the whole report folder, "
                         f"so give the report a folder of its own.")
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders:
        raise SteerError(f"{option} {out} holds folders ({', '.join(folders[:3])}), so it is not a report folder; "
                         f"--overwrite replaces the whole report folder, so choose another {option}.")


def claim(out: Path, option: str = "--out") -> FolderLock:
    """The lock of report folder ``out`` (``option`` names it in messages), taken; what killed writers left
    beside it is tidied. Release it with ``.release()``."""
    _check_place(out, option)
    lock = FolderLock(out, f"{option} {out}").acquire()
    try:
        _recover(out)
    except OSError as e:
        lock.release()
        raise SteerError(f"cannot tidy the leftovers of a killed writer beside {out}: {e.strerror or e}.") from None
    return lock


def _leftovers(out: Path, kind: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(out.parent / f".{glob.escape(out.name)}.{kind}-*")))


def _recover(out: Path) -> None:
    """Put back the old report a kill left aside mid-swap (``out`` missing); remove staging and old folders."""
    old = _leftovers(out, "old")
    if old and not out.exists():
        os.replace(old.pop(), out)
        print(f"note: put back the report in {out} that a killed writer had moved aside.", file=sys.stderr)
    for path in old + _leftovers(out, "staging"):
        shutil.rmtree(path, ignore_errors=True)


def _swap(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is renamed aside first and removed after."""
    if not out.exists():
        os.replace(new, out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_folder(out: Path, writers: dict[str, Writer], overwrite: bool = False) -> Path:
    """Write each ``name: writer`` into a new folder that replaces ``out`` whole; all files appear, or none changes.

    The files are written into a staging folder beside ``out`` in the order
    given; once all are complete, the staging folder is swapped in. Files of
    an older report that the new one does not write do not survive.
    """
    with claim(out):
        check_out_dir(out, overwrite, list(writers))
        if out.is_dir() and any(out.iterdir()):
            _check_replaceable(out, "--out")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
        except OSError as e:
            raise SteerError(f"cannot write the report to {out}: {e.strerror or e}. Choose a writable --out.") \
                from None
        name = ""
        try:
            umask = os.umask(0)
            os.umask(umask)
            staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the folder the usual permissions
            for name, write in writers.items():
                write(staging / name)
            name = "the swap"
            _swap(staging, out)
        except (SteerError, OSError) as e:
            plt.close("all")
            reason = e.__context__ if isinstance(e, SteerError) and isinstance(e.__context__, OSError) else e
            reason = getattr(reason, "strerror", None) or str(reason)
            raise SteerError(
                f"writing the report to {out} failed at {name}: {reason}; the files already in {out} are unchanged. "
                "Free some space or choose another --out."
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


class LockedFolder(Callback):
    """A callback that writes a folder: rank zero holds the folder's lock from ``hold`` until the loop ends,
    fails or tears down (other ranks share the folder)."""

    _lock: FolderLock | None = None

    def hold(self, trainer: Trainer, out: Path, option: str) -> None:
        if trainer.is_global_zero and self._lock is None:
            self._lock = claim(out, option)

    def let_go(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.let_go()

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.let_go()


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """A matplotlib figure as PNG, written atomically; the figure is closed."""
    def write(f: io.BufferedWriter) -> None:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")

    atomic_write(path, write)
    plt.close(fig)
    return path


def save_json(data: object, path: Path) -> Path:
    """``data`` as indented JSON, written atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def beside_checkpoint(trainer: Trainer, name: str) -> Path:
    """The folder ``name`` beside the checkpoint a validate/test/predict run loaded (``--ckpt_path``); without
    one, in the run's checkpoint folder, else in the trainer's root folder."""
    if trainer.ckpt_path:
        return Path(trainer.ckpt_path).parent / name
    ckpt = trainer.checkpoint_callback
    return Path(getattr(ckpt, "dirpath", None) or trainer.default_root_dir) / name
