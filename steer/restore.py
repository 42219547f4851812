"""Rebuild a trained LightningModule from a steer checkpoint, without running code from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from pytorch_lightning import LightningDataModule, LightningModule

from steer import checkpoint
from steer.config import build, check_trusted
from steer.errors import SteerError
from steer.formats.record import read_record
from steer.generators.base import Generator
from steer.generators.reference import completed_state, rebuilt
from steer.generators.trained import build_generator, generator_of, load_generator, recorded_generator
from steer.sprites.factors import SpriteFactors

__all__ = ["build", "build_generator", "generator_of", "instantiate", "load_generator", "load_module",
           "read_record", "recorded_generator", "sprite_factors", "training_factors"]


def instantiate(model_config: dict, generator: dict | None = None, recorded_in: str | None = None) -> LightningModule:
    """The LightningModule described by a config section (class_path + init_args).

    ``generator`` (class_path + init_args) replaces the generator recorded in it. ``recorded_in``: the file the
    section was read from, whose classes must be trusted (the replacing generator is the caller's own).
    """
    config = dict(model_config, init_args=dict(model_config.get("init_args", {})))
    if generator is not None:
        config["init_args"]["generator"] = generator
    if recorded_in is not None:
        check_trusted({**model_config, "init_args": {k: v for k, v in config["init_args"].items()
                                                     if generator is None or k != "generator"}}, recorded_in)
    return build(config, LightningModule, "model recorded in the checkpoint")


def _spec(config: dict) -> tuple[Any, Any]:
    return config.get("class_path"), config.get("init_args", {})


def load_module(path: Path, generator: dict | None = None) -> tuple[LightningModule, dict]:
    """A trained module in eval mode and its record, from ``path``.

    With ``generator`` given, it must be the generator the walk was trained on
    (same class, same latent size); otherwise the error names both.
    """
    ckpt, record = read_record(Path(path))
    model_config = record["config"]["model"]
    trained = model_config.get("init_args", {}).get("generator", {})
    if generator is not None and _spec(generator)[0] != _spec(trained)[0]:
        raise SteerError(
            f"the walk in {path} was trained on {_spec(trained)[0]}, not on the given {_spec(generator)[0]}; "
            "a walk only steers the generator it was trained on. Leave out --generator to use the recorded one."
        )
    module = (instantiate(model_config, generator, str(path)) if generator is not None
              else rebuilt(lambda architecture: instantiate(model_config, architecture, str(path)), record, str(path)))
    gen = getattr(module, "generator", None)
    walk_dim = next((v.shape[-1] for k, v in ckpt["state_dict"].items() if k.startswith("walk.")), None)
    if isinstance(gen, Generator) and walk_dim is not None and getattr(module.walk, "latent_dim", walk_dim) != walk_dim:
        raise SteerError(
            f"the walk in {path} moves {walk_dim}-d latents but the generator's latent size is {gen.latent_dim}; "
            "a walk only steers the generator it was trained on. Leave out --generator to use the recorded one."
        )
    broken = [k for k, v in ckpt["state_dict"].items()
              if k.startswith("walk.") and torch.is_tensor(v) and v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise SteerError(
            f"the walk in {path} has NaN or infinite weights ({', '.join(broken[:3])}): its training diverged. "
            "Use an earlier checkpoint of the run (e.g. best.ckpt) or retrain with a lower learning rate."
        )
    state = completed_state(module, ckpt, str(path))
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        summary = checkpoint.describe_mismatch(module, state) or str(e).strip().splitlines()[0]
        hint = ("Give the generator settings the walk was trained on, or leave out --generator to use the recorded one."
                if generator is not None else "The checkpoint is damaged or was edited; use another copy.")
        raise SteerError(f"the weights in {path} do not fit the model its config describes ({summary}). {hint}") from None
    return module.eval(), record


def sprite_factors(config: dict, recorded_in: str | None = None) -> SpriteFactors | None:
    """The sprites factors of a train.py config whose data is a SpritesDataModule; None for other data.
    ``recorded_in``: the checkpoint the config was recorded in (its classes must be trusted)."""
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict) or not str(data.get("class_path", "")).endswith("SpritesDataModule"):
        return None
    return build(data, LightningDataModule, "sprites data of the config", recorded_in=recorded_in).factors


def training_factors(record: dict, generator: Generator, data_config: str | None = None,
                     recorded_in: str = "the checkpoint") -> SpriteFactors | None:
    """The sprites data a model learned: from ``data_config`` (a train.py YAML) if given, else from the
    checkpoint's own record (``recorded_in``: that checkpoint), else from the record of the checkpoint a
    ``TrainedGenerator`` came from."""
    if data_config is not None:
        try:
            config = yaml.safe_load(Path(data_config).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise SteerError(f"--data {data_config} cannot be read as a YAML config: {e}") from None
        factors = sprite_factors(config)
        if factors is None:
            raise SteerError(f"--data {data_config} has no sprites data (data.class_path SpritesDataModule); give the "
                           "train.py config of the sprites model the generator came from.")
        return factors
    factors = sprite_factors(record.get("config", {}), recorded_in)
    source = getattr(generator, "checkpoint", None)
    if factors is None and isinstance(source, str):
        factors = sprite_factors(read_record(Path(source))[1].get("config", {}), source)
    return factors
