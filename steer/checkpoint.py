"""Safe artifacts: written to a temporary name then renamed; loaded without running code.

Also the strict state-dict load every generator uses, which sums up a
mismatch (another architecture, other shapes) in one line.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from steer.errors import SteerError

PathLike = str | os.PathLike
TEMPORARY_SUFFIX = ".tmp"  # atomic_write writes PATH to PARENT/.NAME.<random>.tmp, then renames it


def leftover_temporaries(folder: PathLike, name: str = "?*") -> list[Path]:
    """The temporary files :func:`atomic_write` left in ``folder`` (of files named ``name``; default: any), as a
    killed writer leaves them."""
    return sorted(Path(folder).glob(f".{name}.*{TEMPORARY_SUFFIX}")) if Path(folder).is_dir() else []


def remove_leftovers(folder: PathLike) -> list[Path]:
    """Remove the temporary files a killed writer left in ``folder``; the ones removed."""
    found = leftover_temporaries(folder)
    for path in found:
        path.unlink(missing_ok=True)
    return found


def atomic_write(path: PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``.

    A crash or a failing write (full disk, read-only folder) never leaves a
    half-written file under the final name, and an existing file there stays
    intact until the new one is complete.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    except OSError as e:
        raise SteerError(f"cannot write {path}: {e.strerror or e}. Choose a writable folder.") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise SteerError(f"writing {path} failed: {e.strerror or e}; nothing was written there.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` through :func:`atomic_write`."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def load(path: PathLike, what: str = "checkpoint") -> Any:
    """``torch.load(..., weights_only=True)`` with one clear message per failure.

    ``what`` names the file in messages (e.g. "walk checkpoint"). A file that
    would need arbitrary unpickling (code execution) is refused, not run.
    """
    path = Path(path)
    if not path.exists():
        raise SteerError(f"{what} {path} does not exist. Check the path.")
    if path.is_dir():
        raise SteerError(f"{what} {path} is a folder; give the file inside it (e.g. last.ckpt).")
    if path.stat().st_size == 0:
        raise SteerError(f"{what} {path} is empty (0 bytes): it was not written completely. Use another file.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise SteerError(
                f"{what} {path} contains Python objects that can only be loaded by running code "
                "from the file; steer refuses such files. Save plain tensors and dicts instead."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
        reason = detail.group(1).strip() if detail else _first_line(e)
    except Exception as e:  # noqa: BLE001 - torch.load fails on foreign files with assorted types
        reason = _first_line(e)
    raise SteerError(f"{what} {path} is corrupted, truncated or not a PyTorch file ({reason}). Use another copy.")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def load_weights(path: PathLike, key: str, what: str) -> dict:
    """The state dict stored under ``key`` in a file loaded with :func:`load`."""
    obj = load(path, what)
    if not isinstance(obj, dict) or key not in obj:
        keys = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise SteerError(f"{what} {path} has no '{key}' entry (found: {keys}); it is another kind of file.")
    return obj[key]


# -- state dicts ------------------------------------------------------------------
def _first(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", …" if len(names) > n else "")


def is_state_dict(obj: Any) -> bool:
    """True for a non-empty mapping from names to tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def describe_mismatch(module: nn.Module, state: Mapping[str, Tensor]) -> str:
    """One line: how many keys are missing / unexpected / of another shape, and the first few."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = [
        f"{kind}: {len(names)} ({_first(names)})"
        for kind, names in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
        if names
    ]
    return "; ".join(parts)


def load_matching_state(module: nn.Module, state: Mapping[str, Tensor], what: str, hint: str) -> None:
    """``module.load_state_dict(state, strict=True)``; a mismatch becomes one SteerError line.

    ``what`` names the file in the message, ``hint`` says what to do about it.
    The module's own load hooks (e.g. spectral norm's) run first, so only real
    mismatches are reported.
    """
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        summary = describe_mismatch(module, state) or str(e).strip().splitlines()[0]
        raise SteerError(f"{what} was made for another architecture: {summary}. {hint}") from None


def export(src: PathLike, dst: PathLike, rename: Mapping[str, str] = {}) -> Path:
    """A shippable copy of a steer checkpoint: the weights and the record of what made them, no training state.

    Optimizer states, loops and callback states are dropped (the copy cannot
    resume training, only be loaded and steered). In the record, every string
    that starts with a key of ``rename`` gets that prefix replaced, so paths of
    the machine that trained it (e.g. its run folder) become repository paths.
    """
    ckpt = load(src, "checkpoint")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "steer" not in ckpt:
        raise SteerError(f"{src} is not a steer checkpoint; give a .ckpt written by `steer fit`.")

    def renamed(value: Any) -> Any:
        if isinstance(value, str):
            return next((new + value[len(old):] for old, new in rename.items() if value.startswith(old)), value)
        if isinstance(value, dict):
            return {k: renamed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [renamed(v) for v in value]
        return value

    kept = {k: ckpt[k] for k in ("state_dict", "epoch", "global_step", "pytorch-lightning_version", "hyper_parameters")
            if k in ckpt}
    return save({**kept, "steer": renamed(ckpt["steer"])}, dst)
