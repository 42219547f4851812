"""Shared pieces of the benchmarks: devices, timing, quiet Lightning, tables.

The benchmarks are scripts, not tests: run them from the repository root, e.g.
``.venv/bin/python bench/walk_train.py``. Every figure is a median over
repeats, because a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


def quiet() -> None:
    """No Lightning banners ("GPU available: …") and no eval-mode-module warnings in the tables."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*Found \d+ module\(s\) in eval mode.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*`training_step` returned.*")


def add_machine_args(parser: argparse.ArgumentParser) -> None:
    """--device and --threads, the options every benchmark takes."""
    parser.add_argument("--device", default="auto", help="auto (an accelerator if there is one), cpu, cuda, cuda:1, …")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")


def prepare(args: argparse.Namespace) -> torch.device:
    """Quiet logs, the requested thread count, and the device to run on."""
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def pick_device(name: str) -> torch.device:
    """``auto``: the first accelerator torch sees, else the CPU; otherwise the device named."""
    if name == "auto":
        if hasattr(torch, "accelerator") and torch.accelerator.is_available():
            return torch.device(torch.accelerator.current_accelerator().type)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lightning_accelerator(device: torch.device) -> tuple[str, object]:
    """(accelerator, devices) for a Lightning Trainer on ``device``."""
    if device.type == "cpu":
        return "cpu", 1
    kind = "gpu" if device.type == "cuda" else device.type
    return kind, [device.index or 0]


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (nothing to wait for on the CPU)."""
    if device.type != "cpu":
        getattr(torch, device.type).synchronize(device)


def now(device: torch.device) -> float:
    """Wall-clock time after the device's queue has drained."""
    synchronize(device)
    return time.perf_counter()


def machine(device: torch.device) -> str:
    if device.type == "cpu":
        what = f"CPU ({platform.processor() or platform.machine()}), {os.cpu_count()} cores visible"
    else:
        what = getattr(torch, device.type).get_device_name(device)
    return f"{what}; torch {torch.__version__}, {torch.get_num_threads()} intra-op threads"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def interleaved(runs: dict[str, Callable[[int], T]], repeats: int) -> dict[str, list[T]]:
    """Each run ``repeats`` times, alternating the order (A B, B A, …) so that drifts in load hit all alike;
    run ``r`` gets ``r`` (e.g. for its seed)."""
    names = list(runs)
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(runs[name](r))
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pastes straight into docs/PERFORMANCE.md)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]])
