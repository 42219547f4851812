"""`steer evaluate steerability`: how far a walk steers, over n latents and the edit's test α grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from steer.edits import Edit
from steer.errors import SteerError
from steer.evaluation.attribute_steering import MEASURED, WalkedAttributes, attribute_steering, check_data
from steer.evaluation.report import steerability_report
from steer.evaluation.steerability import check_options, measure
from steer.generators.base import Generator
from steer.reports.report import Report
from steer.restore import generator_of, load_generator, load_module, training_factors
from steer.sprites.histograms import ATTRIBUTES, Attribute, check_attributes
from steer.walks import Walk

WalkFactory = Callable[[int, int, int | None], Walk]


def steerability(
    device: torch.device,
    checkpoint: str | None = None,
    n: int = 500,
    batch_size: int = 50,
    seed: int = 0,
    fraction: float = 0.8,
    generator: Generator | None = None,
    data: str | None = None,
    attributes: list[Attribute] | None = None,
    walk: WalkFactory | None = None,
    edit: Edit | None = None,
    classes: list[int] | None = None,
) -> Report:
    """How far a walk steers, over n latents and the edit's test α grid.

    The walk is a trained one (--checkpoint of a walk run), or any walk given by
    --walk with its --edit, e.g. a discovered direction (steer.walks.DirectionWalk)
    on the generator of --checkpoint (a GAN or β-VAE run) or --generator.

    Writes metrics.json, curves.png, walk_grid.png and walk.gif to OUT and logs
    them to W&B (offline without credentials). On sprites, also the measured
    attributes per α against the edited data (attributes.png, in metrics.json).

    Args:
        checkpoint: a .ckpt written by `steer fit` (e.g. runs/demo/last.ckpt): a walk run, or with --walk any run
            with a generator.
        n: number of latents.
        batch_size: latents per generator pass.
        seed: seed of the latents.
        fraction: the walk "follows" at α while the achieved α is within (1 - fraction) of α.
        generator: the generator to steer; default: the one in the checkpoint.
        data: a `steer fit` config whose data are the sprites the generator learned; default: found from the
            checkpoint (its own data, or that of the GAN checkpoint a TrainedGenerator names). Not sprites: no
            attribute report.
        attributes: sprite attributes to measure (x, y, area, orientation, red, green, blue); default: all but
            orientation.
        walk: a walk to evaluate instead of the checkpoint's (latent size and sliders come from the generator and
            edit), e.g. --walk DirectionWalk --walk.path reports/sefa/directions.pt --walk.index 0.
        edit: the edit the walk is measured against, e.g. --edit ShiftX --edit.max_shift 8; default: the
            checkpoint's.
        classes: the class indices of a conditional generator to measure, used in turn; default: drawn uniformly
            from all classes. A per-class walk (ClassLinearWalk) is also reported per class.
    """
    check_options(n, batch_size, fraction)
    gen, the_edit, the_walk, record = steered(checkpoint, generator, walk, edit)
    classes = gen.check_classes(classes)
    the_walk.to(device)
    gen.to(device)
    factors = training_factors(record, gen, data, str(checkpoint))
    if factors is not None:
        check_data(gen, factors)
        check_attributes(attributes or ATTRIBUTES)
    walked = None if factors is None else WalkedAttributes(attributes or MEASURED)  # seen in measure's pass
    result = measure(gen, the_edit, the_walk, n=n, batch_size=batch_size, seed=seed, fraction=fraction,
                     observe=walked, classes=classes)
    measured = None if walked is None else attribute_steering(walked, the_edit, factors, result.alphas, n, batch_size,
                                                              seed, fraction, device)
    report = steerability_report(result, measured)
    report.record["trained"] = record  # the record of the run measured (config, command, version), if any
    report.generator, report.checkpoint, report.trained = gen, checkpoint, record
    return report


def steered(checkpoint: str | None, generator: dict | None, walk: WalkFactory | None,
            edit: Edit | None) -> tuple[Generator, Edit, Walk, dict]:
    """The generator, edit and walk steerability measures, and the checkpoint's record ({} without one):
    the checkpoint's own, with --walk / --edit / --generator in their place where given."""
    if checkpoint is None and (walk is None or edit is None):
        raise SteerError("steerability needs a trained walk (--checkpoint RUN/last.ckpt), or a walk to try and its "
                         "edit (--walk and --edit, on --checkpoint's generator or --generator).")
    module, record = load_module(Path(checkpoint), generator) if checkpoint else (None, {})
    gen = generator_of(module, checkpoint) if module is not None else load_generator(None, generator)
    the_edit = edit if edit is not None else getattr(module, "edit", None)
    if the_edit is None:
        raise SteerError(f"{checkpoint} holds no edit to measure the walk against; give --edit, e.g. --edit ShiftX.")
    the_walk = walk(gen.latent_dim, the_edit.sliders, gen.num_classes) if walk else getattr(module, "walk", None)
    if the_walk is None:
        raise SteerError(f"{checkpoint} holds no walk; give one with --walk, e.g. a discovered direction: "
                         "--walk DirectionWalk --walk.path DIR/directions.pt.")
    return gen, the_edit, the_walk, record
