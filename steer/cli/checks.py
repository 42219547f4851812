"""Checks of a run's inputs that Lightning or torch would otherwise answer with a traceback, each one line."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.accelerators import CPUAccelerator

from steer.errors import SteerError


def config_paths(args: Sequence[str]) -> list[str]:
    """The values of every --config/-c in ``args``, in order."""
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--config", "-c")]
    return values + [a.split("=", 1)[1] for a in args if a.startswith("--config=")]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a mapping with the same key twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise SteerError(f"sets {key!r} twice (lines {seen[key]} and {line}); keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def check_config_files(args: Sequence[str]) -> None:
    """Every --config file is UTF-8 text and sets no key twice (other problems are the parser's to report)."""
    for path in config_paths(args):
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except OSError:
            continue  # a missing or unreadable file: the parser says so
        except UnicodeDecodeError as e:
            raise SteerError(f"--config {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at position "
                             f"{e.start}); save it as UTF-8.") from None
        try:
            yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except SteerError as e:
            raise SteerError(f"--config {path} {e}.") from None
        except yaml.YAMLError:
            continue  # invalid YAML: the parser says where


def check_trainer_options(config: dict[str, Any]) -> None:
    """Trainer options Lightning accepts at first and fails on later (e.g. a modulo by zero mid-fit)."""
    interval = config.get("val_check_interval")
    if isinstance(interval, (int, float)) and not isinstance(interval, bool) and not interval > 0:
        raise SteerError(f"--trainer.val_check_interval must be > 0 (steps, or a fraction of an epoch), got {interval}.")


def check_sync_batchnorm(trainer: Trainer, sync_batchnorm: bool) -> None:
    """torch's SyncBatchNorm runs on accelerators only: on CPU ranks it would stop at the first training batch."""
    if sync_batchnorm and trainer.world_size > 1 and isinstance(trainer.accelerator, CPUAccelerator):
        raise SteerError("--trainer.sync_batchnorm true needs GPUs: torch's SyncBatchNorm does not run on CPU ranks; "
                         "leave it false there (each rank then normalises with its own batch's statistics).")


@contextmanager
def trainer_options() -> Iterator[None]:
    """Lightning's refusal of a trainer option as one line."""
    try:
        yield
    except MisconfigurationException as e:
        raise SteerError(f"the trainer refuses its options: {str(e).strip()}") from None


def check_optimizers(model: LightningModule) -> None:
    """Build the model's optimizers once before fitting: a bad learning rate is one line, not a traceback mid-fit."""
    try:
        model.configure_optimizers()
    except (ValueError, TypeError) as e:
        raise SteerError(f"the optimizer refuses its options ({e}); check --model.init_args.optimizer "
                         "(e.g. lr must be a finite number > 0).") from None


def check_ckpt_path(ckpt_path: str | None, dirpath: str | None) -> None:
    """--ckpt_path best needs a best.ckpt in the run folder."""
    if ckpt_path == "best" and not (dirpath and any(Path(dirpath).glob("best*.ckpt"))):
        raise SteerError(f"--ckpt_path best: {dirpath or 'the run folder'} holds no best.ckpt (a new run, or no "
                         "validation yet); resume with --ckpt_path last, or give a checkpoint file.")


def out_of_memory(error: BaseException) -> bool:
    """True for torch's out-of-memory errors (CPU allocator or an accelerator)."""
    oom = getattr(torch, "OutOfMemoryError", ())
    return isinstance(error, oom) or (isinstance(error, RuntimeError) and (
        "can't allocate memory" in str(error) or "out of memory" in str(error).lower()))


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions behind it (a library may wrap the one that matters)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


@contextmanager
def memory(what: Callable[[], str]) -> Iterator[None]:
    """An allocation that cannot fit as one line naming the option to lower (``what()`` says which)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - only out-of-memory errors are translated; others re-raise
        cause = next((c for c in causes(e) if out_of_memory(c)), None)
        if cause is None:
            raise
        first = str(cause).strip().splitlines()[0][:200]
        raise SteerError(f"out of memory ({first}); {what()}.") from None


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (MemAvailable in /proc/meminfo); None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_batch_memory(model: LightningModule, batch_size: Any, option: str = "--data.init_args.batch_size") -> None:
    """Refuse, before allocating, a batch whose latents and images cannot fit in memory.

    The estimate is a floor: per latent its z and eight images of the
    generator's size (source, target, mask, walked image and their gradients).
    """
    generator = getattr(model, "generator", None)
    latent_dim, resolution = getattr(generator, "latent_dim", None), getattr(generator, "resolution", None)
    have = available_memory()
    if not isinstance(batch_size, int) or not isinstance(latent_dim, int) or not isinstance(resolution, int) or not have:
        return
    need = batch_size * (latent_dim + 8 * 3 * resolution * resolution) * 4
    if need > have:
        raise SteerError(f"a batch of {batch_size} latents needs at least {need / 2**30:.1f} GiB of memory and "
                         f"{have / 2**30:.1f} GiB are free; lower {option}.")
