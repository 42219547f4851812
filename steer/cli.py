"""Command-line plumbing shared by train.py and evaluate.py."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml
from pytorch_lightning import Callback, LightningDataModule, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

import steer
from steer.callbacks import FinalCheckpoint, Throughput
from steer.checkpoint_io import with_atomic_checkpoints
from steer.errors import SteerError
from steer.reports.wandb import (
    RUN_KEY,
    TrainingRun,
    finish_wandb,
    label_logger,
    run_line,
    training_run,
    wandb_logger_config,
)

RECORD_KEY = "steer"

# A frozen generator is in eval mode on purpose (DESIGN.md, Contracts).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")


def steer_cause(error: BaseException) -> Optional[SteerError]:
    """The SteerError behind ``error`` (itself, or one a library wrapped), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SteerError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a SteerError (also one wrapped by jsonargparse or Lightning) into one line and exit code 2."""
    try:
        yield
    except Exception as e:
        cause = steer_cause(e)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)


class Provenance(Callback):
    """Writes what made a checkpoint into it (config, command, steer version, W&B run) and beside it (config.yaml)."""

    def __init__(self, config: dict, config_yaml: str) -> None:
        self.record = {"version": steer.__version__, "config": config, "command": list(sys.argv)}
        self.config_yaml = config_yaml

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        ckpt = trainer.checkpoint_callback
        if trainer.is_global_zero and ckpt is not None and ckpt.dirpath:
            from steer.checkpoint import atomic_write

            atomic_write(Path(ckpt.dirpath) / "config.yaml", lambda f: f.write(self.config_yaml.encode()))

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        run = training_run(trainer)
        checkpoint[RECORD_KEY] = {**self.record, **({RUN_KEY: run} if run else {})}


def _refuse_overwrite(dirpath: Optional[str], ckpt_path: Optional[str], overwrite: bool) -> None:
    """A new run must not write over another run's checkpoints."""
    if not dirpath or ckpt_path or overwrite:
        return
    existing = sorted(Path(dirpath).glob("*.ckpt")) if Path(dirpath).is_dir() else []
    if existing:
        raise SteerError(
            f"{dirpath} already holds checkpoints of another run ({existing[0].name}, …). Resume it with "
            "--ckpt_path last, choose another --checkpoint.dirpath, or pass --overwrite to replace them."
        )


def _public_classes(module_path: str) -> list[str]:
    """Names of the public classes defined in a module (for 'valid choices' hints)."""
    import importlib
    import inspect

    try:
        module = importlib.import_module(module_path)
    except ImportError:
        return []
    return sorted(name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and not name.startswith("_") and obj.__module__.startswith(module_path))


def kind_name(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string"}.get(kind, f"a {kind}")


def config_arg() -> Optional[str]:
    """The value of the last --config/-c on the command line, if any."""
    args = sys.argv[1:]
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--config", "-c")]
    values += [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    return values[-1] if values else None


def explain_config_error(message: str) -> str:
    """jsonargparse's nested message → one short statement of what was wrong and what is valid."""
    text = str(message)
    missing = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", text)
    if missing:
        module, name = missing.groups()
        return f"unknown class '{name}' in {module}; valid ones: {', '.join(_public_classes(module)) or 'none'}."
    bad_path = re.search(r"(?:Import path|dot import path string:?) '?([\w.]+)'?", text)
    if bad_path and "." not in bad_path.group(1):
        return (f"unknown name '{bad_path.group(1)}': give a full class path, e.g. steer.edits.Zoom "
                f"(edits: {', '.join(_public_classes('steer.edits'))}; walks: {', '.join(_public_classes('steer.walks'))}).")
    option = re.search(r"Problem with given class_path '([\w.]+)':\s*Option '(\w+)' is not accepted", text)
    if option:
        cls, key = option.groups()
        return f"{cls} has no option '{key}'; see its accepted options with --help (or its docstring)."
    wrong_type = re.findall(r"Problem with given class_path '([\w.]+)':\s*Parser key \"(\w+)\":\s*"
                            r"Expected a <class '(\w+)'>\.\s*Got value: (.*)", text)
    if wrong_type:
        cls, key, kind, value = wrong_type[-1]
        return f"{cls}: option '{key}' must be {kind_name(kind)}, got {value.strip()!r}."
    plain_type = re.search(r"^Parser key \"(\w+)\":\s*Expected a <class '(\w+)'>\.\s*Got value: (.*)", text.strip())
    if plain_type:
        key, kind, value = plain_type.groups()
        return f"option --{key} must be {kind_name(kind)}, got {value.strip()!r}."
    yaml_error = re.search(r"Problems parsing config:\s*(.*)", text, re.S)
    if yaml_error:
        where = re.findall(r"line (\d+), column (\d+)", yaml_error.group(1))
        problem = re.sub(r"\s*in \"<unicode string>\", line \d+, column \d+", "", yaml_error.group(1)).strip()
        at = f" (line {where[-1][0]}, column {where[-1][1]})" if where else ""
        return f"--config {config_arg() or ''} is not valid YAML: {' '.join(problem.split())}{at}.".replace("  ", " ")
    if text.strip() == "Unexpected config:":
        return f"--config {config_arg() or ''} is empty or not a YAML mapping of sections (model:, data:, trainer:).".replace("  ", " ")
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith(("Given value", "- Expected a <class 'NoneType'>"))]
    return " ".join(dict.fromkeys(lines))


class ConciseParser(LightningArgumentParser):
    """Prints one short error line (no page of usage) and exits with code 2."""

    def error(self, message: str, ex: Optional[Exception] = None) -> None:
        if not self.exit_on_error:
            return super().error(message, ex)
        print(f"error: {explain_config_error(message)}\n(run with --help for all options)", file=sys.stderr)
        sys.exit(2)


class SteerCLI(LightningCLI):
    """LightningCLI with steer's defaults: W&B offline fallback, atomic checkpoints, throughput, provenance."""

    def __init__(self, args: Optional[list[str]] = None, run: bool = True) -> None:
        super().__init__(
            model_class=LightningModule,
            subclass_mode_model=True,
            datamodule_class=LightningDataModule,
            subclass_mode_data=True,
            trainer_defaults={"logger": wandb_logger_config(), "default_root_dir": "runs"},
            save_config_callback=None,
            auto_configure_optimizers=False,
            parser_class=ConciseParser,
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.save_last": True,
            "checkpoint.filename": "best",
            "checkpoint.monitor": "val/loss",
            "checkpoint.mode": "min",
        })
        parser.add_argument("--overwrite", type=bool, default=False,
                            help="Let a new run replace the checkpoints in --checkpoint.dirpath.")

    def before_instantiate_classes(self) -> None:
        sub = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        ckpt_path = sub.get("ckpt_path") if self.subcommand == "fit" else None
        _refuse_overwrite(sub.get("checkpoint.dirpath"), ckpt_path, sub.get("overwrite", False))
        model = sub.get("model")
        label_logger(sub.get("trainer.logger"), model.as_dict() if hasattr(model, "as_dict") else model or {},
                     self.subcommand or "fit")

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        sub = self.config[self.subcommand] if self.subcommand else self.config
        config_yaml = self._parser(self.subcommand).dump(sub, skip_none=False, skip_check=True)
        config_dict = yaml.safe_load(config_yaml)
        callbacks = callbacks + [Throughput(), FinalCheckpoint(), Provenance(config_dict, config_yaml),
                                 TrainingRun({**config_dict, "steer_version": steer.__version__})]
        config["plugins"] = with_atomic_checkpoints(config.get("plugins"), config.get("strategy"))
        return super()._instantiate_trainer(config, callbacks)

    def _parse_ckpt_path(self) -> None:
        """Read --ckpt_path through steer's safe loader first: a damaged file is one clear error."""
        sub = self.config.get(self.config.get("subcommand") or "", {})
        path = sub.get("ckpt_path") if hasattr(sub, "get") else None
        self._resume_state = None
        if path and path not in ("last", "best", "hpc", "registry") and not str(path).startswith("registry:"):
            from steer.checkpoint import load

            ckpt = load(path, "--ckpt_path")
            if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
                raise SteerError(f"--ckpt_path {path} is not a Lightning checkpoint (it has no state_dict).")
            self._resume_state = ckpt["state_dict"]
        super()._parse_ckpt_path()

    def before_fit(self) -> None:
        """A checkpoint to resume from must hold this model's weights, not another model's."""
        if self._resume_state is None:
            return
        from steer.checkpoint import describe_mismatch

        mismatch = describe_mismatch(self.model, self._resume_state)
        if mismatch:
            raise SteerError(
                f"--ckpt_path {self.config[self.subcommand]['ckpt_path']} was saved by another model ({mismatch}); "
                "resume with the config.yaml saved beside it."
            )

    def after_fit(self) -> None:
        ckpt = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and ckpt is not None and ckpt.last_model_path:
            print(f"last checkpoint: {ckpt.last_model_path}")
        folder = finish_wandb(self.trainer)
        if folder is not None:
            print(run_line(folder))

