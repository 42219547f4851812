"""Does more disentanglement lower g_θ's control std? β-VAEs on sprites over β and seeds (Plumerault & Le Borgne).

    OMP_NUM_THREADS=1 python bench/beta_sweep.py --betas 1 2 4 8 16 --seeds 0 1 2 --threads 1
    python bench/beta_sweep.py --tiny --out /tmp/sweep          # a minute: the pipeline end to end

Per (β, seed): train configs/sprites/beta_vae.yaml with that β and seed
(``train.py fit`` in a subprocess, as a user would, for --steps steps; a run
whose last.ckpt exists under --runs is reused, and so is its measured row,
run.json, so that several processes may each take some of the runs and a
last one, given all of them, only gathers), score its encoder's disentanglement on the
sprites' known factors (``steer.evaluation.disentanglement``: MIG, DCI,
FactorVAE score, SAP on --n sprites) and measure g_θ's control of x exactly
as bench/g_theta_study.py does (``g_theta_study.study``: trajectories, the
factor regressor per trajectory seed, the std of the measured x per requested
x). Then, over the runs, the Pearson correlation of each score with the
control std and its 95 % bootstrap interval (runs resampled with replacement,
percentile interval, scipy.stats.bootstrap).

Writes beta_sweep.json and beta_sweep.png (control std against MIG, DCI
disentanglement and MIG of x alone, one dot per run, coloured by β) to --out. ``--tiny``: 20
training steps, 300 sprites and a minimal g_θ, to check the pipeline (its
numbers mean nothing). See docs/methods.md, "Disentanglement metrics".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from common import machine, prepare, table
from discovery import add_g_theta_args
from g_theta_study import study
from scipy.stats import bootstrap, pearsonr

from steer.evaluation.disentanglement import SCORES, disentanglement_scores, encoder_codes, mig_by_factor
from steer.reports.folder import plt, save_figure, save_json, write_folder
from steer.restore import load_module, training_factors

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/sprites/beta_vae.yaml"
TINY = {"train": ["--trainer.max_steps", "20", "--trainer.val_check_interval", "10", "--data.init_args.n_val", "64"],
        "n": 300, "traj_n": 8, "traj_max": 2, "traj_steps": 5, "traj_seeds": 1, "fit_epochs": 3, "control_n": 10,
        "resamples": 200}
MEASURED = (*SCORES, "mig_x")  # mig_x: the gap of x alone, the factor g_θ sets
CORRELATED = ("mig", "dci_disentanglement", "mig_x")  # the scores plotted against the control std


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--betas", type=float, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds per β")
    p.add_argument("--runs", default="runs/beta_sweep", help="where the β-VAE runs are trained (or found)")
    p.add_argument("--steps", type=int, default=2500, help="training steps per β-VAE (the config's 2500)")
    p.add_argument("--n", type=int, default=2000, help="sprites for the disentanglement scores")
    p.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples of the runs")
    p.add_argument("--tiny", action="store_true", help="minimal sizes: checks the pipeline, measures nothing")
    add_g_theta_args(p)
    args = p.parse_args(argv)
    if args.tiny:
        vars(args).update({k: v for k, v in TINY.items() if k != "train"})
    return args


def train(beta: float, seed: int, folder: Path, steps: int, tiny: bool) -> float | None:
    """Train one β-VAE for ``steps`` into ``folder`` (unless its last.ckpt exists: None); the wall seconds it
    took."""
    if (folder / "last.ckpt").exists():
        return None
    command = [sys.executable, str(ROOT / "train.py"), "fit", "--config", str(ROOT / CONFIG),
               "--model.init_args.beta", str(beta), "--seed_everything", str(seed), "--model.init_args.seed", str(seed),
               "--data.init_args.seed", str(seed), "--checkpoint.dirpath", str(folder),
               "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(min(500, steps)),
               "--trainer.enable_progress_bar", "false", *(TINY["train"] if tiny else [])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training β={beta} seed={seed} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def run_settings(args: argparse.Namespace) -> dict:
    """The options that decide one run's row (not which runs, where, or how the sweep is gathered)."""
    return {k: v for k, v in vars(args).items() if k not in ("betas", "seeds", "runs", "out", "resamples")}


def scores(path: Path, n: int, seed: int) -> dict[str, float]:
    """The encoder's disentanglement scores (``MEASURED``) on n sprites of its own training data."""
    module, record = load_module(path)
    codes, values, names = encoder_codes(module, training_factors(record, module.generator), n, seed)
    return {**disentanglement_scores(codes, values, seed), "mig_x": mig_by_factor(codes, values, names)["x"]}


def correlation(x: list[float], y: list[float], resamples: int, seed: int) -> dict:
    """Pearson r of x and y with its percentile bootstrap 95 % interval over the (x, y) pairs (resamples that
    repeat one run only, where r is undefined, are left out of the interval)."""
    def r(a: np.ndarray, b: np.ndarray) -> float:
        return pearsonr(a, b).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan

    x_, y_ = np.asarray(x, float), np.asarray(y, float)
    with warnings.catch_warnings():  # scipy warns about the undefined resamples; they are dropped below
        warnings.simplefilter("ignore")
        drawn = bootstrap((x_, y_), r, paired=True, vectorized=False, n_resamples=resamples, method="percentile",
                          rng=np.random.default_rng(seed)).bootstrap_distribution
    defined = drawn[np.isfinite(drawn)]
    low, high = np.percentile(defined, [2.5, 97.5]) if len(defined) else (np.nan, np.nan)
    return {"r": float(r(x_, y_)), "ci95": [float(low), float(high)], "runs": len(x_), "resamples": resamples,
            "defined_resamples": len(defined)}


def plot(report: dict, path: Path) -> Path:
    """g_θ's control std against each correlated score, one dot per run, coloured by β."""
    runs = list(report["runs"].values())
    betas = sorted({r["beta"] for r in runs})
    fig, axes = plt.subplots(1, len(CORRELATED), figsize=(4.2 * len(CORRELATED), 3.4), squeeze=False)
    for ax, score in zip(axes[0], CORRELATED):
        for i, beta in enumerate(betas):
            mine = [r for r in runs if r["beta"] == beta]
            ax.scatter([r["scores"][score] for r in mine], [r["control_mean_std"] for r in mine], s=18,
                       color=f"C{i}", label=f"β = {beta:g}")
        c = report["correlation"][score]
        ax.set_title(f"r = {c['r']:.2f}, 95 % CI [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}] ({c['runs']} runs)",
                     fontsize=8)
        ax.set_xlabel(score, fontsize=8)
        ax.set_ylabel("g_θ control: std of measured x (px)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle("β-VAEs on sprites: disentanglement against g_θ's control std", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    device = prepare(args)
    print(machine(device))
    runs = {}
    for beta in args.betas:
        for seed in args.seeds:
            name = f"beta{beta:g}_seed{seed}"
            folder = Path(args.runs) / name
            measured, settings = folder / "run.json", run_settings(args)
            if measured.exists():
                runs[name] = json.loads(measured.read_text())
                if runs[name].get("settings") != settings:
                    raise SystemExit(f"{measured} was measured with other settings ({runs[name].get('settings')}); "
                                     "give another --runs folder, or delete it to measure that run anew.")
                continue
            seconds = train(beta, seed, folder, args.steps, args.tiny)
            path = folder / "last.ckpt"
            start = time.perf_counter()
            row = study(name, str(path), args)
            runs[name] = {"beta": beta, "seed": seed, "checkpoint": str(path), "train_seconds": seconds,
                          "scores": scores(path, args.n, args.seed), "control_mean_std": row["control"]["mean_std"],
                          "control": row["control"], "hist_intersection": row["hist_intersection"],
                          "measure_seconds": time.perf_counter() - start, "settings": settings}
            save_json(runs[name], measured)
    named = list(runs.values())
    report = {"runs": runs, "command": ["python", *sys.argv], "machine": machine(device), "settings": vars(args),
              "correlation": {s: correlation([r["scores"][s] for r in named], [r["control_mean_std"] for r in named],
                                             args.resamples, args.seed) for s in MEASURED}}
    print(table(["run", *MEASURED, "control std (px)", "train s"],
                [[name, *(f"{r['scores'][s]:.3f}" for s in MEASURED), f"{r['control_mean_std']:.2f}",
                  "reused" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"] for name, r in runs.items()]))
    for s, c in report["correlation"].items():
        print(f"corr({s}, control std) = {c['r']:.3f}, 95 % CI [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]")
    out = Path(args.out)
    write_folder(out, {"beta_sweep.png": lambda p: plot(report, p),
                       "beta_sweep.json": lambda p: save_json(report, p)}, overwrite=True)
    print(f"\nreport: {out / 'beta_sweep.json'}")


if __name__ == "__main__":
    main()
