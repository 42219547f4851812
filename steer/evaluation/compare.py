"""Several models' steerability side by side, from their report folders (metrics.json).

For each labelled report: the masked L2 of the walk per α, the mean of the
edit's measured attribute per α (sprites reports, e.g. ``mean_x`` for a
shift in x), the achieved α and the limit (from the attribute where it was
measured, else from registration), and the mean masked L2 inside and beyond
the training range with each model's reduction against the first. A label
given several times names the seeds of one model: its row holds the mean
over them, the Student-t 95 % interval of the masked L2 and of the achieved
α per α, and every seed's own row and limit. Writes comparison.png and comparison.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from steer.errors import SteerError  # noqa: E402
from steer.evaluation.intervals import mean_ci  # noqa: E402
from steer.reports.folder import save_figure  # noqa: E402
from steer.reports.report import Report  # noqa: E402


def parse_reports(reports: list[str]) -> dict[str, list[Path]]:
    """``["a=reports/a0", "a=reports/a1", "b=reports/b0", …]`` → {label: [folder, …]} (a repeated label: that
    model's seeds, in order); clear errors for a bad item, a folder given twice or one without metrics.json."""
    out: dict[str, list[Path]] = {}
    for item in reports:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            raise SteerError(f"--reports takes LABEL=FOLDER items (e.g. a=reports/a), got {item!r}.")
        if not (Path(folder) / "metrics.json").is_file():
            raise SteerError(f"{folder} has no metrics.json; give folders written by `steer evaluate steerability`.")
        if any(Path(folder).resolve() == f.resolve() for f in out.get(label, [])):
            raise SteerError(f"--reports gives {folder} twice for {label!r}; a repeated label names another seed's "
                             "report, so give each seed's folder once.")
        out.setdefault(label, []).append(Path(folder))
    if not out:
        raise SteerError("--reports needs at least one LABEL=FOLDER item.")
    return out


def summarise(metrics: dict) -> dict:
    """One model's row: alphas, masked_l2, baseline_l2, mean_<attribute>, achieved, limit."""
    row = {"alphas": metrics["alphas"], "masked_l2": metrics["walk_error"], "baseline_l2": metrics["baseline_error"],
           "in_training_range": metrics.get("in_training_range")}
    attributes = metrics.get("attributes")
    edit_attributes = attributes and attributes.get("achieved_alpha") is not None
    if edit_attributes:
        for name, values in attributes["attributes"].items():
            row[f"mean_{name}"] = values["model_mean"]
        row["achieved"], row["limit"], row["limit_from"] = attributes["achieved_alpha"], attributes["limit"], "attribute"
    else:
        row["achieved"], row["limit"], row["limit_from"] = metrics["achieved_alpha"], metrics["limit"], "registration"
    return row


def over_seeds(rows: list[dict]) -> dict:
    """One model's row from its seeds' rows: every per-α list is the mean over the seeds; ``masked_l2_ci95`` and
    ``achieved_ci95`` are [low, high] per α (Student t); ``limit`` is the list of the seeds' limits."""
    if len(rows) == 1:
        return rows[0]
    def finite(values: list) -> list:  # JSON has no NaN: a position no seed measured is None
        return [finite(v) if isinstance(v, list) else (v if v == v else None) for v in values]

    out: dict = {"alphas": rows[0]["alphas"], "seeds": len(rows), "per_seed": rows,
                 "limit": [r["limit"] for r in rows], "limit_from": rows[0]["limit_from"]}
    for key in rows[0]:
        if key.startswith(("masked_l2", "baseline_l2", "mean_")) or key == "achieved":
            out[key] = finite(mean_ci([r[key] for r in rows])["mean"])
    for key in ("masked_l2", "achieved"):
        ci = mean_ci([r[key] for r in rows])
        out[f"{key}_ci95"] = [finite(ci["low"]), finite(ci["high"])]
    return out


def compare(reports: dict[str, list[Path]]) -> dict:
    """{label: summarise(metrics), or over_seeds of its seeds' summaries}; every report must be of the same edit
    and α grid."""
    rows, edits = {}, {}
    for label, folders in reports.items():
        seeds = []
        for folder in folders:
            try:
                metrics = json.loads((folder / "metrics.json").read_text())
                seeds.append(summarise(metrics))
                edits[str(folder)] = (metrics["edit"], metrics["alphas"])
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                reason = f"no {e}" if isinstance(e, KeyError) else type(e).__name__
                raise SteerError(f"{folder}/metrics.json is not a steerability report ({reason}); give folders "
                                 "written by `steer evaluate steerability`, or rerun that report.") from None
        rows[label] = over_seeds(seeds)
    if len({json.dumps(e) for e in edits.values()}) > 1:
        raise SteerError("the reports measure different edits or α grids: " +
                         "; ".join(f"{k}: {e[0]}" for k, e in edits.items()) + ". Compare reports of one edit.")
    return {"edit": next(iter(edits.values()))[0], "models": rows, "ranges": ranges(rows)}


def range_means(row: dict) -> dict[str, list[float]]:
    """Per seed, the mean masked L2 over the α inside the training range and over those beyond it (the identity,
    where the edit changes nothing, left out)."""
    seeds = row.get("per_seed", [row])
    out: dict[str, list[float]] = {"inside": [], "beyond": []}
    for r in seeds:
        inside = np.asarray(r["in_training_range"] or [True] * len(r["alphas"]), dtype=bool)
        moved = np.asarray(r["baseline_l2"], dtype=float) > 0
        error = np.asarray(r["masked_l2"], dtype=float)
        out["inside"].append(float(error[inside & moved].mean()) if (inside & moved).any() else float("nan"))
        out["beyond"].append(float(error[~inside & moved].mean()) if (~inside & moved).any() else float("nan"))
    return out


def ranges(rows: dict[str, dict]) -> dict:
    """Per model, the mean masked L2 inside and beyond the training range (over its seeds: mean and 95 % interval);
    for every model after the first, its reduction against the first, 1 − its mean / the first's, paired seed by
    seed in the order given (only where both have as many seeds)."""
    means = {label: range_means(row) for label, row in rows.items()}
    out: dict = {"models": {label: {side: {"per_seed": v, **mean_ci(v)} for side, v in m.items()}
                            for label, m in means.items()}, "reduction_vs": next(iter(rows)), "reduction": {}}
    first = means[next(iter(rows))]
    for label, m in list(means.items())[1:]:
        if len(m["inside"]) == len(first["inside"]):
            out["reduction"][label] = {side: {"per_seed": r, **mean_ci(r)} for side in m for r in
                                       [[1 - a / b for a, b in zip(m[side], first[side])]]}
    return json.loads(json.dumps(out).replace("NaN", "null"))


def plot(comparison: dict, path: Path) -> Path:
    """Left: masked L2 per α (walk solid, no walk dotted); right: achieved α against the request. A model of
    several seeds: its mean, with the 95 % interval shaded."""
    fig, (ax_err, ax_got) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, row in comparison["models"].items():
        seeds = f", {row['seeds']} seeds" if "seeds" in row else ""
        line, = ax_err.plot(row["alphas"], row["masked_l2"], "-o", label=f"{label}: walk{seeds}", markersize=4)
        ax_err.plot(row["alphas"], row["baseline_l2"], ":", color=line.get_color(), label=f"{label}: no walk")
        ax_got.plot(row["alphas"], row["achieved"], "-o", color=line.get_color(), markersize=4,
                    label=f"{label} (limit from {row['limit_from']})")
        for ax, key in ((ax_err, "masked_l2_ci95"), (ax_got, "achieved_ci95")):
            if key in row:
                ax.fill_between(row["alphas"], *row[key], color=line.get_color(), alpha=0.2, linewidth=0)
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
    lines = [markdown(comparison)] + [
        f"{label}: limit ({row['limit_from']}){' per seed' if 'seeds' in row else ''} {row['limit']}"
        for label, row in comparison["models"].items()] + range_lines(comparison["ranges"])
    return Report("comparison.json", comparison, {"comparison.png": lambda p: plot(comparison, p)}, None, lines,
                  {"compare/curves": "comparison.png"}, job_type="compare")


def range_lines(ranges: dict) -> list[str]:
    """The mean masked L2 inside / beyond the training range per model, and each model's reduction against the
    first, as console lines (mean [95 % interval] over seeds where there are several)."""
    def said(v: dict, percent: bool = False) -> str:
        k = 100 if percent else 1
        if v["mean"] is None:
            return "–"
        text = f"{k * v['mean']:.1f} %" if percent else f"{v['mean']:.4f}"
        return text + (f" [{k * v['low']:.3g}, {k * v['high']:.3g}]" if v["low"] is not None else "")

    lines = [f"{label}: mean masked L2 inside the training range {said(m['inside'])}, beyond it {said(m['beyond'])}"
             for label, m in ranges["models"].items()]
    lines += [f"{label} against {ranges['reduction_vs']}: masked L2 lower by {said(r['inside'], True)} inside the "
              f"training range, {said(r['beyond'], True)} beyond it" for label, r in ranges["reduction"].items()]
    return lines


def markdown(comparison: dict) -> str:
    """The masked-L2 and achieved-α tables as Markdown; a model of several seeds as mean ± half its 95 % interval."""
    models = comparison["models"]
    alphas = next(iter(models.values()))["alphas"]
    head = "| model | " + " | ".join(f"{a:+g}" for a in alphas) + " |\n|---|" + "---|" * len(alphas) + "\n"

    def table(key: str, fmt: str) -> str:
        rows = ""
        for label, r in models.items():
            bounds = zip(*r[f"{key}_ci95"]) if f"{key}_ci95" in r else ((None, None) for _ in r[key])
            cells = ["–" if v is None else format(v, fmt) + ("" if lo is None or hi is None else f" ± {(hi - lo) / 2:.2g}")
                     for v, (lo, hi) in zip(r[key], bounds)]
            name = f"{label} ({r['seeds']} seeds)" if "seeds" in r else label
            rows += f"| {name} | " + " | ".join(cells) + " |\n"
        return rows

    return (f"masked L2 per α\n\n{head}{table('masked_l2', '.4f')}\n"
            f"achieved α per requested α\n\n{head}{table('achieved', '+.2f')}")
