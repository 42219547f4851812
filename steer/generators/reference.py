"""A walk checkpoint's reference to the pretrained weights of its frozen generator (docs/architecture.md, Checkpoints).

A pretrained generator reads its weights from files (``Generator.weights_files``). A walk checkpoint
records their paths and sha256 in the ``generator`` entry of its steer record and leaves the generator's
tensors out of its state dict; loading rebuilds the generator from its spec, checks that it read the same
bytes and puts its weights back into the state dict. A checkpoint that embeds the weights (asked for, or a
generator that reads no file) keeps them in its state dict::

    "generator": {"spec": …, "weights_sha256": …,                 (steer.formats.provenance)
                  "weights": "reference" | "embedded", "files": [{"path": …, "sha256": …}],
                  "option": the generator option naming the file, "architecture": spec that reads no file}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from torch import Tensor, nn

from steer.config import check_trusted
from steer.errors import SteerError
from steer.formats.provenance import file_sha256, generator_spec, weights_sha256
from steer.formats.record import RECORD_KEY
from steer.generators.base import Generator

PREFIX = "generator."  # the generator's keys in a walk module's state dict
REFERENCE, EMBEDDED = "reference", "embedded"
T = TypeVar("T")

_hashes: dict[tuple[str, int, int], str] = {}


def file_hash(path: str) -> str:
    """sha256 of a file, remembered per (path, size, modification time): each checkpoint a run saves costs no
    reread of a large weights file."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = file_sha256(path)
    return _hashes[key]


def entry(generator: Generator, embed: bool) -> dict:
    """The record's ``generator`` entry for a walk on the frozen ``generator``: by reference unless ``embed``
    or the generator reads no weights file (then its weights must travel in the checkpoint)."""
    files = generator.weights_files
    return {"spec": generator_spec(generator), "weights_sha256": weights_sha256(generator),
            "weights": EMBEDDED if embed or not files else REFERENCE,
            "files": [{"path": str(path), "sha256": file_hash(path)} for path in files],
            "option": generator.weights_option, "architecture": generator.architecture()}


def refer(checkpoint: dict, generator_entry: dict) -> None:
    """Write ``generator_entry`` into a checkpoint being saved; by reference, drop the generator's tensors."""
    record = checkpoint.get(RECORD_KEY, {})
    checkpoint[RECORD_KEY] = {**record, "generator": {**record.get("generator", {}), **generator_entry}}
    if generator_entry["weights"] == REFERENCE:
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(PREFIX)}


def recorded_entry(checkpoint: dict) -> dict | None:
    """The generator entry of a checkpoint that references its generator's weights; None for any other."""
    record = checkpoint.get(RECORD_KEY)
    found = record.get("generator") if isinstance(record, dict) else None
    if not isinstance(found, dict) or found.get("weights") != REFERENCE or not isinstance(found.get("files"), list):
        return None
    return found


def completed_state(module: nn.Module, checkpoint: dict, where: str) -> dict[str, Tensor]:
    """The checkpoint's state dict with the weights of ``module.generator`` filled in where the checkpoint
    references them, after checking that the generator read the files the walk was trained on."""
    state = checkpoint["state_dict"]
    found = recorded_entry(checkpoint)
    generator = getattr(module, "generator", None)
    if found is None or not isinstance(generator, Generator) or any(k.startswith(PREFIX) for k in state):
        return state
    check_files(found, generator, where)
    return {**state, **{PREFIX + k: v for k, v in generator.state_dict().items()}}


def _short(digest: str) -> str:
    return f"sha256 {str(digest)[:12]}…"


def point(generator_entry: dict) -> str:
    """How to give the weights file anew, for messages."""
    option = generator_entry.get("option")
    if not option:
        return ""
    return (f" with the generator's {option} option (--model.init_args.generator.init_args.{option} PATH for steer "
            "fit|validate|test|predict; the generator spec for steer evaluate steerability --generator and "
            "steer.load(…, generator=…))")


def check_files(generator_entry: dict, generator: Generator, where: str) -> None:
    """Refuse a generator whose weights files are not, byte for byte, the ones the walk in ``where`` was trained
    on: a file changed in place, or another file given anew."""
    recorded, given = generator_entry["files"], list(generator.weights_files)
    if len(recorded) != len(given):
        raise SteerError(f"the walk in {where} was trained on a generator read from {len(recorded)} file(s); the "
                         f"{type(generator).__name__} given reads {len(given)}. Give the generator it was trained on.")
    for file, path in zip(recorded, given):
        digest = file_hash(path)
        if digest == file.get("sha256"):
            continue
        if Path(path).resolve() == Path(str(file.get("path"))).resolve():
            raise SteerError(f"the generator weights {path} changed since the walk in {where} was trained on them "
                             f"(recorded {_short(file.get('sha256'))}, now {_short(digest)}): put back the file it "
                             f"was trained on, give a copy of it{point(generator_entry)}, or train the walk anew.")
        raise SteerError(f"the generator weights {path} given for the walk in {where} are not the ones it was trained "
                         f"on ({file.get('path')}, {_short(file.get('sha256'))}; given: {_short(digest)}): give that "
                         f"file{point(generator_entry)}.")


def missing_files(generator_entry: dict | None) -> list[str]:
    """The weights files a generator entry names that are not there."""
    files = generator_entry.get("files") if isinstance(generator_entry, dict) else None
    return [str(f.get("path")) for f in files or [] if isinstance(f, dict) and not Path(str(f.get("path"))).is_file()]


def moved(generator_entry: dict, where: str) -> SteerError:
    """The error for a checkpoint whose referenced weights file is gone."""
    gone = ", ".join(missing_files(generator_entry))
    return SteerError(f"the generator weights {gone} that the walk in {where} references are gone (moved or "
                      f"deleted): put them back, or give their new place{point(generator_entry)}.")


def rebuilt(build: Callable[[dict | None], T], record: dict, where: str) -> T:
    """``build(None)``: the module of a checkpoint from its recorded config. When that fails while a weights file
    its generator entry names is missing: ``build(architecture)`` (a generator that reads no file, trusted like
    the rest of the record) for a checkpoint that embeds the weights, else the one-line error that it moved."""
    found = record.get("generator") if isinstance(record, dict) else None
    try:
        return build(None)
    except SteerError:
        if not missing_files(found):
            raise
        architecture = found.get("architecture")
        if found.get("weights") == EMBEDDED and isinstance(architecture, dict):
            check_trusted(architecture, where)
            return build(architecture)
        if found.get("weights") == REFERENCE:
            raise moved(found, where) from None
        raise
