"""`steer discover trajectories`: Plumerault et al.'s Algorithm 1, records for the factor regressor g_θ."""

from __future__ import annotations

import time
from typing import Literal

import torch

from steer.commands.common import generator_on
from steer.discovery import trajectories as algorithm
from steer.edits import Edit
from steer.generators.base import Generator
from steer.reports.report import Report
from steer.seeding import rng


def trajectories(
    device: torch.device,
    edit: Edit,
    ts: list[float],
    checkpoint: str | None = None,
    generator: Generator | None = None,
    n: int = 64,
    loss: Literal["lowpass", "mse"] = "lowpass",
    sigma: float = 3.0,
    steps: int = 50,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    latents: int = 4,
    classes: list[int] | None = None,
) -> Report:
    """Trajectories by inversion (Plumerault Algorithm 1): records for the factor regressor, with pictures.

    Writes records.pt, trajectories.png, trajectories.gif and trajectories.json to
    OUT and logs them to W&B (offline without credentials). Train the factor
    regressor on OUT/records.pt: configs/discovery/factor_regressor.yaml.

    Args:
        edit: the editation T_t, e.g. --edit ShiftX --edit.max_shift 16.
        ts: edit strengths t in the edit's units, e.g. [-8, -4, 4, 8] pixels; each sign is walked outwards.
        checkpoint: a .ckpt written by `steer fit` whose generator to invert.
        generator: the generator to invert; default: the pretrained DigiFace DCGAN.
        n: number of start latents z0. More starts pin g_θ's direction down: on sprites, 128 starts × 100 steps
            gave directions within cos 0.97–0.99 of the best one, 32 × 30 as low as 0.72 (docs/DISCOVERY.md).
        loss: lowpass (error after a Gaussian blur, keeps texture) or mse (pixel MSE).
        sigma: lowpass: Gaussian width in pixels at 128 px (scaled to the generator's resolution).
        steps: Adam steps per target.
        lr: Adam learning rate.
        batch_size: start latents optimised at once.
        seed: seed of the start latents.
        latents: start latents shown in the pictures.
        classes: class indices of a conditional generator to start from, used in turn (start i has class
            classes[i mod len(classes)]); default: drawn uniformly from all classes.
    """
    objective = algorithm.build_loss(loss, sigma)
    gen = generator_on(device, checkpoint, generator)
    classes = gen.check_classes(classes)
    draw = rng(seed, "trajectories", "z0")
    z0, y = gen.sample_latent(n, draw), gen.sample_class(n, draw, classes)
    start = time.perf_counter()
    records = algorithm.trajectories(gen, edit, z0, ts, objective, steps=steps, lr=lr, y=y,
                                     batch_size=batch_size)
    summary = {"seconds": time.perf_counter() - start, "seed": seed, "classes": classes,
               "made_by": {"checkpoint": checkpoint, "generator": generator}}
    report = algorithm.trajectories_report(gen, edit, records, summary, latents)
    report.generator = gen
    return report
