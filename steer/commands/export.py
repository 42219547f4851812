"""`steer export checkpoint` and `steer export direction`: files to ship or to steer with."""

from __future__ import annotations

from pathlib import Path

import torch

from steer import checkpoint as checkpoints
from steer.errors import SteerError
from steer.formats.directions import Directions, save_directions
from steer.generators.base import Generator
from steer.modules.factor_regressor import FactorRegressor
from steer.restore import load_module


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise SteerError(f"{out} already exists; choose another --out or pass --overwrite.")


def checkpoint(src: str, out: str, rename: dict[str, str] | None = None, overwrite: bool = False) -> Path:
    """A shippable copy of a steer checkpoint: weights and the record of what made them, no training state.

    Args:
        src: a .ckpt written by `steer fit`.
        out: the file to write.
        rename: path prefixes to replace in the record, e.g. {"/scratch/me/": ""} (machine paths → repository paths).
        overwrite: replace an existing file at OUT.
    """
    _refuse_existing(Path(out), overwrite)
    return checkpoints.export(src, out, rename or {})


def direction(regressor: str, out: str, checkpoint: str | None = None, generator: Generator | None = None,
              overwrite: bool = False) -> Path:
    """A trained g_θ's direction u as a direction file (use it as steer.walks.DirectionWalk, or score it).

    Args:
        regressor: the last.ckpt of a factor-regressor run (configs/discovery/factor_regressor.yaml).
        out: the direction file to write (e.g. reports/g_theta/directions.pt).
        checkpoint: the run whose generator g_θ steers, recorded in the file.
        generator: the generator g_θ steers, recorded in the file; default: the pretrained DigiFace DCGAN.
        overwrite: replace an existing file at OUT.
    """
    _refuse_existing(Path(out), overwrite)
    module, _ = load_module(Path(regressor))
    if not isinstance(module, FactorRegressor):
        raise SteerError(f"--regressor {regressor} holds a {type(module).__name__}, not a FactorRegressor.")
    if checkpoint is not None and generator is not None:
        raise SteerError("give either --checkpoint (a trained run) or --generator (a generator spec), not both.")
    record = ({"checkpoint": str(Path(checkpoint).resolve())} if checkpoint is not None
              else generator or {"class_path": "steer.generators.DigiFaceDCGAN", "init_args": {}})
    found = Directions(module.direction.detach()[None], torch.ones(1), "g_theta", record, score_name="g_θ direction",
                       params={"regressor": regressor})
    return save_directions(out, found)
