"""LightningCLI with steer's defaults (`steer fit|validate|test|predict`), and the one-line errors of every command."""

from __future__ import annotations

import contextlib
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pytorch_lightning import Callback, LightningDataModule, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.model_helpers import is_overridden
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from steer.callbacks import FinalCheckpoint, SignalCheckpoint, Throughput
from steer.checkpoint import atomic_write, describe_mismatch, load, remove_leftovers
from steer.checkpoint_io import with_atomic_checkpoints
from steer.cli.checks import (
    check_batch_memory,
    check_ckpt_path,
    check_config_files,
    check_optimizers,
    check_sync_batchnorm,
    check_trainer_options,
    memory,
    trainer_options,
)
from steer.cli.resume import check_same_config, last_checkpoint
from steer.cli.run_folder import RunFolder, refuse_overwrite
from steer.config import explain_config_error, trust_named_in, trusting
from steer.errors import SteerError
from steer.evaluation.test_report import SteerabilityReport
from steer.evaluation.walk_strips import WalkStrips
from steer.formats.provenance import frozen, provenance
from steer.formats.record import RECORD_KEY
from steer.generators import reference
from steer.locks import refuse_if_held
from steer.reports.wandb import (
    RUN_KEY,
    TrainingRun,
    finish_wandb,
    label_logger,
    run_line,
    start_runs,
    training_run,
    wandb_logger_config,
)

# A frozen generator is in eval mode on purpose (docs/architecture.md, Contracts between parts).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")


def steer_cause(error: BaseException) -> SteerError | None:
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
    """Writes what made a checkpoint into it (steer's provenance record: version, command, config, the frozen
    generator's spec and weights hash, and the W&B run that trained it) and beside it (config.yaml)."""

    def __init__(self, config: dict, config_yaml: str) -> None:
        self.config = config
        self.record = provenance(config)
        self.config_yaml = config_yaml

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        generator = getattr(pl_module, "generator", None)
        self.record = provenance(self.config, generator if frozen(generator) else None)
        ckpt = trainer.checkpoint_callback
        if trainer.is_global_zero and ckpt is not None and ckpt.dirpath:
            atomic_write(Path(ckpt.dirpath) / "config.yaml", lambda f: f.write(self.config_yaml.encode()))

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        run = training_run(trainer)
        checkpoint[RECORD_KEY] = {**self.record, **({RUN_KEY: run} if run else {})}


class ConciseParser(LightningArgumentParser):
    """Prints one short error line (no page of usage) and exits with code 2."""

    def error(self, message: str, ex: Exception | None = None) -> None:
        if not self.exit_on_error:
            return super().error(message, ex)
        print(f"error: {explain_config_error(message)}\n(run with --help for all options)", file=sys.stderr)
        sys.exit(2)


class SteerCLI(LightningCLI):
    """LightningCLI with steer's defaults: W&B offline fallback, atomic checkpoints, throughput, provenance.

    The modules the user's command line and config name are trusted while it builds and runs: a checkpoint they
    load (a TrainedGenerator's, --ckpt_path) may name them too, and nothing else outside steer's trusted list.
    """

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        check_config_files(sys.argv[1:] if args is None else args)
        with trusting(), memory(lambda: "lower the option that sizes it (--data.init_args.batch_size, or the "
                                        "generator's latent_dim, width or resolution)"):
            self._init(args, run)

    def _init(self, args: list[str] | None, run: bool) -> None:
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

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        trust_named_in(self.config.as_dict())

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.save_last": True,
            "checkpoint.filename": "best",
            "checkpoint.monitor": "val/loss",
            "checkpoint.mode": "min",
            "checkpoint.enable_version_counter": False,  # never last-v1.ckpt: --overwrite replaces the old run
        })
        parser.add_argument("--overwrite", type=bool, default=False,
                            help="fit: let a new run replace the run in --checkpoint.dirpath (its files are removed once the new "
                                 "run has written its first checkpoint); test, predict: "
                                 "replace the report or strips already in their folder.")

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        """The subcommand's parser; test writes a steerability report (--report.out), predict strips
        (--predictions.out)."""
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        writer = {"test": (SteerabilityReport, "report"), "predict": (WalkStrips, "predictions")}.get(subcommand)
        if writer is not None:
            parser.add_lightning_class_args(writer[0], writer[1])
            parser.link_arguments("overwrite", f"{writer[1]}.overwrite")
        return parser

    def before_instantiate_classes(self) -> None:
        """fit must not write over another run, nor into a folder another fit is writing (checked again under the
        folder's lock by RunFolder); validate, test and predict write no checkpoints. W&B runs are named, grouped
        and tagged after the model's generator, edit and walk unless the user set them."""
        sub = self.config[self.subcommand] if self.subcommand else self.config
        dirpath = sub.get("checkpoint.dirpath")
        if self.subcommand in ("fit", None):
            check_ckpt_path(sub.get("ckpt_path"), dirpath)
        if self.subcommand in ("fit", None) and dirpath and rank_zero_only.rank == 0:
            refuse_if_held(dirpath, f"--checkpoint.dirpath {dirpath}")
            refuse_overwrite(dirpath, sub.get("ckpt_path"), sub.get("overwrite", False))
        model = sub.get("model")
        label_logger(sub.get("trainer.logger"), model.as_dict() if hasattr(model, "as_dict") else model or {},
                     self.subcommand or "fit")

    def _config_yaml(self) -> str:
        """The resolved config of the subcommand, as YAML (what config.yaml and the checkpoint record hold)."""
        name = self.config.get("subcommand")
        return self._parser(name).dump(self.config[name] if name else self.config, skip_none=False, skip_check=True)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        config_yaml = self._config_yaml()
        provenance = Provenance(yaml.safe_load(config_yaml), config_yaml)
        for callback in callbacks:
            if isinstance(callback, SteerabilityReport):
                callback.config = provenance.config
        sub = self.config[self.subcommand] if self.subcommand else self.config
        run_folder = [RunFolder(sub.get("ckpt_path"), sub.get("overwrite", False))] if self.subcommand == "fit" else []
        self._signals = SignalCheckpoint()
        callbacks = callbacks + [Throughput(), FinalCheckpoint(), *run_folder, self._signals, provenance,
                                 TrainingRun(provenance.config)]
        config["plugins"] = with_atomic_checkpoints(config.get("plugins"), config.get("strategy"))
        check_trainer_options(config)
        with trainer_options():
            trainer = super()._instantiate_trainer(config, callbacks)
        check_sync_batchnorm(trainer, bool(config.get("sync_batchnorm")))
        return trainer

    def _parse_ckpt_path(self) -> None:
        """Read --ckpt_path through steer's safe loader: a damaged file is one clear error.

        Unlike LightningCLI's, the checkpoint's hyper_parameters are not merged into the config:
        ``--ckpt_path`` never changes the config (the config and command line say what runs). A fit that
        resumes (a file, or ``last`` in --checkpoint.dirpath) must be given the config recorded in the
        checkpoint, but for the options a resumed run may change (``steer.cli.resume.MAY_CHANGE``).
        """
        subcommand = self.config.get("subcommand") or ""
        sub = self.config.get(subcommand, {})
        path = sub.get("ckpt_path") if hasattr(sub, "get") else None
        self._resume: dict | None = None  # the checkpoint --ckpt_path names, and its path
        self._resume_path = ""
        if path == "last" and subcommand == "fit":
            path = last_checkpoint(sub.get("checkpoint.dirpath"))
        if path and path not in ("last", "best", "hpc", "registry") and not str(path).startswith("registry:"):
            ckpt = load(path, "--ckpt_path")
            if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
                raise SteerError(f"--ckpt_path {path} is not a Lightning checkpoint (it has no state_dict).")
            self._resume, self._resume_path = ckpt, str(path)
            recorded = ckpt.get(RECORD_KEY, {}).get("config") if isinstance(ckpt.get(RECORD_KEY), dict) else None
            if subcommand == "fit" and isinstance(recorded, dict):
                entry = reference.recorded_entry(ckpt)
                option = entry.get("option") if entry is not None else None  # a new place of the file: hash-checked
                check_same_config(recorded, yaml.safe_load(self._config_yaml()), str(path),
                                  (f"model.init_args.generator.init_args.{option}",) if option else ())

    def instantiate_classes(self) -> None:
        """Build the config's parts; a generator that cannot be built because the weights file a --ckpt_path
        checkpoint references is gone says so."""
        try:
            super().instantiate_classes()
        except Exception as e:
            entry = reference.recorded_entry(self._resume) if self._resume is not None else None
            if steer_cause(e) is not None and reference.missing_files(entry):
                raise reference.moved(entry, f"--ckpt_path {self._resume_path}") from None
            raise

    def before_fit(self) -> None:
        """A checkpoint to resume from must hold this model's weights, not another model's; the optimizers must
        accept their options and a batch must fit in memory; the temporary files of a killed run in the checkpoint
        folder go."""
        self._check_checkpoint_fits()
        start_runs(self.trainer)
        check_optimizers(self.model)
        check_batch_memory(self.model, getattr(self.datamodule, "batch_size", None))
        ckpt = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and ckpt is not None and ckpt.dirpath:
            remove_leftovers(ckpt.dirpath)

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it; stopped by SIGTERM or SIGINT (after saving last.ckpt when fitting), exit with 128 + signal."""
        try:
            super()._run_subcommand(subcommand)
        except SIGTERMException:
            signum = self._signals.signum or signal.SIGTERM
            saved = (f"saved {self._signals.saved}; resume with --ckpt_path last" if self._signals.saved
                     else "no checkpoint saved")
            if self.trainer.is_global_zero:
                print(f"stopped by {signal.Signals(signum).name} at step {self.trainer.global_step}: {saved}.",
                      file=sys.stderr)
            self._finish_run()
            sys.exit(128 + signum)

    def before_validate(self) -> None:
        self._check_loop("validation_step", "validate", "it has no validation step")

    def before_test(self) -> None:
        self._check_loop("test_step", "test", "only a walk run (steer.modules.WalkModule) measures its steerability "
                         "as a test loop; measure the walk of another run with steer evaluate steerability --checkpoint")

    def before_predict(self) -> None:
        self._check_loop("predict_step", "predict", "only a walk run (steer.modules.WalkModule) predicts walked "
                         "images")

    def _check_loop(self, step: str, subcommand: str, why: str) -> None:
        """The model must have the loop's step, and --ckpt_path must hold its weights."""
        if not is_overridden(step, self.model, LightningModule):
            raise SteerError(f"{type(self.model).__name__} cannot {subcommand}: {why}.")
        self._check_checkpoint_fits()
        start_runs(self.trainer)

    def _check_checkpoint_fits(self) -> None:
        if self._resume is None:
            return
        state = reference.completed_state(self.model, self._resume, f"--ckpt_path {self._resume_path}")
        mismatch = describe_mismatch(self.model, state)
        if mismatch:
            raise SteerError(
                f"--ckpt_path {self._resume_path} was saved by another model ({mismatch}); "
                "resume with the config.yaml saved beside it."
            )

    def after_fit(self) -> None:
        ckpt = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and ckpt is not None and ckpt.last_model_path:
            print(f"last checkpoint: {ckpt.last_model_path}")
        self._finish_run()

    def after_validate(self) -> None:
        self._finish_run()

    def after_test(self) -> None:
        self._finish_run()

    def after_predict(self) -> None:
        self._finish_run()

    def _finish_run(self) -> None:
        folder = finish_wandb(self.trainer)
        if folder is not None:
            print(run_line(folder))

