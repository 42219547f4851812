"""RecordedModule: a steer LightningModule that ``load_from_checkpoint`` rebuilds from steer's record of its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningModule

from steer.checkpoint import describe_mismatch
from steer.config import build, check_trusted
from steer.errors import SteerError
from steer.formats.record import read_record
from steer.generators.reference import completed_state, rebuilt


class RecordedModule(LightningModule):
    """Base of steer's trained modules, whose parts (generator, edit, walk, …) are objects built from the config.

    Lightning's own ``load_from_checkpoint`` rebuilds a module from its saved
    hyperparameters, which cannot hold such parts; steer's checkpoints record
    the whole resolved config instead (``ckpt["steer"]``), and this rebuilds
    the module from it.
    """

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | Path,
        map_location: torch.device | str | int | None = None,
        hparams_file: str | Path | None = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> RecordedModule:
        """The module trained in ``checkpoint_path`` (a train.py checkpoint of this class), in eval mode.

        Its parts are built from the config recorded in the checkpoint, the
        class being this one (nothing named in the file picks the module
        class); the file loads with ``weights_only=True``. ``kwargs`` replace
        recorded init args, given as in a config (e.g. ``strip_latents=8``,
        ``generator={"class_path": …, "init_args": …}``). ``map_location``: the
        device to move the module to; ``strict`` (default True): whether the
        weights must match the module exactly. ``hparams_file`` and
        ``weights_only=False`` are refused: the record is the one source.
        """
        if hparams_file is not None or weights_only is False:
            raise SteerError(f"{cls.__name__}.load_from_checkpoint rebuilds the module from the config recorded in the "
                             "checkpoint and loads it with weights_only=True; leave out hparams_file and weights_only.")
        ckpt, record = read_record(Path(checkpoint_path))
        spec = record["config"]["model"]
        recorded = spec["class_path"].rsplit(".", 1)[-1]
        if recorded != cls.__name__:
            raise SteerError(f"{checkpoint_path} holds a {recorded}, not a {cls.__name__}; use "
                             f"{recorded}.load_from_checkpoint, or steer.load(path) for any steer checkpoint.")
        recorded_args = {k: v for k, v in spec.get("init_args", {}).items() if k not in kwargs}
        check_trusted({"init_args": recorded_args}, str(checkpoint_path))  # the class is this one, the caller's
        init_args = {**recorded_args, **kwargs}

        def built(architecture: dict | None) -> RecordedModule:
            args = init_args if architecture is None else {**init_args, "generator": architecture}
            return build({"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": args}, cls,
                         "model recorded in the checkpoint")

        where = str(checkpoint_path)
        module = built(None) if "generator" in kwargs else rebuilt(built, record, where)
        state = completed_state(module, ckpt, where)
        try:
            module.load_state_dict(state, strict=True if strict is None else strict)
        except RuntimeError:
            raise SteerError(f"the weights in {checkpoint_path} do not fit the {cls.__name__} its config describes "
                             f"({describe_mismatch(module, state)}).") from None
        return module.to(map_location).eval() if map_location is not None else module.eval()
