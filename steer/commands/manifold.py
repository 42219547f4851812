"""`steer discover manifold`: a sequence of latents whose images change inside a rectangle only."""

from __future__ import annotations

from typing import Literal

import torch

from steer.commands.common import generator_on
from steer.discovery import manifold as algorithm
from steer.generators.base import Generator
from steer.reports.report import Report
from steer.seeding import rng


def manifold(
    device: torch.device,
    mask: str,
    checkpoint: str | None = None,
    generator: Generator | None = None,
    k: int = 16,
    change: float | None = None,
    distance: Literal["l2", "lpips"] = "l2",
    sigma: float | None = None,
    steps: int = 300,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    targets: Literal["ramp", "constant"] = "ramp",
    seed: int = 0,
    classes: list[int] | None = None,
) -> Report:
    """Mask-guided manifold: a sequence of latents whose images change inside a rectangle only.

    Writes frames.png, manifold.gif, latents.pt and manifold.json to OUT and
    logs them to W&B (offline without credentials).

    Args:
        mask: the region that should change, x0,y0,x1,y1 (x1, y1 exclusive): whole numbers are pixels
            (e.g. 20,40,44,56 is the mouth of a 64 px face), numbers with a decimal point fractions of the image.
        checkpoint: a .ckpt written by `steer fit` whose generator to use.
        generator: the generator; default: the pretrained DigiFace DCGAN.
        k: number of latents after the seed.
        change: the change inside the mask at the last latent, in the distance's units
            (default: 0.05 for l2, a mean squared pixel difference in [-1, 1]; 0.25 for lpips).
        distance: l2 (masked pixel L2) or lpips (needs the AlexNet weights file).
        sigma: spring rest length between neighbouring latents (default 0.25·√latent_dim / k).
        steps: optimiser iterations.
        optimizer: lbfgs or adam.
        targets: the inside change asked of latent i: ramp (change·(i/k)², default) or constant (change for
            every latent, the paper's; docs/PAPER_PRESETS.md).
        seed: seed of the seed latent and of the initial noise.
        classes: for a conditional generator, the class of the seed latent: the first index given (one seed,
            one class); default: drawn uniformly from all classes.
    """
    region = algorithm.MaskRegion.parse(mask)
    objective = algorithm.build_distance(distance)
    gen = generator_on(device, checkpoint, generator)
    classes = gen.check_classes(classes)
    region.pixels(gen.resolution)  # refuse a mask outside the image before the slow part
    draw = rng(seed, "manifold", "seed-latent")
    z_seed, y = gen.sample_latent(1, draw), gen.sample_class(1, draw, classes)
    result = algorithm.manifold(gen, z_seed, region, k=k, target_change=change, distance=objective, sigma=sigma,
                                steps=steps, optimizer=optimizer, seed=seed, y=y, targets=targets)
    report = algorithm.manifold_report(result)
    report.generator = gen
    return report
