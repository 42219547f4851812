"""The steer record in a checkpoint: what made it (steer version, resolved config, command).

``steer fit`` writes it (``steer.formats.provenance``) under ``RECORD_KEY``; everything that rebuilds a run
from a checkpoint reads it with :func:`read_record`.
"""

from __future__ import annotations

from pathlib import Path

from steer import checkpoint
from steer.errors import SteerError

RECORD_KEY = "steer"


def read_record(path: Path) -> tuple[dict, dict]:
    """(checkpoint, steer record) of a steer checkpoint; a clear error for any other file."""
    ckpt = checkpoint.load(path, "checkpoint")
    if not isinstance(ckpt, dict) or RECORD_KEY not in ckpt or "state_dict" not in ckpt:
        raise SteerError(
            f"{path} is not a steer checkpoint (it has no record of the config that made it); "
            "give a .ckpt written by `steer fit`."
        )
    record, state = ckpt[RECORD_KEY], ckpt["state_dict"]
    config = record.get("config") if isinstance(record, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("class_path"), str) or not isinstance(state, dict):
        raise SteerError(
            f"{path} is a damaged steer checkpoint: its record of the model config or its state_dict is missing; "
            "use another copy (e.g. last.ckpt or best.ckpt of the same run)."
        )
    return ckpt, record
