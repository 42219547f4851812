"""`steer discover sefa` and `steer discover pca`: directions found without labels, as a direction file."""

from __future__ import annotations

import time

import torch

from steer.commands.common import generator_on
from steer.discovery.direction_report import check_options, directions_report, discover, generator_record, pca_layer
from steer.generators.base import Generator
from steer.reports.report import Report


def sefa(
    device: torch.device,
    k: int | None = None,
    checkpoint: str | None = None,
    generator: Generator | None = None,
    seed: int = 0,
    steps: int = 7,
    max_step: float = 3.0,
    latents: int = 3,
    classes: list[int] | None = None,
) -> Report:
    """Closed-form directions (SeFa): the top eigenvectors of AᵀA of the generator's first projection A.

    Writes directions.pt, directions.png, directions.gif and directions.json to
    OUT and logs them to W&B (offline without credentials). Use the file as a
    walk: steer.walks.DirectionWalk with path: OUT/directions.pt.

    Args:
        k: number of directions; default: 8, or the latent size if it is smaller.
        checkpoint: a .ckpt written by `steer fit` whose generator to analyse.
        generator: the generator to analyse; default: the pretrained DigiFace DCGAN.
        seed: seed of the latents in the pictures.
        steps: images per direction and latent in the pictures.
        max_step: the pictures walk α·u for α from -max_step to +max_step (u has unit length).
        latents: latents shown per direction in the pictures.
        classes: for a conditional generator, the classes of the latents in the pictures, used in turn;
            default: drawn uniformly from all classes.
    """
    return _directions("sefa", device, k, checkpoint, generator, None, 0, 250, seed, steps, max_step, latents,
                       classes)


def pca(
    device: torch.device,
    layer: str | None = None,
    k: int | None = None,
    checkpoint: str | None = None,
    generator: Generator | None = None,
    n: int = 5000,
    batch_size: int = 250,
    seed: int = 0,
    steps: int = 7,
    max_step: float = 3.0,
    latents: int = 3,
    classes: list[int] | None = None,
) -> Report:
    """Directions by PCA of a layer's features over n latents (GANSpace), mapped back to the latent space.

    Writes directions.pt, directions.png, directions.gif and directions.json to
    OUT and logs them to W&B (offline without credentials).

    Args:
        layer: the module path, from the generator itself, of the layer whose features to analyse (DCGAN:
            main.2, its first ReLU; CustomGenerator: module.<path in your model>); a wrong name lists the valid
            ones. Default: the generator's own (StyleGAN: its mapping, PCA on w as GANSpace); others need one.
        k: number of directions; default: 8, or the latent size if it is smaller.
        checkpoint: a .ckpt written by `steer fit` whose generator to analyse.
        generator: the generator to analyse; default: the pretrained DigiFace DCGAN.
        n: number of seeded latents.
        batch_size: latents per generator pass.
        seed: seed of the latents (PCA and pictures).
        steps: images per direction and latent in the pictures.
        max_step: the pictures walk α·u for α from -max_step to +max_step (u has unit length).
        latents: latents shown per direction in the pictures.
        classes: for a conditional generator, the classes of the latents (PCA and pictures), used in turn;
            default: drawn uniformly from all classes.
    """
    return _directions("pca", device, k, checkpoint, generator, layer, n, batch_size, seed, steps, max_step, latents,
                       classes)


def _directions(method: str, device: torch.device, k: int | None, checkpoint: str | None, generator: dict | None,
                layer: str | None, n: int, batch_size: int, seed: int, steps: int, max_step: float,
                latents: int, classes: list[int] | None) -> Report:
    check_options(method, steps, max_step, latents)
    gen = generator_on(device, checkpoint, generator)
    classes = gen.check_classes(classes)
    layer = pca_layer(gen, layer) if method == "pca" else None
    k = min(8, gen.latent_dim) if k is None else k
    start = time.perf_counter()
    found = discover(method, gen, k, generator_record(gen, checkpoint, generator), layer=layer, n=n,
                     batch_size=batch_size, seed=seed, classes=classes)
    report = directions_report(gen, found, time.perf_counter() - start, steps=steps, max_step=max_step,
                               latents=latents, seed=seed, batch_size=batch_size, classes=classes)
    report.generator = gen
    return report
