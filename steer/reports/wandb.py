"""steer's W&B runs: training and report runs that say what ran, linked to each other.

Every run logs offline when no credentials are set (``wandb sync RUN_FOLDER``
uploads it later; ``run_line`` prints that folder). A training run's config
is the full resolved config; its name, group and tags come from the classes
it trains (e.g. group ``DigiFaceDCGAN-Zoom-LinearWalk``, name
``fit-DigiFaceDCGAN-Zoom-LinearWalk``) unless the user set them. A report run
measured on a checkpoint joins the group of the training run that wrote it,
names that run in its config (``trained_run``), uses the checkpoint as input
artifact and logs its report folder as output artifact. Artifacts are
references to the local files: nothing is copied.

Training (``SteerCLI``): ``wandb_logger_config``, ``label_logger``,
``TrainingRun``, ``training_run`` (for the checkpoint's record),
``finish_wandb``. Reports: ``log_folder`` (one call), or ``open_run``,
``use_checkpoint``, ``log_report`` and ``close_run`` step by step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import WandbLogger

from steer.errors import SteerError

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

RUN_KEY = "wandb_run"  # in a checkpoint's steer record: the W&B run that trained it
STEP = "trainer/global_step"  # the x-axis Lightning's WandbLogger gives every metric
SUMMARIES = {"val/loss": "min", "train/images_per_second": "last"}
WALK_MODULE = "WalkModule"  # the default kind of run: its name is left out of the group

Table = tuple[list[str], list[list]]  # (columns, rows)


def wandb_offline() -> bool:
    """True unless the user chose a W&B mode or has credentials (API key or netrc entry)."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun", "disabled")
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return not (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))


def default_offline() -> bool:
    """True where steer must choose offline itself: no WANDB_MODE set (wandb follows a set one) and no credentials."""
    return not os.environ.get("WANDB_MODE") and wandb_offline()


INIT_TIMEOUT = "30"  # seconds an online run may take to start before steer gives up on it (WANDB_INIT_TIMEOUT)
OFFLINE_HINT = "log offline with WANDB_MODE=offline (upload later with wandb sync)"


def quiet_and_bounded() -> None:
    """W&B without its banner, and an online run that starts within INIT_TIMEOUT s or fails (the user may set both)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_INIT_TIMEOUT", INIT_TIMEOUT)


def wandb_errors() -> tuple[type[BaseException], ...]:
    """The exceptions W&B raises when a run cannot start or log (no network, no or a wrong API key)."""
    import wandb

    return (wandb.errors.Error,)


def wandb_logger_config(save_dir: str = "runs", project: str = "steer") -> dict:
    """The default logger: W&B, offline when no credentials are set (``wandb sync`` uploads later)."""
    quiet_and_bounded()
    return {
        "class_path": "pytorch_lightning.loggers.WandbLogger",
        "init_args": {"project": project, "save_dir": save_dir, "offline": default_offline()},
    }


# -- labels: group, name and tags from the classes of a run ------------------------------------
@dataclass(frozen=True)
class RunLabels:
    """A run's group and tags, derived from the classes it trains or measures."""

    group: str | None
    tags: list[str]

    def name(self, job_type: str) -> str | None:
        """The run's name: its job type, then its group (e.g. fit-DigiFaceDCGAN-Zoom-LinearWalk)."""
        return f"{job_type}-{self.group}" if self.group else None


def class_name(spec: Any) -> str | None:
    """The class name of a ``class_path`` spec (steer.edits.Zoom → Zoom); None for anything else."""
    path = spec.get("class_path") if isinstance(spec, Mapping) else None
    return path.rsplit(".", 1)[-1] if isinstance(path, str) else None


def run_labels(model: Mapping) -> RunLabels:
    """Group and tags from the generator, edit and walk classes of ``model``, e.g. DigiFaceDCGAN-Zoom-LinearWalk.

    ``model`` is a config's model section (class_path + init_args) or a mapping
    holding generator / edit / walk specs. A module other than the walk module
    leads the group (GANModule-DCGAN, BetaVAE-VAEDecoder).
    """
    args = model.get("init_args") if isinstance(model.get("init_args"), Mapping) else model
    parts = [name for key in ("generator", "edit", "walk") if (name := class_name(args.get(key)))]
    module = class_name(model)
    if module and module != WALK_MODULE:
        parts.insert(0, module)
    return RunLabels("-".join(parts) or None, parts)


def label_logger(logger: Any, model: Mapping, job_type: str) -> None:
    """Fill the unset name, group, tags and job type of a parsed WandbLogger config from ``model``.

    ``logger``: the parsed ``trainer.logger`` (a class_path + init_args
    namespace, a list of them, or a bool); loggers other than W&B are left alone.
    """
    labels = run_labels(model)
    for entry in logger if isinstance(logger, list) else [logger]:
        if not str(getattr(entry, "class_path", "")).endswith(".WandbLogger") or entry.get("init_args") is None:
            continue
        args = entry.init_args
        for key, value in (("name", labels.name(job_type)), ("group", labels.group), ("tags", labels.tags),
                           ("job_type", job_type)):
            if args.get(key) is None and value:
                args[key] = value


# -- training runs -----------------------------------------------------------------------------
def wandb_runs(trainer: Trainer) -> list[Run]:
    """The W&B runs of ``trainer``'s loggers, on the rank that logs (global rank 0); none elsewhere."""
    if not trainer.is_global_zero:
        return []
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def start_runs(trainer: Trainer) -> None:
    """Start the trainer's W&B runs now, before any work: a run that cannot start (no network, a wrong API key)
    is one line saying how to go offline, not a traceback mid-fit."""
    try:
        wandb_runs(trainer)
    except wandb_errors() as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SteerError(f"W&B could not start the run ({first}); {OFFLINE_HINT}, or pass --trainer.logger false.") \
            from None


def run_folder(run: Run) -> Path | None:
    """The run's folder, the one ``wandb sync`` uploads (``…/wandb/offline-run-…``, holding ``run-*.wandb``).

    None for a disabled run (WANDB_MODE=disabled), which writes nothing.
    """
    return None if run.disabled else Path(run.settings.sync_dir)


def training_run(trainer: Trainer) -> dict:
    """The trainer's W&B run as a checkpoint records it (id, name, group, project, folder); {} if none."""
    return next(({"id": run.id, "name": run.name, "group": run.group, "project": run.project,
                  "folder": str(run_folder(run))} for run in wandb_runs(trainer) if not run.disabled), {})


def checkpoint_artifact(path: Path, trained_run_id: str | None) -> Any:  # wandb.Artifact (imported on use)
    """A reference artifact (no copy) to a checkpoint file, named after the training run that wrote it.

    The training run logs it and report runs use the same name and file, so
    W&B links them (lineage).
    """
    import wandb

    path = Path(path).resolve()
    name = trained_run_id or re.sub(r"[^\w.-]+", "-", f"{path.parent.name}-{path.stem}")
    artifact = wandb.Artifact(f"checkpoint-{name}", type="model", metadata={"path": str(path)})
    artifact.add_reference(path.as_uri())
    return artifact


class TrainingRun(Callback):
    """Makes a training run's W&B run say everything; nothing without a WandbLogger.

    At setup: ``config`` (the full resolved config) as the run's config, and
    metric summaries that make sense (``SUMMARIES``: val/loss its minimum).
    At the end of fit: the last and best checkpoints as reference artifacts
    (aliases ``last``, ``best``) and their paths and the best score in the summary.
    """

    def __init__(self, config: dict) -> None:
        self.config = config

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for run in wandb_runs(trainer):
            run.config.update(self.config, allow_val_change=True)
            for key, summary in SUMMARIES.items():
                run.define_metric(key, summary=summary, step_metric=STEP, step_sync=True)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        ckpt = trainer.checkpoint_callback
        if not isinstance(ckpt, ModelCheckpoint):
            return
        aliases: dict[Path, list[str]] = {}
        for alias, path in (("last", ckpt.last_model_path), ("best", ckpt.best_model_path)):
            if path and Path(path).is_file():
                aliases.setdefault(Path(path).resolve(), []).append(alias)
        for run in wandb_runs(trainer):
            for path, names in aliases.items():
                run.log_artifact(checkpoint_artifact(path, run.id), aliases=names)
                run.summary.update({f"checkpoint/{alias}": str(path) for alias in names})
            if ckpt.best_model_score is not None:
                run.summary["checkpoint/best_score"] = float(ckpt.best_model_score)


def finish_wandb(trainer: Trainer) -> Path | None:
    """Close the trainer's W&B run so that its files are complete when the command returns; returns its folder.

    Lightning's WandbLogger leaves the run open (for notebooks); the W&B
    service would otherwise still be writing the offline run after exit.
    """
    runs = wandb_runs(trainer)
    if not runs:
        return None
    folder = run_folder(runs[0])
    for run in runs:
        run.finish()
    return folder


def run_line(folder: Path | None) -> str:
    """The line that tells the user where the run is, and how to upload it when it is offline."""
    if folder is None:
        return "W&B run: none (WANDB_MODE=disabled)"
    if folder.is_absolute() and folder.is_relative_to(Path.cwd()):
        folder = folder.relative_to(Path.cwd())
    upload = f" (offline; upload it with: wandb sync {folder})" if wandb_offline() else ""
    return f"W&B run: {folder}{upload}"


# -- report runs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """A native W&B line plot: one line per ``ys`` entry (name → values) over ``xs``."""

    xs: Sequence[float]
    ys: Mapping[str, Sequence[float]]
    xname: str
    title: str


def open_run(job_type: str, config: dict, name: str | None = None, group: str | None = None,
             tags: Sequence[str] = (), save_dir: str = "runs", project: str = "steer") -> Run:
    """A new W&B run (offline without credentials); a run still open in this process is finished first."""
    import wandb

    quiet_and_bounded()
    # an absolute folder: a W&B service already running in this process resolves relative ones from its own cwd
    return wandb.init(project=project, job_type=job_type, dir=Path(save_dir).resolve(), config=config, name=name,
                      group=group, tags=list(tags), mode="offline" if default_offline() else None,
                      reinit="finish_previous")


def use_checkpoint(run: Run, path: Path, trained_run_id: str | None) -> None:
    """Declare the checkpoint ``path`` the run's input: W&B links the run to the training run that logged it."""
    artifact = checkpoint_artifact(path, trained_run_id)
    if run.offline:  # run.use_artifact refuses offline runs; this records the same use, which `wandb sync` honours
        run._log_artifact(artifact, use_after_commit=True)
    else:
        run.use_artifact(artifact)


def log_report(run: Run, out: Path, files: Mapping[str, str], tables: Mapping[str, Table] | None = None,
               summary: Mapping[str, Any] | None = None, curves: Mapping[str, Curve] | None = None) -> None:
    """A report folder into ``run``, and the folder as the run's output artifact (a reference, no copy).

    ``files``: W&B key → file name in ``out`` (a GIF as a video, else an
    image); ``tables``: key → (columns, rows), numbers as numbers so W&B can
    plot them; ``curves``: key → native line plot; ``summary``: the run's summary.
    """
    import wandb

    logged: dict[str, Any] = {
        key: wandb.Video(str(out / name), format="gif") if name.endswith(".gif") else wandb.Image(str(out / name))
        for key, name in files.items()}
    logged.update({key: wandb.Table(columns=columns, data=rows) for key, (columns, rows) in (tables or {}).items()})
    logged.update({key: wandb.plot.line_series(xs=list(c.xs), ys=[list(y) for y in c.ys.values()], keys=list(c.ys),
                                               title=c.title, xname=c.xname) for key, c in (curves or {}).items()})
    run.log(logged)
    run.summary.update(dict(summary or {}))
    artifact = wandb.Artifact(f"{run.job_type}-{run.id}", type="report", metadata={"path": str(out.resolve())})
    artifact.add_reference(out.resolve().as_uri())
    run.log_artifact(artifact)


def close_run(run: Run) -> Path | None:
    """Finish ``run``; returns its folder (the one ``wandb sync`` takes; None for a disabled run)."""
    folder = run_folder(run)
    run.finish()
    return folder


def log_folder(out: Path, job_type: str, config: dict, files: Mapping[str, str],
               tables: Mapping[str, Table] | None = None, summary: Mapping[str, Any] | None = None,
               curves: Mapping[str, Curve] | None = None, checkpoint: str | None = None,
               record: dict | None = None, save_dir: str = "runs", project: str = "steer") -> Path | None:
    """A report folder as one W&B run, linked to the training run it measured; returns the run's folder.

    ``checkpoint``: the checkpoint measured (the run's input artifact);
    ``record``: its steer record, whose W&B run (``RUN_KEY``) and model config
    give the group and ``trained_run``. Without them, the group comes from
    generator / edit / walk specs in ``config`` (or its ``model``).
    See ``log_report`` for ``files``, ``tables``, ``summary`` and ``curves``.
    """
    record = record or {}
    trained = record.get(RUN_KEY) or {}
    labels = run_labels(record.get("config", {}).get("model") or config.get("model") or config)
    group = trained.get("group") or labels.group
    config = {**config, **({"checkpoint": str(checkpoint)} if checkpoint else {}),
              **({"trained_run": trained} if trained else {})}
    run = open_run(job_type, config, f"{job_type}-{group}" if group else None, group, labels.tags, save_dir, project)
    if checkpoint:
        use_checkpoint(run, Path(checkpoint), trained.get("id"))
    log_report(run, out, files, tables, summary, curves)
    return close_run(run)
