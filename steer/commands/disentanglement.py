"""`steer evaluate disentanglement`: MIG, DCI, FactorVAE score and SAP of a β-VAE's encoder or of directions."""

from __future__ import annotations

from pathlib import Path

import torch

from steer.commands.common import generator_on
from steer.discovery import load_directions
from steer.errors import SteerError
from steer.evaluation.disentanglement import (
    SCORES,
    direction_codes,
    disentanglement_scores,
    encoder_codes,
    mig_by_factor,
)
from steer.generators.base import Generator
from steer.generators.trained import recorded_generator
from steer.modules.vae import BetaVAE
from steer.reports.folder import plt, save_figure
from steer.reports.report import Report
from steer.restore import load_module, training_factors
from steer.sprites.histograms import Attribute, check_attributes


def disentanglement(
    device: torch.device,
    checkpoint: str | None = None,
    directions: str | None = None,
    generator: Generator | None = None,
    factors: list[Attribute] | None = None,
    n: int = 2000,
    seed: int = 0,
    batch_size: int = 500,
) -> Report:
    """How disentangled a code is on sprites' known factors: MIG, DCI (D, C, I), FactorVAE score, SAP.

    Without --directions, the code is a β-VAE's encoder means μ(x) on n sprites
    drawn from its training data, the factors those it varies. With
    --directions, the code is the coordinates ⟨u_i, z⟩ of n seeded latents along
    each direction and the factors the attributes measured on G(z). Writes
    metrics.json and metrics.png (a bar per score) to OUT. See docs/methods.md,
    "Disentanglement metrics".

    Args:
        checkpoint: without --directions, the .ckpt of a β-VAE run (configs/sprites/beta_vae.yaml); with it, a
            .ckpt written by `steer fit` whose generator the directions steer (default: the one the file records).
        directions: a directions.pt written by `steer discover sefa|pca` (or `steer export direction`).
        generator: the generator the directions steer; default: the one the direction file records.
        factors: with --directions, the sprite attributes measured as factors (x, y, area, orientation, red,
            green, blue); default: x, y, area.
        n: number of sprites (encoder) or latents (directions).
        seed: seed of the sprites or latents, the DCI split and the FactorVAE votes.
        batch_size: images per encoder or generator pass.
    """
    if directions is None:
        if checkpoint is None:
            raise SteerError("steer evaluate disentanglement needs --checkpoint (a β-VAE run) or --directions "
                             "(a direction file, with its generator).")
        module, record = load_module(Path(checkpoint))
        if not isinstance(module, BetaVAE):
            raise SteerError(f"--checkpoint {checkpoint} holds a {type(module).__name__}, not a BetaVAE; give a run "
                             "of configs/sprites/beta_vae.yaml, or --directions to score directions on it.")
        data = training_factors(record, module.generator, recorded_in=checkpoint)
        codes, values, names = encoder_codes(module.to(device), data, n, seed, batch_size)
        source = {"checkpoint": checkpoint, "code": "encoder means μ(x)", "dropped": 0}
        gen = module.generator
    else:
        gen = (recorded_generator(load_directions(directions).generator, directions).to(device)
               if checkpoint is None and generator is None else generator_on(device, checkpoint, generator))
        found = load_directions(directions, latent_dim=gen.latent_dim)
        names = check_attributes(factors or ["x", "y", "area"])
        codes, values, dropped = direction_codes(gen, found.directions, names, n, seed, batch_size)
        source = {"directions": directions, "method": found.method, "code": "⟨u_i, z⟩ per direction",
                  "dropped": dropped}
    scores = disentanglement_scores(codes, values, seed)
    record = {**source, "factors": names, "n": len(codes), "code_dim": codes.shape[1], "seed": seed, **scores,
              "mig_per_factor": mig_by_factor(codes, values, names)}
    report = Report("metrics.json", record, {"metrics.png": lambda out: plot(scores, out)},
                    (["score", "value"], [[k, v] for k, v in scores.items()]), media={"disentanglement/scores": "metrics.png"},
                    summary=scores, job_type="disentanglement")
    report.generator = gen
    report.checkpoint = checkpoint if directions is None else None
    return report


def plot(scores: dict[str, float], path: Path) -> Path:
    """One bar per score, on [0, 1]."""
    fig, ax = plt.subplots(figsize=(5, 2.8))
    bars = ax.bar(range(len(SCORES)), [scores[k] for k in SCORES], color="C0")
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(SCORES)), ["MIG", "DCI D", "DCI C", "DCI I", "FactorVAE", "SAP"], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("disentanglement on known factors", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
