"""Several models' steerability side by side, from their report folders (metrics.json).

For each labelled report: the masked L2 of the walk per α, the mean of the
edit's measured attribute per α (sprites reports, e.g. ``mean_x`` for a
shift in x), the achieved α and the limit (from the attribute where it was
measured, else from registration). Writes comparison.png and comparison.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from steer.errors import SteerError  # noqa: E402
from steer.reports.folder import save_figure  # noqa: E402
from steer.reports.report import Report  # noqa: E402


def parse_reports(reports: list[str]) -> dict[str, Path]:
    """``["a=reports/a", …]`` → {label: folder}; clear errors for a bad item or a folder without metrics.json."""
    out: dict[str, Path] = {}
    for item in reports:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            raise SteerError(f"--reports takes LABEL=FOLDER items (e.g. a=reports/a), got {item!r}.")
        if label in out:
            raise SteerError(f"--reports names the label {label!r} twice; give each report its own label.")
        if not (Path(folder) / "metrics.json").is_file():
            raise SteerError(f"{folder} has no metrics.json; give folders written by `steer evaluate steerability`.")
        out[label] = Path(folder)
    if not out:
        raise SteerError("--reports needs at least one LABEL=FOLDER item.")
    return out


def summarise(metrics: dict) -> dict:
    """One model's row: alphas, masked_l2, baseline_l2, mean_<attribute>, achieved, limit."""
    row = {"alphas": metrics["alphas"], "masked_l2": metrics["walk_error"], "baseline_l2": metrics["baseline_error"]}
    attributes = metrics.get("attributes")
    edit_attributes = attributes and attributes.get("achieved_alpha") is not None
    if edit_attributes:
        for name, values in attributes["attributes"].items():
            row[f"mean_{name}"] = values["model_mean"]
        row["achieved"], row["limit"], row["limit_from"] = attributes["achieved_alpha"], attributes["limit"], "attribute"
    else:
        row["achieved"], row["limit"], row["limit_from"] = metrics["achieved_alpha"], metrics["limit"], "registration"
    return row


def compare(reports: dict[str, Path]) -> dict:
    """{label: summarise(metrics)}; every report must be of the same edit and α grid."""
    rows, edits = {}, {}
    for label, folder in reports.items():
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
            rows[label], edits[label] = summarise(metrics), (metrics["edit"], metrics["alphas"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            reason = f"no {e}" if isinstance(e, KeyError) else type(e).__name__
            raise SteerError(f"{folder}/metrics.json is not a steerability report ({reason}); give folders written by "
                             "`steer evaluate steerability`, or rerun that report.") from None
    if len({json.dumps(e) for e in edits.values()}) > 1:
        raise SteerError("the reports measure different edits or α grids: " +
                         "; ".join(f"{k}: {e[0]}" for k, e in edits.items()) + ". Compare reports of one edit.")
    return {"edit": next(iter(edits.values()))[0], "models": rows}


def plot(comparison: dict, path: Path) -> Path:
    """Left: masked L2 per α (walk solid, no walk dotted); right: achieved α against the request."""
    fig, (ax_err, ax_got) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, row in comparison["models"].items():
        line, = ax_err.plot(row["alphas"], row["masked_l2"], "-o", label=f"{label}: walk", markersize=4)
        ax_err.plot(row["alphas"], row["baseline_l2"], ":", color=line.get_color(), label=f"{label}: no walk")
        ax_got.plot(row["alphas"], row["achieved"], "-o", color=line.get_color(), markersize=4,
                    label=f"{label} (limit from {row['limit_from']})")
    alphas = next(iter(comparison["models"].values()))["alphas"]
    ax_got.plot(alphas, alphas, "k--", linewidth=0.8, label="requested")
    ax_err.set_xlabel("α")
    ax_err.set_ylabel("masked L2")
    ax_err.legend(fontsize=7)
    ax_got.set_xlabel("requested α")
    ax_got.set_ylabel("achieved α")
    ax_got.legend(fontsize=7)
    fig.suptitle(comparison["edit"])
    return save_figure(fig, path)


def comparison_report(comparison: dict) -> Report:
    """comparison.png and comparison.json; the tables as Markdown on the console."""
    lines = [markdown(comparison)] + [f"{label}: limit ({row['limit_from']}) {row['limit']}"
                                      for label, row in comparison["models"].items()]
    return Report("comparison.json", comparison, {"comparison.png": lambda p: plot(comparison, p)}, None, lines,
                  {"compare/curves": "comparison.png"}, job_type="compare")


def markdown(comparison: dict) -> str:
    """The masked-L2 and achieved-α tables as Markdown."""
    models = comparison["models"]
    alphas = next(iter(models.values()))["alphas"]
    head = "| model | " + " | ".join(f"{a:+g}" for a in alphas) + " |\n|---|" + "---|" * len(alphas) + "\n"
    l2 = "".join(f"| {k} | " + " | ".join(f"{v:.4f}" for v in r["masked_l2"]) + " |\n" for k, r in models.items())
    got = "".join(f"| {k} | " + " | ".join(f"{v:+.2f}" for v in r["achieved"]) + " |\n" for k, r in models.items())
    return f"masked L2 per α\n\n{head}{l2}\nachieved α per requested α\n\n{head}{got}"
