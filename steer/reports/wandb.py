"""steer's W&B runs: offline without credentials, the default logger of training, report folders as runs."""

from __future__ import annotations

import os
from pathlib import Path

from pytorch_lightning import Trainer


def wandb_offline() -> bool:
    """True unless the user chose a W&B mode or has credentials (API key or netrc entry)."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun", "disabled")
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return not (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))


def wandb_logger_config(save_dir: str = "runs", project: str = "steer") -> dict:
    """The default logger: W&B, offline when no credentials are set (``wandb sync`` uploads later)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    return {
        "class_path": "pytorch_lightning.loggers.WandbLogger",
        "init_args": {"project": project, "save_dir": save_dir, "offline": wandb_offline()},
    }


def log_folder(
    out: Path,
    job_type: str,
    config: dict,
    files: dict[str, str],
    tables: dict[str, tuple[list[str], list[list]]],
    summary: dict,
    save_dir: str = "runs",
    project: str = "steer",
) -> str:
    """A report folder as one W&B run (offline without credentials); returns the run's folder.

    ``files``: W&B key → file name in ``out`` (PNG as an image, GIF as a
    video); ``tables``: key → (columns, rows); ``summary``: the run's summary.
    """
    import wandb

    run = wandb.init(project=project, job_type=job_type, dir=save_dir, config=config,
                     mode="offline" if wandb_offline() else None, reinit="finish_previous")
    logged = {key: wandb.Video(str(out / name), format="gif") if name.endswith(".gif") else wandb.Image(str(out / name))
              for key, name in files.items()}
    logged.update({key: wandb.Table(columns=columns, data=rows) for key, (columns, rows) in tables.items()})
    run.log(logged)
    run.summary.update(summary)
    folder = run.dir
    run.finish()
    return folder


def finish_wandb(trainer: Trainer) -> None:
    """Close the W&B run so that its files are complete when the command returns.

    Lightning's WandbLogger leaves the run open (for notebooks); the W&B
    service would otherwise still be writing the offline run after exit.
    """
    from pytorch_lightning.loggers import WandbLogger

    if trainer.is_global_zero and any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()
