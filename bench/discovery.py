"""Discovery on known factors: SeFa, PCA, trajectories (+ g_θ) and the VAE's own axes, scored side by side.

    OMP_NUM_THREADS=2 .venv/bin/python bench/discovery.py --threads 2

For each model (the sprites GANs (a) with narrow x, configs/sprites/gan_biased_x.yaml,
(b) trained with x-shift augmentation, configs/sprites/gan_augmented_x.yaml, (c) trained on the
same data jointly with a shift walk, configs/sprites/joint_shift_x.yaml, the GANs on the β-VAEs'
white sprites with a 16-d and a 4-d latent, configs/sprites/gan_white.yaml and gan_white_z4.yaml,
and the β-VAE at β = 1 and β = 4; 32 px sprites), the top directions of each method are scored on the sprites' known
factors with ``steer.evaluation.direction_scores.score_directions`` (x, y,
area; R², leakage, cross-talk; steps t ∈ [−2, 2] along each unit direction):

* sefa: the top-k eigenvectors of AᵀA of the first projection (timed);
* pca: GANSpace at the first ReLU after the first projection (DCGAN main[2],
  the 4×4 map; VAEDecoder main[1], the 256 hidden units), 2000 latents;
* trajectory: Algorithm 1 with ``ShiftX`` as T_t (t = ±1…±6 px, 128 starts,
  100 Adam steps per target: 32 starts and 30 steps left g_θ's direction
  noisy, see docs/DISCOVERY.md) and the low-pass loss, then the factor regressor g_θ fitted on the records
  (equation 6); its direction u (timed: inversions + fit);
* encoder (VAE only): the unit latent axes e_j of the most active latents
  (largest mean KL(q(z_j|x) ‖ N(0, 1)) over rendered training sprites).

Then the g_θ control figure: 9 requested x from the 5th to the 95th percentile
of the model's training x (the sprites as that model saw them, augmentation
included), N latents moved to each with ``latent_for``; the std of the
measured x per requested value (and the gain: slope of measured on requested x),
per trajectory seed and for a reference found with labels: u from least squares
of the measured x on z, g linear (``least_squares_regressor``). The reference
is what one direction can do on that model; the gap to it is the method's.

Writes discovery.json, one direction grid per model and the control plot to
--out (default docs/results). A model whose checkpoint does not exist yet is
skipped; models not run keep their entries from an existing discovery.json,
so ``--models gan_b`` adds one model's results to the others'. Each model's
entry records the command and settings that made it. See docs/DISCOVERY.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import add_machine_args, machine, prepare, table
from pytorch_lightning import LightningModule
from torch import Tensor

from steer.data.trajectories import TrajectoryDataModule
from steer.discovery.direction_report import render
from steer.discovery.pca import pca
from steer.discovery.sefa import sefa
from steer.discovery.trajectories import build_loss, trajectories
from steer.edits import ShiftX
from steer.evaluation.direction_scores import measure_latents, score_control, score_directions, score_rows
from steer.formats.directions import Directions
from steer.formats.trajectories import save_records
from steer.generators.base import Generator
from steer.media import grid, pil
from steer.modules.factor_regressor import FactorRegressor
from steer.reports.folder import plt, save_figure, save_json, write_folder
from steer.restore import load_generator, load_module, training_factors
from steer.seeding import rng
from steer.sprites.histograms import attribute_values

MODELS = {
    "gan_a": "checkpoints/sprites/gan_biased_x.ckpt",
    "gan_b": "checkpoints/sprites/gan_augmented_x.ckpt",
    "gan_c": "checkpoints/sprites/joint_shift_x.ckpt",
    "gan_white": "checkpoints/sprites/gan_white.ckpt",
    "gan_white_z4": "checkpoints/sprites/gan_white_z4.ckpt",
    "vae_beta1": "checkpoints/sprites/vae_beta1.ckpt",
    "vae_beta4": "checkpoints/sprites/vae_beta4.ckpt",
}
PCA_LAYER = {"DCGAN": "main.2", "VAEDecoder": "main.1"}  # the first ReLU after the first projection
FACTORS = ("x", "y", "area")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS), help=f"names from {list(MODELS)}, or name=path.ckpt")
    p.add_argument("--k", type=int, default=4, help="top directions per method")
    p.add_argument("--n", type=int, default=200, help="latents per direction when scoring")
    p.add_argument("--max-step", type=float, default=2.0, help="scoring walks t ∈ [−max_step, max_step], 9 steps")
    p.add_argument("--pca-n", type=int, default=2000, help="latents for PCA")
    add_g_theta_args(p)
    return p.parse_args()


def add_g_theta_args(p: argparse.ArgumentParser) -> None:
    """The trajectory, g_θ and control options (shared with bench/g_theta_study.py), --out and the machine's."""
    p.add_argument("--traj-n", type=int, default=128, help="start latents for the trajectories")
    p.add_argument("--traj-max", type=int, default=6, help="trajectories: t = ±1 … ±traj_max px")
    p.add_argument("--traj-steps", type=int, default=100, help="Adam steps per target")
    p.add_argument("--traj-seeds", type=int, default=3, help="trajectory runs (seeds) per model, each its own g_θ")
    p.add_argument("--fit-epochs", type=int, default=200, help="factor regressor epochs")
    p.add_argument("--control-n", type=int, default=100, help="latents per requested x in the control figure")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents; trajectories use seed … seed+traj_seeds−1")
    p.add_argument("--out", default="docs/results")
    add_machine_args(p)


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    """(fn(*args, **kwargs), wall seconds it took)."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def fit_regressor(gen: Generator, seed: int, n: int, max_shift: int, steps: int, epochs: int) -> FactorRegressor:
    """Algorithm 1 with ShiftX as T_t, then g_θ fitted on the records (what the two real commands do)."""
    from pytorch_lightning import Trainer

    z0 = gen.sample_latent(n, rng(seed, "trajectories", "z0"))
    ts = [s * t for t in range(1, max_shift + 1) for s in (-1, 1)]
    records = trajectories(gen, ShiftX(max_shift=max_shift), z0, ts, build_loss("lowpass"), steps=steps)
    regressor = FactorRegressor(latent_dim=gen.latent_dim, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        data = TrajectoryDataModule(str(save_records(records, Path(folder) / "records.pt")), seed=seed)
        Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, accelerator="cpu", devices=1, check_val_every_n_epoch=epochs,
                log_every_n_steps=1).fit(regressor, data)
    return regressor.eval()


def fit_regressors(gen: Generator, args: argparse.Namespace) -> list[tuple[FactorRegressor, float]]:
    """g_θ of each trajectory seed (args.seed …) with the wall seconds it took."""
    return [timed(fit_regressor, gen, s, args.traj_n, args.traj_max, args.traj_steps, args.fit_epochs)
            for s in range(args.seed, args.seed + args.traj_seeds)]


@torch.no_grad()
def training_images(module: LightningModule, record: dict, gen: Generator, n: int, seed: int) -> Tensor:
    """n training sprites as the model saw them: rendered from its data config, augmented as it was."""
    from steer.sprites import render_factors

    factors = training_factors(record, gen)
    g = rng(seed, "discovery", "data")
    images = render_factors(factors.sample(n, g), factors.size)
    augment = getattr(module, "_augment", None) if getattr(module, "augment", None) is not None else None
    return augment(images, g) if augment else images


@torch.no_grad()
def encoder_axes(module: LightningModule, images: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """(k unit axes e_j of the most active latents, their mean KL in nats) of a β-VAE run."""
    from steer.modules.vae import gaussian_kl

    kl = gaussian_kl(*module.encoder(images)).mean(0)
    order = kl.argsort(descending=True)[:k]
    return torch.eye(len(kl))[order], kl[order]


def direction_grid(gen: Generator, dirs: Tensor, labels: list[str], max_step: float, title: str, path: Path,
                   latents: int = 3, steps: int = 7) -> Path:
    """One row per direction: G(z + α u) for ``latents`` latents, α from −max_step to +max_step."""
    alphas = torch.linspace(-max_step, max_step, steps)
    frames = render(gen, Directions(dirs, torch.zeros(len(dirs)), "bench", {}), alphas, latents, 0, 500)
    image = grid([frames[:, i].transpose(0, 1).reshape(-1, *frames.shape[3:]) for i in range(len(dirs))])
    fig, ax = plt.subplots(figsize=(0.45 * steps * latents + 2.5, 0.45 * len(dirs) + 0.8))
    ax.imshow(pil(image))
    cell_h, cell_w = image.shape[1] / len(dirs), image.shape[2] / latents
    for j in range(1, latents):
        ax.axvline(cell_w * j, color="red", lw=1)  # between the latents
    ax.set_yticks([cell_h * (i + 0.5) for i in range(len(dirs))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel(f"α from −{max_step:g} to +{max_step:g}, {latents} latents", fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def control_plot(results: dict, path: Path) -> Path:
    """Per model: measured x (mean ± std over the latents) against requested x, one series per trajectory seed;
    the least-squares reference's mean as a grey line."""
    cols = min(4, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.set_visible(False)
    for ax, (name, c) in zip(axes.flat, results.items()):
        for k, run in enumerate(c["per_seed"]):
            shift = 0.15 * (k - (len(c["per_seed"]) - 1) / 2)  # side by side
            ax.errorbar([r + shift for r in run["requested"]], run["mean"], yerr=run["std"], fmt="o", ms=2.5,
                        capsize=2, lw=0.8, label=f"seed {run['seed']}: std {run['mean_std']:.2f}")
        ref = c["least_squares_reference"]
        ax.plot(ref["requested"], ref["mean"], color="grey", lw=1, label=f"least squares (labels): std {ref['mean_std']:.2f}")
        lo, hi = c["data_x_percentiles_5_95"]
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}: mean std {c['mean_std']:.2f} px, gain {c['gain']:.2f}", fontsize=9)
        ax.set_xlabel("requested x (px)", fontsize=8)
        ax.set_ylabel("measured x (px), mean ± std", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path)


def discover(gen: Generator, module: LightningModule, images: Tensor, args: argparse.Namespace
             ) -> tuple[dict[str, tuple[Tensor, dict]], list[FactorRegressor]]:
    """{method: (directions (k, d), info with seconds)} and the fitted g_θ of each trajectory seed."""
    kind = type(gen).__name__
    methods = {}
    (dirs, eig), seconds = timed(sefa, gen, args.k)
    methods["sefa"] = (dirs, {"seconds": seconds, "eigenvalue": eig.tolist()})
    print(f"sefa: {seconds:.4f} s")
    layer = PCA_LAYER[kind]
    (dirs, ratio), seconds = timed(pca, gen, layer, args.k, n=args.pca_n, seed=args.seed, progress=False)
    methods["pca"] = (dirs, {"seconds": seconds, "layer": layer, "explained_variance_ratio": ratio.tolist()})
    print(f"pca (layer {layer}, {args.pca_n} latents): {seconds:.2f} s")
    seeds = list(range(args.seed, args.seed + args.traj_seeds))
    fitted = fit_regressors(gen, args)
    regressors = [r for r, _ in fitted]
    per_seed = [t for _, t in fitted]
    methods["trajectory"] = (torch.stack([r.direction.detach() for r in regressors]), {
        "seconds": sum(per_seed) / len(per_seed), "seconds_per_seed": per_seed, "one_direction_per_seed": seeds,
        "ts_px": f"±1…±{args.traj_max}", "starts": args.traj_n, "adam_steps": args.traj_steps, "loss": "lowpass"})
    print(f"trajectory + g_θ fit: {', '.join(f'{t:.1f}' for t in per_seed)} s (seeds {seeds})")
    if kind == "VAEDecoder":
        (dirs, kl), seconds = timed(encoder_axes, module, images, args.k)
        methods["encoder"] = (dirs, {"seconds": seconds, "mean_kl_nats": kl.tolist(),
                                     "latent": dirs.argmax(1).tolist()})
    return methods, regressors


@torch.no_grad()
def least_squares_regressor(gen: Generator, n: int, seed: int) -> FactorRegressor:
    """The labelled reference: x ≈ ⟨w, z⟩ + b by least squares over n latents, as a g_θ with u = w/‖w‖, g linear.

    g(s) = ‖w‖ s makes g(⟨u, z⟩) = ⟨w, z⟩; ``score_control`` fits the offset b.
    """
    g = rng(seed, "discovery", "least_squares")
    z = gen.sample_latent(n, g)
    x = measure_latents(gen, z, ["x"], gen.sample_class(n, g))[:, 0]
    ok = x.isfinite()
    design = torch.cat([z[ok].cpu(), torch.ones(int(ok.sum()), 1)], 1)
    w = torch.linalg.lstsq(design.double(), x[ok, None].double()).solution[:-1, 0].float()  # min ‖[z 1] (w; b) − x‖
    regressor = FactorRegressor(latent_dim=gen.latent_dim)
    regressor.v.copy_(w)
    regressor.log_slopes.fill_(w.norm().log().item())
    return regressor.eval()


def control(gen: Generator, regressors: list[FactorRegressor], images: Tensor, args: argparse.Namespace) -> dict:
    """g_θ control of x at 9 values from the 5th to the 95th percentile of the training x, per trajectory seed,
    and of the least-squares reference; cos(u, u_ref) says how close each seed's direction came to it."""
    x = attribute_values(images, ["x"])[:, 0]
    x = x[x.isfinite()]
    requested = torch.linspace(x.quantile(0.05).item(), x.quantile(0.95).item(), 9)
    reference = least_squares_regressor(gen, 20 * args.control_n, args.seed)
    u_ref = reference.direction.detach().cpu()
    runs = [{"seed": args.seed + k, "cos_to_reference": abs(r.direction.detach().cpu() @ u_ref).item(),
             **score_control(r, gen, "x", requested, n=args.control_n, seed=args.seed).to_json()}
            for k, r in enumerate(regressors)]
    ref = score_control(reference, gen, "x", requested, n=args.control_n, seed=args.seed).to_json()
    print(table(["requested x", *[f"seed {r['seed']}: mean ± std" for r in runs]],
                [[f"{v:.2f}", *[f"{r['mean'][i]:.2f} ± {r['std'][i]:.2f}" for r in runs]]
                 for i, v in enumerate(requested.tolist())]))
    stds = [r["mean_std"] for r in runs]
    errors = [r["overall_mean_abs_error"] for r in runs]
    gains = [r["gain"] for r in runs]
    maxima = [max(r["std"]) for r in runs]
    cosines = [r["cos_to_reference"] for r in runs]
    print(f"g_θ control: mean std per seed {', '.join(f'{s:.2f}' for s in stds)} px; "
          f"max std {', '.join(f'{m:.2f}' for m in maxima)} px; "
          f"mean |error| {', '.join(f'{e:.2f}' for e in errors)} px; gain {', '.join(f'{g:.2f}' for g in gains)}; "
          f"cos(u, u_ref) {', '.join(f'{c:.3f}' for c in cosines)}")
    print(f"least-squares reference (labels): mean std {ref['mean_std']:.2f} px, max {max(ref['std']):.2f} px, "
          f"gain {ref['gain']:.2f}")
    return {"data_x_percentiles_5_95": [requested[0].item(), requested[-1].item()], "mean_std": sum(stds) / len(stds),
            "mean_abs_error": sum(errors) / len(errors), "gain": sum(gains) / len(gains), "per_seed": runs,
            "least_squares_reference": ref}


def main() -> None:
    args = parse()
    device = prepare(args)
    print(machine(device))
    steps = torch.linspace(-args.max_step, args.max_step, 9)
    out = Path(args.out)
    previous = out / "discovery.json"
    report = json.loads(previous.read_text())["models"] if previous.exists() else {}  # other models' results stay
    writers = {}
    for spec in args.models:
        name, path = spec.split("=", 1) if "=" in spec else (spec, MODELS[spec])
        if not Path(path).exists():
            print(f"\n== {name}: {path} does not exist (not trained yet?); skipped")
            continue
        gen = load_generator(path).to(device)
        module, record = load_module(Path(path))
        print(f"\n== {name}: {type(gen).__name__} ({path}), latent {gen.latent_dim}")
        images = training_images(module, record, gen, 2000, args.seed)
        methods, regressors = discover(gen, module, images, args)
        scored = {m: score_directions(gen, dirs, FACTORS, steps=steps, n=args.n, seed=args.seed, progress=True)
                  for m, (dirs, _) in methods.items()}
        header, rows = score_rows(scored)
        print(table(header, rows))
        report[name] = {"checkpoint": path, "generator": type(gen).__name__, "latent_dim": gen.latent_dim,
                        "command": ["python", *sys.argv], "machine": machine(device), "settings": vars(args),
                        "factors": list(FACTORS), "steps": steps.tolist(),
                        "methods": {m: {**info, **scored[m].to_json()} for m, (_, info) in methods.items()},
                        "control": control(gen, regressors, images, args)}
        labels = [f"{r[0]} u{r[1]}: {r[2]} (R² {max(float(v) for v in r[3:3 + len(FACTORS)]):.2f})" for r in rows]
        dirs = torch.cat([dirs for dirs, _ in methods.values()])
        writers[f"discovery_{name}.png"] = (lambda p, g=gen, d=dirs, text=labels, n=name:
                                            direction_grid(g, d, text, args.max_step, f"{n}: top directions by method",
                                                           p))
    if not writers:
        raise SystemExit("no model was run; nothing written.")
    order = sorted(report, key=lambda n: list(MODELS).index(n) if n in MODELS else len(MODELS))  # MODELS' order first
    writers["discovery_control.png"] = lambda p: control_plot({n: report[n]["control"] for n in order}, p)
    writers["discovery.json"] = lambda p: save_json({"models": report}, p)  # last: marks a complete report
    write_folder(out, writers, overwrite=True)
    print(f"\nreport: {previous} (models: {', '.join(report)})")


if __name__ == "__main__":
    main()
