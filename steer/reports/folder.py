"""Report folders written all at once: every file staged, then moved into place.

Every report steer writes (steerability, directions, trajectories, manifolds)
goes through ``write_folder``: a failing write (full disk, read-only folder)
leaves the files already in ``out`` untouched and no temporary files behind,
and an existing report is never replaced without ``overwrite``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pytorch_lightning import Trainer  # noqa: E402

from steer.checkpoint import atomic_write  # noqa: E402
from steer.errors import SteerError  # noqa: E402

Writer = Callable[[Path], object]  # writes one file at the path it is given


def check_out_dir(out: Path, overwrite: bool, files: Sequence[str], option: str = "--out") -> None:
    """Refuse a folder that already holds any of ``files``, unless ``overwrite``; refuse unwritable places.

    ``option``: the command-line option that names the folder, for the messages.
    """
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
    existing = [f for f in files if (out / f).exists()]
    if existing and not overwrite:
        raise SteerError(
            f"{out} already holds a report ({', '.join(existing)}); choose another {option} or pass --overwrite."
        )


def write_folder(out: Path, writers: dict[str, Writer], overwrite: bool = False) -> Path:
    """Write each ``name: writer`` into ``out``; all files appear, or none changes.

    Files are written into a temporary folder inside ``out`` and moved into
    place in the order given once all are complete, so put the file that
    marks a finished report (its JSON) last.
    """
    check_out_dir(out, overwrite, list(writers))
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".report-", suffix=".tmp"))
    except OSError as e:
        raise SteerError(f"cannot write the report to {out}: {e.strerror or e}. Choose a writable --out.") from None
    name = ""
    try:
        for name, write in writers.items():
            write(staging / name)
        for name in writers:
            os.replace(staging / name, out / name)
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
