"""The steerability report of a Lightning test run (``steer test``), written when the test loop ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning import LightningModule, Trainer

from steer.evaluation.report import steerability_report
from steer.evaluation.steerability import Steerability
from steer.reports.folder import LockedFolder, beside_checkpoint
from steer.reports.report import check_report_folder, publish


class SteerabilityReport(LockedFolder):
    """Writes metrics.json, curves.png, walk_grid.png and walk.gif of the test run into ``out`` (rank zero).

    The numbers are the module's synced steerability metric (``steerability_values``,
    computed on every rank at the end of the test epoch); the pictures are
    the first latents of rank zero's first batch. ``config``: the resolved config of
    the test command, for the report's provenance (SteerCLI sets it). Rank zero holds the folder's lock
    from the start of the test loop until the report is written.

    Args:
        out: report folder; default: ``report`` beside the tested checkpoint (--ckpt_path).
        fraction: the walk "follows" at α while the achieved α is within (1 - fraction) of α.
        overwrite: replace a report already in ``out``.
    """

    def __init__(self, out: str | None = None, fraction: float = 0.8, overwrite: bool = False) -> None:
        self.out = Path(out) if out else None
        self.fraction, self.overwrite = fraction, overwrite
        self.config: dict = {}
        self._pictures: dict[str, Any] | None = None

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.out = self.out or beside_checkpoint(trainer, "report")
        self.hold(trainer, self.out, "--report.out")
        check_report_folder(self.out, self.overwrite, "--report.out")  # before the slow part; only reads

    def on_test_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0 and trainer.is_global_zero and isinstance(outputs, dict):
            self._pictures = {k: v.cpu() for k, v in outputs.items()}

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        values = getattr(pl_module, "steerability_values", None)
        if not trainer.is_global_zero or values is None or self._pictures is None:
            return
        result = Steerability(pl_module.edit, pl_module.test_alphas.cpu(), values.walk_error, values.baseline_error,
                              values.achieved, self.fraction, self._pictures["walked"], self._pictures["target"],
                              values.n)
        report = steerability_report(result)
        report.generator = pl_module.generator
        publish(report, self.out, self.config, wandb=False)  # the test metrics go to the run's own logger
        self.let_go()
