"""What an analysis hands the report pipeline, and the pipeline itself (``publish``).

Every analysis (steerability, directions, trajectories, manifolds, scores,
control, comparisons) builds a ``Report``: its JSON record, its other files
(figures, GIFs, tensors) as writers, its console table and what to show in
W&B. ``publish`` then does the same for all of them: stage every file and
move them into place with the JSON last (a report is complete or untouched),
add one provenance record to the JSON, print the table, log the folder as a
W&B run, and say where everything went.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from steer.formats.provenance import file_sha256, provenance
from steer.reports.folder import Writer, check_out_dir, save_json, write_folder
from steer.reports.wandb import OFFLINE_HINT, Curve, Table, log_folder, run_line, wandb_errors


@dataclass
class Report:
    """One analysis's output, before it is written.

    ``name``: the JSON file (e.g. ``metrics.json``) that marks a complete report;
    ``record``: its content; ``files``: every other file, by name; ``table``:
    the console and W&B table (numbers stay numbers); ``lines``: console lines
    printed after the table; ``media``: W&B key → file name (PNG or GIF);
    ``summary``: W&B run summary; ``curves``: native W&B line plots;
    ``job_type``: the W&B run's job type; ``generator``: what the report is
    about (its spec and weights hash go into the provenance); ``checkpoint``
    and ``trained``: the checkpoint measured and its steer record, which link
    the W&B run to the training run.
    """

    name: str
    record: dict
    files: dict[str, Writer] = field(default_factory=dict)
    table: Table | None = None
    lines: list[str] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    job_type: str = "evaluate"
    curves: dict[str, Curve] = field(default_factory=dict)
    generator: nn.Module | None = None
    checkpoint: str | None = None
    trained: dict = field(default_factory=dict)


def check_report_folder(out: Path, overwrite: bool, option: str = "--out") -> None:
    """Refuse ``out`` (named by ``option``) before any slow work if it already holds files, unless ``overwrite``;
    refuse unwritable places."""
    held = sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) if out.is_dir() else []
    check_out_dir(out, overwrite, held, option)


def format_table(table: Table) -> str:
    """Columns right-aligned; floats to 4 significant digits."""
    columns, rows = table
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) if cells else len(str(c)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(f"{v:>{w}}" for v, w in zip(row, widths)) for row in [list(map(str, columns)), *cells])


def publish(report: Report, out: Path, config: dict, wandb: bool = True) -> Path:
    """Write ``report`` into ``out`` (all files or none; ``check_report_folder`` ran before), print it, log it to
    W&B; returns ``out``. ``config``: the resolved options of the command that made it (for the provenance, with the
    measured checkpoint's path and sha256)."""
    record = {**report.record, "provenance": provenance(config, report.generator)}
    if report.checkpoint is not None:  # which file was measured, byte for byte
        record["provenance"]["checkpoint"] = {"path": str(report.checkpoint), "sha256": file_sha256(report.checkpoint)}
    write_folder(out, {**report.files, report.name: lambda path: save_json(record, path)}, overwrite=True)
    if report.table is not None:
        print(format_table(report.table))
    for line in report.lines:
        print(line)
    if wandb:
        tables = {f"{report.job_type}/table": report.table} if report.table is not None else {}
        try:
            folder = log_folder(out, report.job_type, record["provenance"], report.media, tables, report.summary,
                                report.curves, report.checkpoint, report.trained)
            print(run_line(folder))
        except wandb_errors() as e:  # the report is written: say so and how to log it, and succeed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"W&B: no run ({first}); the report is complete. To log it, {OFFLINE_HINT}.", file=sys.stderr)
    print(f"report: {out}")
    return out
