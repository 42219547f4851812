"""`steer export checkpoint` and `steer export direction`: files to ship or to steer with."""

from __future__ import annotations

from pathlib import Path

import torch

from steer import checkpoint as checkpoints
from steer.errors import SteerError
from steer.formats.directions import Directions, load_directions, save_directions
from steer.generators.base import Generator
from steer.generators.trained import load_generator
from steer.modules.factor_regressor import FactorRegressor
from steer.restore import load_module


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise SteerError(f"{out} already exists; choose another --out or pass --overwrite.")


def _record(checkpoint: str | None, generator: dict | None) -> dict:
    """How a direction file records the generator it steers: the run's checkpoint, or the generator's spec."""
    return ({"checkpoint": str(Path(checkpoint).resolve())} if checkpoint is not None
            else generator or {"class_path": "steer.generators.DigiFaceDCGAN", "init_args": {}})


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
    found = Directions(module.direction.detach()[None], torch.ones(1), "g_theta", _record(checkpoint, generator),
                       score_name="g_θ direction", params={"regressor": regressor})
    return save_directions(out, found)


def peer(src: str, out: str, checkpoint: str | None = None, generator: Generator | None = None,
         overwrite: bool = False) -> Path:
    """Another tool's directions as a steer direction file that records the generator they steer.

    Reads a GANSpace components .npz, an InterFaceGAN boundary .npy or a rosinality closed_form_factorization
    factor.pt (told apart by content), checks that its directions fit the generator's latent, and writes them
    with the generator recorded: `steer evaluate score`, `steer explore` and steer.notebook then find the
    generator themselves. (Every command that reads a direction file also reads the peer file itself.)

    Args:
        src: the other tool's direction file.
        out: the direction file to write (e.g. reports/ganspace/directions.pt).
        checkpoint: the run whose generator the directions steer, recorded in the file.
        generator: the generator the directions steer, recorded in the file; default: the pretrained DigiFace DCGAN.
        overwrite: replace an existing file at OUT.
    """
    _refuse_existing(Path(out), overwrite)
    steered = load_generator(checkpoint, generator)
    found = load_directions(src, steered.latent_dim)
    found.generator = _record(checkpoint, generator)
    return save_directions(out, found)
