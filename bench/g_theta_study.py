"""Which sprites GANs let g_θ set x? The control figure of bench/discovery.py across many GANs.

    python bench/g_theta_study.py --workers 2 --models z4=runs/z4/last.ckpt z16=checkpoints/sprites/gan_white.ckpt

For each checkpoint (name=path), what bench/discovery.py measures for g_θ and
nothing else, with its settings: trajectories (ShiftX, t = ±1…±6 px, 128
starts, 100 Adam steps, low-pass loss) and the factor regressor on 3 seeds;
the control figure (std of the measured x at 9 requested x from the 5th to the
95th percentile of the training x; gain) and the least-squares reference
(``discovery.least_squares_regressor``: the best single direction, found with
labels). Beside it the model's histogram intersection with its training data
(x, y, area over 2000 images), so that a model which pins x because it learnt
little x is seen as such, and its latent size, width, seed and walk from its
record.

Writes g_theta_study.json (models not run keep their entries) and
g_theta_study.png (g_θ's std against the latent size) to --out. ``--workers``
runs that many models at once, one intra-op thread each. See
docs/DISCOVERY.md, "What sets the std".
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from common import machine, prepare, table
from discovery import add_g_theta_args, control, fit_regressors, training_images

from steer.generators.base import Generator
from steer.reports.folder import plt, save_figure, save_json, write_folder
from steer.restore import load_generator, load_module
from steer.seeding import rng
from steer.sprites.histograms import AttributeHistograms

QUALITY = ("x", "y", "area")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", required=True, help="name=path.ckpt of sprites GANs (or β-VAEs)")
    p.add_argument("--workers", type=int, default=1, help="models run at once (processes)")
    add_g_theta_args(p)
    return p.parse_args()


def describe(record: dict) -> dict:
    """Latent size, width, seed, walk and steps of a GANModule run, from its record (None where absent)."""
    config = record.get("config", {})
    model = config.get("model", {}).get("init_args", {})
    generator = model.get("generator", {}).get("init_args", {})
    edit = model.get("edit")
    return {"width": generator.get("width"), "seed": config.get("seed_everything"),
            "walk": edit["class_path"].rsplit(".", 1)[-1] if isinstance(edit, dict) else None,
            "max_steps": config.get("trainer", {}).get("max_steps")}


@torch.no_grad()
def quality(gen: Generator, images: torch.Tensor, seed: int, device: torch.device) -> dict[str, float]:
    """Histogram intersection of x, y and area between the training images and as many samples of G."""
    metric = AttributeHistograms(QUALITY)
    metric.update(images, gen(*gen.sample(len(images), rng(seed, "g_theta_study", "quality"), device)).cpu())
    return {k: v.item() for k, v in metric.compute().items()}


def study(name: str, path: str, args: argparse.Namespace) -> dict:
    """One model's row: its description, quality and g_θ control (run in a worker process)."""
    device = prepare(args)
    gen = load_generator(path).to(device)
    module, record = load_module(Path(path))
    images = training_images(module, record, gen, 2000, args.seed)
    regressors = [r for r, _ in fit_regressors(gen, args)]
    print(f"\n== {name}: {path}")
    return {"checkpoint": path, "generator": type(gen).__name__, "latent_dim": gen.latent_dim, **describe(record),
            "hist_intersection": quality(gen, images, args.seed, device), "machine": machine(device),
            "control": control(gen, regressors, images, args)}


def plot(report: dict, path: Path) -> Path:
    """g_θ's mean std per model (one dot per trajectory seed) and the least-squares reference, by latent size."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for k, (_name, e) in enumerate(sorted(report.items(), key=lambda item: item[1]["latent_dim"])):
        d, c = e["latent_dim"], e["control"]
        jitter = 0.08 * (k % 5 - 2)
        ax.scatter([d + jitter] * len(c["per_seed"]), [r["mean_std"] for r in c["per_seed"]], s=12, color="C0",
                   label="g_θ (trajectories), one dot per seed" if k == 0 else None)
        ax.scatter([d + jitter], [c["least_squares_reference"]["mean_std"]], s=18, marker="_", color="k",
                   label="least-squares direction (labels)" if k == 0 else None)
    ax.axhline(2.0, color="red", lw=0.8, ls="--", label="target 2 px")
    ax.set_xlabel("latent size of the GAN", fontsize=8)
    ax.set_ylabel("std of measured x per requested x (px), mean", fontsize=8)
    ax.set_title("g_θ control of x across sprites GANs", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path)


def main() -> None:
    args = parse()
    print(machine(prepare(args)))
    out = Path(args.out)
    previous = out / "g_theta_study.json"
    report = json.loads(previous.read_text())["models"] if previous.exists() else {}  # other models' rows stay
    models = dict(spec.split("=", 1) for spec in args.models)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {name: pool.submit(study, name, path, args) for name, path in models.items()}
        for name, future in futures.items():
            report[name] = {**future.result(), "command": ["python", *sys.argv]}
    rows = [[name, e["latent_dim"], e["width"], e["seed"], e["walk"] or "—",
             " ".join(f"{e['hist_intersection'][q]:.2f}" for q in QUALITY),
             ", ".join(f"{r['mean_std']:.2f}" for r in e["control"]["per_seed"]),
             ", ".join(f"{max(r['std']):.2f}" for r in e["control"]["per_seed"]),
             f"{e['control']['gain']:.2f}", f"{e['control']['least_squares_reference']['mean_std']:.2f}"]
            for name, e in sorted(report.items(), key=lambda item: (item[1]["latent_dim"], item[0]))]
    print(table(["model", "latent", "width", "seed", "walk", "HI x y area", "g_θ mean std per seed (px)",
                 "max std per seed (px)", "gain", "least squares: mean std"], rows))
    write_folder(out, {"g_theta_study.png": lambda p: plot(report, p),
                       "g_theta_study.json": lambda p: save_json({"models": report}, p)}, overwrite=True)
    print(f"\nreport: {previous} (models: {', '.join(report)})")


if __name__ == "__main__":
    main()
