"""`steer evaluate score`: which known factor each direction of a direction file controls."""

from __future__ import annotations

import torch

from steer.commands.common import generator_on
from steer.discovery import load_directions
from steer.discovery.direction_report import plot_grid, render
from steer.evaluation.direction_scores import score_directions, score_table
from steer.formats.directions import Directions
from steer.generators.base import Generator
from steer.generators.trained import recorded_generator
from steer.reports.report import Report
from steer.sprites.histograms import Attribute


def score(
    device: torch.device,
    directions: str,
    checkpoint: str | None = None,
    generator: Generator | None = None,
    factors: list[Attribute] | None = None,
    n: int = 200,
    max_step: float = 2.0,
    steps: int = 9,
    seed: int = 0,
    batch_size: int = 500,
) -> Report:
    """Which known factor each direction of a direction file controls, on sprite-like images.

    Walks G(z + t u) for n seeded latents and t from -max_step to +max_step,
    measures the factors and fits each against t (per-latent offsets removed):
    R² per factor, the controlled factor (highest R², at least 0.5), leakage
    (the best other R²) and cross-talk (see docs/DISCOVERY.md). Writes
    scores.json and scores.png (the directions' grid) to OUT.

    Args:
        directions: a directions.pt written by `steer discover sefa|pca` (or `steer export direction`).
        checkpoint: a .ckpt written by `steer fit` whose generator the directions steer; default: the one the
            direction file records.
        generator: the generator; default: the one the direction file records.
        factors: sprite attributes to score (x, y, area, orientation, red, green, blue); default: x, y, area.
        n: number of latents.
        max_step: the largest step t along each unit direction.
        steps: number of steps t, evenly spaced.
        seed: seed of the latents.
        batch_size: latents per generator pass.
    """
    if checkpoint is None and generator is None:  # the generator the directions were found on
        gen = recorded_generator(load_directions(directions).generator, directions).to(device)
    else:
        gen = generator_on(device, checkpoint, generator)
    found = load_directions(directions, latent_dim=gen.latent_dim)
    report = scores_report(gen, found, directions, factors or ["x", "y", "area"], n, max_step, steps, seed, batch_size)
    report.generator = gen
    return report


def scores_report(gen: Generator, found: Directions, path: str, factors: list[str], n: int, max_step: float,
                  steps: int, seed: int, batch_size: int) -> Report:
    """scores.json (R², controlled factor, leakage, cross-talk per direction) and scores.png (the directions' grid)."""
    scores = score_directions(gen, found.directions, factors, torch.linspace(-max_step, max_step, steps), n, seed,
                              batch_size, progress=True)
    record = {"directions": path, "method": found.method, "generator": found.generator, **scores.to_json()}
    alphas = torch.linspace(-max_step, max_step, 7)
    frames, shown = render(gen, found, alphas, 3, seed, batch_size)
    return Report("scores.json", record, {"scores.png": lambda out: plot_grid(frames, found, alphas, out, shown)},
                  score_table({found.method: scores}), media={"score/grid": "scores.png"}, job_type="score")

