"""A steerability report folder: metrics.json, curves.png, walk_grid.png, walk.gif."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from steer.edits import Edit  # noqa: E402
from steer.evaluation.attribute_steering import AttributeSteering  # noqa: E402
from steer.evaluation.steerability import Steerability, achieved_percent, axes  # noqa: E402
from steer.media import grid, pil, save_gif  # noqa: E402
from steer.reports.folder import save_figure  # noqa: E402
from steer.reports.report import Report, Table  # noqa: E402
from steer.reports.wandb import Curve  # noqa: E402

TRAINING_SHADE = {"color": "tab:green", "alpha": 0.08}  # the training range in every α plot

SLIDER_COLOURS = {"R": "tab:red", "G": "tab:green", "B": "tab:blue"}
CLASSES_SHOWN = 10  # classes of a per-class walk in the printed table and lines; metrics.json holds them all


def limit_label(limits: dict) -> str:
    """'− 0.5 … + 2' per slider; 'none' where the walk does not follow even the first step."""
    def side(value: object) -> str:
        return "none" if value is None else f"{value:.3g}"

    per_slider = limits if "positive" not in limits else {"": limits}
    return "; ".join(f"{name} −: {side(v['negative'])}, +: {side(v['positive'])}".strip()
                     for name, v in per_slider.items())


def plot_curves(result: Steerability, path: Path) -> Path:
    """Left: walk vs baseline error per α. Right: achieved vs requested α, with the limit band."""
    edit = result.edit
    fig, (ax_err, ax_reach) = plt.subplots(1, 2, figsize=(11, 4.2))
    log_axis = edit.multiplicative
    for k, (name, rows) in enumerate(axes(result.edit, result.alphas).items()):
        x = result.alphas[rows, k]
        order = x.argsort()
        x, rows = x[order], [rows[i] for i in order]
        label = "" if edit.sliders == 1 else f" {name}"
        colour = SLIDER_COLOURS.get(name, f"C{k}")
        ax_err.plot(x, result.walk_error[rows], "o-", color=colour, label=f"walk{label}")
        ax_err.plot(x, result.baseline_error[rows], "x--", color=colour, alpha=0.6, label=f"no walk{label}")
        ax_reach.plot(x, result.achieved[rows, k], "o-", color=colour, label=f"achieved{label}")
    lo, hi = result.alphas.min().item(), result.alphas.max().item()
    line = torch.linspace(lo, hi, 50)
    ident = float(edit.identity[0])
    if log_axis:
        band_lo = ident * (line / ident) ** result.fraction
        band_hi = ident * (line / ident) ** (2 - result.fraction)
    else:
        band_lo, band_hi = ident + (line - ident) * result.fraction, ident + (line - ident) * (2 - result.fraction)
    ax_reach.plot(line, line, "k:", lw=1, label="requested")
    ax_reach.fill_between(line, band_lo, band_hi, color="grey", alpha=0.2,
                          label=f"within {1 - result.fraction:.0%} (limit band)")
    for ax in (ax_err, ax_reach):
        shade_training_range(ax, edit)
        if log_axis:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(f"requested α ({edit.name}{', ' + edit.unit if edit.unit else ''})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if log_axis:
        ax_reach.set_yscale("log", base=2)
    ax_err.set_ylabel("masked L2 to edit(G(z), α)")
    ax_reach.set_ylabel("achieved α (registration)")
    ax_err.set_title(f"{edit.name}: walk vs no walk (n={result.n})", fontsize=10)
    ax_reach.set_title(f"achieved α; limit at {result.fraction:.0%}: {limit_label(result.limits())}", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def shade_training_range(ax: plt.Axes, edit: Edit) -> None:
    """Shade the α the walk was trained on (over every slider: colour edits share one range)."""
    lo, hi = edit.training_range()
    ax.axvspan(float(lo.min()), float(hi.max()), **TRAINING_SHADE, label="training range")


def plot_walk_grid(result: Steerability, path: Path) -> Path:
    """Rows: for each latent, the walk and the edit target (masked); columns: α."""
    frames, targets = result.frames, result.targets  # (A, K, C, H, W)
    rows = [r for i in range(frames.shape[1]) for r in (frames[:, i], targets[:, i])]
    image = grid(rows)
    fig, ax = plt.subplots(figsize=(1.1 * len(result.alphas) + 1, 1.1 * len(rows) + 0.6))
    ax.imshow(pil(image))
    cell = image.shape[2] / len(result.alphas)
    ax.set_xticks([cell * (i + 0.5) for i in range(len(result.alphas))])
    ax.set_xticklabels([result.edit.describe(a) for a in result.alphas], rotation=45, fontsize=8)
    row_h = image.shape[1] / len(rows)
    ax.set_yticks([row_h * (i + 0.5) for i in range(len(rows))])
    of_class = [""] * frames.shape[1] if result.frame_classes is None else [f" (class {c})" for c in result.frame_classes]
    ax.set_yticklabels([f"{row}{c}" for c in of_class for row in ("walk", "target")], fontsize=8)
    ax.set_title(f"{result.edit.name}: G(walk(z, α)) and edit(G(z), α)")
    return save_figure(fig, path)


def plot_attributes(measured: AttributeSteering, path: Path) -> Path:
    """Left: the edit's attribute (model and edited data, mean ± std) against α; right: HI per attribute."""
    alphas = measured.alphas[:, 0] if measured.edit.sliders == 1 else torch.arange(len(measured.alphas))
    shown = list(measured.edit.attributes) or measured.names[:1]
    fig, (ax_mean, ax_hi) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in shown:
        k = measured.names.index(name)
        for label, mean, std, style in (("model", measured.model_mean, measured.model_std, "-o"),
                                         ("data, edited", measured.data_mean, measured.data_std, "--s")):
            ax_mean.plot(alphas, mean[:, k], style, label=f"{name}: {label}")
            ax_mean.fill_between(alphas, mean[:, k] - std[:, k], mean[:, k] + std[:, k], alpha=0.15)
    ax_mean.set_xlabel(f"requested α ({measured.edit.name})")
    ax_mean.set_ylabel("attribute (mean ± std)")
    ax_mean.legend(fontsize=8)
    for k, name in enumerate(measured.names):
        ax_hi.plot(alphas, measured.intersection[:, k], "-o", label=name, markersize=3)
    if measured.edit.sliders == 1:  # α on the x axis (several sliders: grid rows)
        for ax in (ax_mean, ax_hi):
            shade_training_range(ax, measured.edit)
    ax_hi.set_ylim(0, 1.02)
    ax_hi.set_xlabel(f"requested α ({measured.edit.name})")
    ax_hi.set_ylabel("histogram intersection, model vs edited data")
    ax_hi.legend(fontsize=8)
    fig.suptitle(f"attributes of G(walk(z, α)) over {measured.n} latents vs edit(x, α) over {measured.n} sprites")
    return save_figure(fig, path)


def steerability_report(result: Steerability, attributes: AttributeSteering | None = None) -> Report:
    """The steerability report: metrics.json, curves.png, walk_grid.png, walk.gif (and attributes.png on sprites)."""
    metrics = result.to_json()
    if attributes is not None:
        metrics["attributes"] = attributes.to_json()
    metrics["limits"] = limit_criteria(result, attributes)
    files = {
        "curves.png": lambda path: plot_curves(result, path),
        "walk_grid.png": lambda path: plot_walk_grid(result, path),
        "walk.gif": lambda path: save_gif([grid([result.frames[a]]) for a in range(len(result.alphas))], path),
    }
    media = {"steerability/curves": "curves.png", "steerability/walk_grid": "walk_grid.png",
             "steerability/walk": "walk.gif"}
    per_class = list(metrics.get("per_class", {}).items())
    class_lines = [f"  class {c} ({part['n_latents']} latents): {limit_label(part['limit'])}"
                   for c, part in per_class[:CLASSES_SHOWN]]
    if len(per_class) > CLASSES_SHOWN:
        class_lines.append(f"  … {len(per_class)} classes in all: per_class in metrics.json")
    lines = limit_lines(result, metrics["limits"], class_lines)
    if attributes is not None:
        files["attributes.png"] = lambda path: plot_attributes(attributes, path)
        media["steerability/attributes"] = "attributes.png"
        lines += attribute_lines(attributes)
    return Report("metrics.json", metrics, files, alpha_table(result), lines, media, {"limit": metrics["limit"]},
                  job_type="steerability", curves=alpha_curves(result))


def limit_criteria(result: Steerability, attributes: AttributeSteering | None) -> dict:
    """Both limit criteria side by side: per criterion the limit (largest α on each side that the walk follows
    within 1 − fraction) and the achieved share of each requested α in %; the attribute one is None off sprites."""
    edit, alphas = result.edit, result.alphas
    out = {"fraction": result.fraction,
           "registration": {"limit": result.limits(), "achieved_percent": achieved_percent(edit, alphas, result.achieved)},
           "attribute": None}
    if attributes is not None and attributes.achieved is not None:
        out["attribute"] = {"limit": attributes.limits(), "attributes": list(edit.attributes),
                            "achieved_percent": achieved_percent(edit, attributes.alphas, attributes.achieved),
                            "hist_intersection": {a: attributes.intersection[:, attributes.names.index(a)].tolist()
                                                  for a in edit.attributes}}
    return out


def limit_lines(result: Steerability, limits: dict, per_class: list[str]) -> list[str]:
    """The training range, the α beyond it, and both limit criteria, one line each (``per_class``: the registration
    limits of a per-class walk's classes, after the overall one)."""
    edit, alphas = result.edit, result.alphas
    beyond = [edit.describe(a) for a, inside in zip(alphas, edit.in_training_range(alphas)) if not inside]
    lo, hi = edit.training_range()
    span = ", ".join(f"{name} {a:.3g} … {b:.3g}" for name, a, b in zip(edit.slider_names, lo.tolist(), hi.tolist()))
    attribute = limits["attribute"]
    measured = ("not measured (on sprites: the edit's attribute, e.g. mean x(α) − mean x(0))" if attribute is None
                else limit_label(attribute["limit"]))
    return [f"training range: {span}{edit.unit}; α beyond it: {', '.join(beyond) or 'none'}",
            f"limits (the walk follows within {1 - result.fraction:.0%}):",
            f"  registration (α' minimising L2 to edit(G(z), α')): {limit_label(limits['registration']['limit'])}",
            *per_class,
            f"  attribute ({'/'.join(edit.attributes) or 'none'} of G(walk(z, α)) vs α = 0): {measured}"]


def alpha_table(result: Steerability) -> Table:
    """Per α of the grid: α per slider, walk and no-walk error, achieved α per slider (all numbers); for a
    per-class walk, then each class's walk error and achieved α (the first ``CLASSES_SHOWN`` classes)."""
    names = [""] if result.edit.sliders == 1 else [f"_{n}" for n in result.edit.slider_names]
    columns = ([f"alpha{n}" for n in names] + ["in_training_range", "walk_error", "baseline_error"]
               + [f"achieved_alpha{n}" for n in names])
    parts = [(f"_class{c}", v.walk_error, v.achieved) for c, v in list(result.per_class.items())[:CLASSES_SHOWN]]
    for part, _, _ in parts:
        columns += [f"walk_error{part}"] + [f"achieved_alpha{n}{part}" for n in names]
    inside = result.edit.in_training_range(result.alphas)
    rows = [[*map(float, result.alphas[i]), int(inside[i]), float(result.walk_error[i]), float(result.baseline_error[i]),
             *map(float, result.achieved[i]), *(x for _, w, c in parts for x in (float(w[i]), *map(float, c[i])))]
            for i in range(len(result.alphas))]
    return columns, rows


def alpha_curves(result: Steerability) -> dict[str, Curve]:
    """Native W&B line plots per slider: walk and no-walk error, and achieved against requested α."""
    curves = {}
    for k, (name, rows) in enumerate(axes(result.edit, result.alphas).items()):
        rows = sorted(rows, key=lambda i: float(result.alphas[i, k]))
        xs = [float(result.alphas[i, k]) for i in rows]
        part = f"/{name}" if result.edit.sliders > 1 else ""
        curves[f"steerability/errors{part}"] = Curve(
            xs, {"walk": [float(result.walk_error[i]) for i in rows],
                 "no walk": [float(result.baseline_error[i]) for i in rows]}, "requested α",
            f"masked L2 to edit(G(z), α){part}")
        curves[f"steerability/achieved{part}"] = Curve(
            xs, {"achieved α": [float(result.achieved[i, k]) for i in rows], "requested α": xs}, "requested α",
            f"achieved α{part}")
    return curves


def attribute_lines(measured: AttributeSteering) -> list[str]:
    """The attribute table: per α, model vs edited-data mean ± std and histogram intersection."""
    describe, names = measured.edit.describe, measured.names
    beyond = ~measured.edit.in_training_range(measured.alphas)
    lines = [f"{'α (* beyond training)':>22}  " + "  ".join(f"{n + ' model / data (HI)':>32}" for n in names)]
    for i, a in enumerate(measured.alphas):
        cells = [f"{measured.model_mean[i, k]:7.3g}±{measured.model_std[i, k]:<5.2g}/{measured.data_mean[i, k]:7.3g}"
                 f"±{measured.data_std[i, k]:<5.2g}({measured.intersection[i, k]:.2f})" for k in range(len(names))]
        lines.append(f"{describe(a) + (' *' if beyond[i] else ''):>22}  " + "  ".join(f"{c:>32}" for c in cells))
    if measured.achieved is not None:
        achieved = ", ".join(f"{describe(a)} → {describe(c)}" for a, c in zip(measured.alphas, measured.achieved))
        lines.append(f"achieved α from {'/'.join(measured.edit.attributes)}: {achieved}")
    return lines
