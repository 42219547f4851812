"""What `steer fit --ckpt_path` checks before a run resumes: the checkpoint to resume, and that the config given is
the one the checkpoint was trained with (``--ckpt_path`` never changes the config)."""

from __future__ import annotations

import inspect
from pathlib import Path
from pydoc import locate
from typing import Any

from steer.checkpoint import leftover_temporaries
from steer.errors import SteerError

#: Options a resumed run may change (key paths and everything under them): how long it trains, how it
#: validates and logs, where it saves, whether a walk checkpoint embeds its generator, and on which hardware.
#: Everything else (model, data, seed, precision, gradient options, and when and by which metric checkpoints are
#: saved: Lightning would not restore the checkpoint callback's state and would write last-v1.ckpt beside
#: last.ckpt) must be as recorded.
MAY_CHANGE = (
    "ckpt_path", "overwrite", "weights_only", "checkpoint.dirpath", "checkpoint.verbose", "trainer.max_steps", "trainer.max_epochs",
    "trainer.max_time", "trainer.min_steps", "trainer.min_epochs", "trainer.logger", "trainer.callbacks",
    "trainer.enable_checkpointing", "trainer.enable_progress_bar", "trainer.enable_model_summary",
    "trainer.log_every_n_steps", "trainer.val_check_interval", "trainer.check_val_every_n_epoch",
    "trainer.limit_val_batches", "trainer.num_sanity_val_steps", "trainer.default_root_dir", "trainer.profiler",
    "trainer.accelerator", "trainer.devices", "trainer.num_nodes", "trainer.strategy", "trainer.plugins",
    "model.init_args.embed_generator",
)
SHOWN = 3  # differences named in the message


def flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {key path: value} (lists are values)."""
    if not isinstance(config, dict):
        return {prefix: config}
    if not config and prefix:
        return {prefix: {}}
    return {key: value for name, item in config.items()
            for key, value in flat(item, f"{prefix}.{name}" if prefix else str(name)).items()}


def default_of(config: dict[str, Any], key: str) -> Any:
    """The default of option ``key`` (``….init_args.NAME``) in the signature of the class the flat ``config`` names
    beside it; ``inspect.Parameter.empty`` when there is none to find."""
    owner, found, name = key.rpartition(".init_args.")
    class_path = config.get(f"{owner}.class_path") if found and "." not in name else None
    cls = locate(class_path) if isinstance(class_path, str) else None  # the user's own config names it: built already
    try:
        return inspect.signature(cls).parameters[name].default if cls is not None else inspect.Parameter.empty
    except (TypeError, ValueError, KeyError):
        return inspect.Parameter.empty


def differences(recorded: dict, given: dict, may_change: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """(key path, recorded value, given value) of every option that differs and must not on resume (the options
    of MAY_CHANGE and ``may_change`` may). An option the record lacks (added to steer after the run was recorded)
    counts as recorded with its default: the behaviour the older steer had."""
    old, new = flat(recorded), flat(given)
    keys = sorted(set(old) | set(new), key=lambda k: (k.split(".")[0] != "model", k))
    allowed = MAY_CHANGE + may_change
    return [(key, old.get(key), new.get(key)) for key in keys
            if old.get(key) != new.get(key) and not any(key == p or key.startswith(f"{p}.") for p in allowed)
            and not (key not in old and new.get(key) == default_of(new, key))]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}…"


def check_same_config(recorded: dict, given: dict, ckpt_path: str, may_change: tuple[str, ...] = ()) -> None:
    """Refuse to resume from ``ckpt_path`` with a config that differs from the one recorded in it; the options
    ``may_change`` may differ too (e.g. the new place of a referenced weights file, whose bytes are checked)."""
    found = differences(recorded, given, may_change)
    if not found:
        return
    listed = "; ".join(f"{key}: recorded {_short(old)}, given {_short(new)}" for key, old, new in found[:SHOWN])
    more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    saved = Path(ckpt_path).parent / "config.yaml"
    how = (f"resume with the recorded one: --config {saved} --ckpt_path {ckpt_path}" if saved.is_file()
           else "give the options it was trained with")
    raise SteerError(f"--ckpt_path {ckpt_path} was trained with another config ({listed}{more}); --ckpt_path never "
                     f"changes the config: {how}, or start a new run in another --checkpoint.dirpath.")


def last_checkpoint(dirpath: str | None) -> Path | None:
    """The last.ckpt that ``--ckpt_path last`` resumes in ``dirpath`` (None: there is none, a fresh start).

    A folder with only the temporary file of a first last.ckpt (its writer was killed) is refused: there is
    nothing to resume, and starting from step 0 silently would look like a resume.
    """
    if not dirpath:
        return None
    last = Path(dirpath) / "last.ckpt"
    if last.is_file():
        return last
    partial = leftover_temporaries(dirpath, last.name)
    if partial:
        raise SteerError(f"--ckpt_path last: {dirpath} has no last.ckpt, only {partial[0].name}, left by a run killed "
                         "while it wrote its first checkpoint; there is nothing to resume. Start the run anew without "
                         "--ckpt_path (with --overwrite if the folder holds other checkpoints).")
    return None
