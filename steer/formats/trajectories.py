"""The trajectory-records format: what Algorithm 1 of steer.discovery.trajectories found, one row per (z0, t).

A records file is a plain dict of tensors and a settings dict (it loads with ``weights_only=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from steer import checkpoint
from steer.errors import SteerError

RECORD_TENSORS = ("z0", "z_t", "t", "delta", "loss", "start")


@dataclass
class Records:
    """One row per (start latent, t): what Algorithm 1 found.

    ``z0`` (R, d) the clipped start latent, ``z_t`` (R, d) the inversion of
    T_t(G(z0)), ``t`` (R,) the edit strength in the edit's units, ``delta`` (R,)
    the factor change the regressor fits (t − identity, or ln(t / identity) for
    a multiplicative edit such as Zoom), ``loss`` (R,) the final inversion loss,
    ``start`` (R,) the index of z0 among the starts; ``settings`` says what made them;
    ``y`` (R,) the class of each start, for a class-conditional generator (else None).
    """

    z0: Tensor
    z_t: Tensor
    t: Tensor
    delta: Tensor
    loss: Tensor
    start: Tensor
    settings: dict = field(default_factory=dict)
    y: Tensor | None = None

    def __len__(self) -> int:
        return len(self.t)

    def select(self, keep: Tensor) -> Records:
        """The records where ``keep`` (a bool mask or indices) selects them."""
        return Records(*(getattr(self, k)[keep] for k in RECORD_TENSORS), settings=self.settings,
                       y=None if self.y is None else self.y[keep])

    def best(self, fraction: float = 0.9) -> Records:
        """The ``fraction`` of records with the lowest inversion loss (drops the worst decile by default)."""
        if not 0 < fraction <= 1:
            raise SteerError(f"the fraction of records to keep must be in (0, 1], got {fraction}.")
        count = max(1, math.ceil(fraction * len(self)))
        return self.select(self.loss.argsort(stable=True)[:count].sort().values)


def save_records(records: Records, path: Path) -> Path:
    """The records as plain tensors and a settings dict, written atomically (loadable with weights_only)."""
    classes = {} if records.y is None else {"y": records.y.cpu()}
    return checkpoint.save({**{k: getattr(records, k).cpu() for k in RECORD_TENSORS}, **classes,
                            "settings": records.settings}, path)


def load_records(path: Path) -> Records:
    """Records written by :func:`save_records`; a clear error for any other file."""
    data = checkpoint.load(path, "trajectory records")
    missing = [k for k in RECORD_TENSORS if not isinstance(data, dict) or not torch.is_tensor(data.get(k))]
    if missing:
        raise SteerError(f"{path} is not a trajectory records file (no {', '.join(missing)}); "
                         "give the records.pt written by `steer discover trajectories`.")
    y = data.get("y")
    rows = {len(data[k]) for k in RECORD_TENSORS} | ({len(y)} if torch.is_tensor(y) else set())
    if len(rows) != 1 or data["z0"].shape != data["z_t"].shape or data["z0"].dim() != 2 or rows == {0}:
        raise SteerError(f"{path} holds inconsistent or empty records (row counts {sorted(rows)}); use another copy.")
    return Records(*(data[k] for k in RECORD_TENSORS), settings=data.get("settings", {}),
                   y=y if torch.is_tensor(y) else None)
