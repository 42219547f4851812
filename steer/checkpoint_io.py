"""Lightning's checkpoint files through steer's safe write (temporary name, then rename) and safe load.

Kept apart from steer.checkpoint so that loading a generator does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.plugins.io import CheckpointIO, TorchCheckpointIO
from pytorch_lightning.plugins.io.wrapper import _WrappingCheckpointIO
from pytorch_lightning.strategies import Strategy

from steer.checkpoint import PathLike, load, save


def _is_local(path: PathLike) -> bool:
    return isinstance(get_filesystem(path), LocalFileSystem)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Every checkpoint Lightning writes goes to a temporary file that is renamed when complete.

    A crash, a full disk or a read-only folder never leaves a half-written
    ``last.ckpt``: the previous file stays intact and the failure is a
    SteerError. Loading (``--ckpt_path``) always uses ``weights_only=True``.
    Remote paths (``s3://`` …) keep Lightning's own handling.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save(checkpoint, path)

    def load_checkpoint(self, path: PathLike, map_location: Callable | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        if not _is_local(path):
            return super().load_checkpoint(path, map_location=lambda storage, loc: storage, weights_only=True)
        return load(path)


def with_atomic_checkpoints(plugins: Any, strategy: Any = None) -> list:
    """The trainer's ``plugins`` plus an AtomicCheckpointIO, unless the user chose a checkpoint I/O.

    A wrapping plugin without a base (e.g. ``AsyncCheckpointIO()``) gets the
    atomic one as its base; a strategy object that carries its own checkpoint
    I/O keeps it.
    """
    listed = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if isinstance(strategy, Strategy) and strategy._checkpoint_io is not None:
        return listed
    chosen = next((p for p in listed if isinstance(p, CheckpointIO)), None)
    if chosen is None:
        return listed + [AtomicCheckpointIO()]
    if isinstance(chosen, _WrappingCheckpointIO) and chosen.checkpoint_io is None:
        chosen.checkpoint_io = AtomicCheckpointIO()
    return listed
