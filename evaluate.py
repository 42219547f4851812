"""Evaluate what steer trained: python evaluate.py steerability --checkpoint CKPT --out DIR"""

import sys
from pathlib import Path
from typing import Optional

from jsonargparse import CLI

from steer.cli import ConciseParser, user_errors
from steer.reports.wandb import run_line


def resolve_device(name: str):  # -> torch.device (torch is imported on use: --help stays fast)
    """``name`` as a torch device that this machine has; one clear error otherwise."""
    import torch

    from steer.errors import SteerError

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise SteerError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:N (mps on a Mac).") from None
    if device.type == "meta":
        raise SteerError("--device meta holds no data; use cpu, cuda or cuda:N.")
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None) if device.type != "mps" else torch.backends.mps
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise SteerError(f"--device {name} was requested, but this machine has no usable {device.type.upper()} "
                         f"device (torch.{device.type}.is_available() is False); use --device cpu.")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise SteerError(f"--device {name}: this machine has {count} {device.type.upper()} device(s), "
                         f"{device.type}:0 … {device.type}:{count - 1}.")
    return device


def trained_record(checkpoint: Optional[str]) -> Optional[dict]:
    """The steer record of the checkpoint a report measured (config, W&B run), for the report's W&B run."""
    from steer.restore import read_record

    return read_record(Path(checkpoint))[1] if checkpoint else None


def steerability(
    out: str,
    checkpoint: Optional[str] = None,
    n: int = 500,
    batch_size: int = 50,
    seed: int = 0,
    fraction: float = 0.8,
    overwrite: bool = False,
    generator: Optional[dict] = None,
    wandb: bool = True,
    device: str = "cpu",
    data: Optional[str] = None,
    attributes: Optional[list[str]] = None,
    walk: Optional[dict] = None,
    edit: Optional[dict] = None,
) -> None:
    """How far a walk steers, over n latents and the edit's test α grid.

    The walk is a trained one (--checkpoint of a walk run), or any walk given by
    --walk with its --edit, e.g. a discovered direction (steer.walks.DirectionWalk)
    on the generator of --checkpoint (a GAN or β-VAE run) or --generator.

    Writes metrics.json, curves.png, walk_grid.png and walk.gif to OUT and logs
    them to W&B (offline without credentials). On sprites, also the measured
    attributes per α against the edited data (attributes.png, in metrics.json).

    Args:
        out: report folder; refused if it already holds a report, unless --overwrite.
        checkpoint: a .ckpt written by train.py (e.g. runs/demo/last.ckpt): a walk run, or with --walk any run
            with a generator.
        n: number of latents.
        batch_size: latents per generator pass.
        seed: seed of the latents.
        fraction: the walk "follows" at α while the achieved α is within (1 - fraction) of α.
        overwrite: replace an existing report in OUT.
        generator: the generator to steer (class_path + init_args); default: the one in the checkpoint.
        wandb: log the report to W&B.
        device: torch device to evaluate on (cpu, cuda, cuda:1, ...).
        data: a train.py config whose data are the sprites the generator learned; default: found from the
            checkpoint (its own data, or that of the GAN checkpoint a TrainedGenerator names). Not sprites: no
            attribute report.
        attributes: sprite attributes to measure (x, y, area, orientation, red, green, blue); default: all but
            orientation.
        walk: a walk to evaluate instead of the checkpoint's (class_path + init_args; latent size and sliders
            come from the generator and edit), e.g. {"class_path": "steer.walks.DirectionWalk", "init_args":
            {"path": "reports/sefa/directions.pt", "index": 0, "scale": 0.5}}.
        edit: the edit the walk is measured against (class_path + init_args); default: the checkpoint's.
    """
    from steer.evaluation.attribute_steering import check_data, measure_attributes
    from steer.evaluation.histogram import ATTRIBUTES, check_attributes
    from steer.evaluation.report import check_report_dir, limit_label, log_report, write_report
    from steer.evaluation.steerability import check_options, measure
    from steer.restore import training_factors

    check_options(n, batch_size, fraction)
    torch_device = resolve_device(device)
    out_dir = Path(out)
    check_report_dir(out_dir, overwrite)
    gen, the_edit, the_walk, record = steered(checkpoint, generator, walk, edit)
    the_walk.to(torch_device)
    gen.to(torch_device)
    factors = training_factors(record, gen, data)
    if factors is not None:
        check_data(gen, factors)
        check_attributes(attributes or ATTRIBUTES)
    result = measure(gen, the_edit, the_walk, n=n, batch_size=batch_size, seed=seed, fraction=fraction)
    measured = None if factors is None else measure_attributes(
        gen, the_edit, the_walk, factors, **({"names": attributes} if attributes else {}),
        n=n, batch_size=batch_size, seed=seed, fraction=fraction)
    made_by = record if walk is None and edit is None else {  # what was measured: the options over the checkpoint
        "version": record.get("version"), "command": ["python", "evaluate.py", *sys.argv[1:]],
        "config": {"model": {"checkpoint": checkpoint, "generator": generator, "edit": edit, "walk": walk}}}
    metrics = write_report(result, out_dir, made_by, overwrite, measured)
    describe = result.edit.describe
    print(f"{'α':>14}  {'walk':>7}  {'no walk':>7}  achieved α")
    for a, w, b, c in zip(result.alphas, result.walk_error, result.baseline_error, result.achieved):
        print(f"{describe(a):>14}  {w:7.4f}  {b:7.4f}  {describe(c)}")
    print(f"limit (the walk follows within {1 - fraction:.0%}): {limit_label(metrics['limit'])}")
    if measured is not None:
        print_attributes(measured)
    if wandb:
        print(run_line(log_report(out_dir, metrics, checkpoint, record)))
    print(f"report: {out_dir}")


def steered(checkpoint: Optional[str], generator: Optional[dict], walk: Optional[dict], edit: Optional[dict]
            ) -> tuple:  # (Generator, Edit, Walk, record), imported on use
    """The generator, edit and walk steerability measures, and the checkpoint's record ({} without one):
    the checkpoint's own, with --walk / --edit / --generator in their place where given."""
    from steer.edits import Edit
    from steer.errors import SteerError
    from steer.restore import build, build_walk, generator_of, load_generator, load_module

    if checkpoint is None and (walk is None or edit is None):
        raise SteerError("steerability needs a trained walk (--checkpoint RUN/last.ckpt), or a walk to try and its "
                         "edit (--walk and --edit, on --checkpoint's generator or --generator).")
    module, record = load_module(Path(checkpoint), generator) if checkpoint else (None, {})
    gen = generator_of(module, checkpoint) if module is not None else load_generator(None, generator)
    the_edit = build(edit, Edit, "edit", '{"class_path": "steer.edits.ShiftX"}') if edit else getattr(module, "edit", None)
    if the_edit is None:
        raise SteerError(f"{checkpoint} holds no edit to measure the walk against; "
                         'give --edit, e.g. \'{"class_path": "steer.edits.ShiftX"}\'.')
    the_walk = build_walk(walk, gen, the_edit) if walk else getattr(module, "walk", None)
    if the_walk is None:
        raise SteerError(f"{checkpoint} holds no walk; give one with --walk, e.g. a discovered direction: "
                         '\'{"class_path": "steer.walks.DirectionWalk", "init_args": {"path": "DIR/directions.pt"}}\'.')
    return gen, the_edit, the_walk, record


def print_attributes(measured) -> None:  # AttributeSteering (imported on use)
    """The attribute table: per α, model vs edited-data mean ± std and histogram intersection."""
    from steer.evaluation.report import limit_label

    describe, names = measured.edit.describe, measured.names
    print(f"{'α':>14}  " + "  ".join(f"{n + ' model / data (HI)':>32}" for n in names))
    for i, a in enumerate(measured.alphas):
        cells = [f"{measured.model_mean[i, k]:7.3g}±{measured.model_std[i, k]:<5.2g}/{measured.data_mean[i, k]:7.3g}"
                 f"±{measured.data_std[i, k]:<5.2g}({measured.intersection[i, k]:.2f})" for k in range(len(names))]
        print(f"{describe(a):>14}  " + "  ".join(f"{c:>32}" for c in cells))
    if measured.achieved is not None:
        achieved = ", ".join(f"{describe(a)} → {describe(c)}" for a, c in zip(measured.alphas, measured.achieved))
        print(f"achieved α from {'/'.join(measured.edit.attributes)}: {achieved}")
        print(f"attribute limit (within {1 - measured.fraction:.0%}): {limit_label(measured.limits())}")


def directions(
    method: str,
    out: str,
    k: int = 8,
    checkpoint: Optional[str] = None,
    generator: Optional[dict] = None,
    layer: Optional[str] = None,
    n: int = 5000,
    batch_size: int = 250,
    seed: int = 0,
    steps: int = 7,
    max_step: float = 3.0,
    latents: int = 3,
    overwrite: bool = False,
    wandb: bool = True,
    device: str = "cpu",
) -> None:
    """Directions found without labels (SeFa or PCA/GANSpace), saved as a direction file with pictures.

    Writes directions.pt, directions.png, directions.gif and directions.json to
    OUT and logs them to W&B (offline without credentials). Use the file as a
    walk: steer.walks.DirectionWalk with path: OUT/directions.pt.

    Args:
        method: sefa (closed form, the generator's first projection) or pca (GANSpace, needs --layer).
        out: report folder; refused if it already holds a directions report, unless --overwrite.
        k: number of directions.
        checkpoint: a .ckpt written by train.py whose generator to analyse.
        generator: the generator to analyse (class_path + init_args); default: the pretrained DigiFace DCGAN.
        layer: pca: the layer whose features to analyse (DCGAN: an index into main, e.g. 2).
        n: pca: number of seeded latents.
        batch_size: latents per generator pass.
        seed: seed of the latents (pca and pictures).
        steps: images per direction and latent in the pictures.
        max_step: the pictures walk α·u for α from -max_step to +max_step (u has unit length).
        latents: latents shown per direction in the pictures.
        overwrite: replace an existing report in OUT.
        wandb: log the report to W&B.
        device: torch device to compute on (cpu, cuda, cuda:1, ...).
    """
    import time

    from steer.discovery.direction_report import (
        REPORT_FILES,
        check_options,
        discover,
        generator_record,
        log_direction_report,
        write_direction_report,
    )
    from steer.evaluation.folder import check_out_dir
    from steer.restore import load_generator

    check_options(method, layer, steps, max_step, latents)
    torch_device = resolve_device(device)
    out_dir = Path(out)
    check_out_dir(out_dir, overwrite, REPORT_FILES)
    gen = load_generator(checkpoint, generator).to(torch_device)
    start = time.perf_counter()
    found = discover(method, gen, k, generator_record(gen, checkpoint, generator), layer=layer, n=n,
                     batch_size=batch_size, seed=seed)
    seconds = time.perf_counter() - start
    print(f"{method}: {len(found)} directions in {seconds:.3f} s")
    print(f"{'direction':>9}  {found.score_name}")
    for i, score in enumerate(found.scores.tolist()):
        print(f"{i:>9}  {score:.4g}")
    summary = write_direction_report(out_dir, gen, found, seconds, steps=steps, max_step=max_step, latents=latents,
                                     seed=seed, batch_size=batch_size, overwrite=overwrite)
    if wandb:
        print(run_line(log_direction_report(out_dir, summary, checkpoint, trained_record(checkpoint))))
    print(f"report: {out_dir}")


def trajectories(
    edit: dict,
    ts: list[float],
    out: str,
    checkpoint: Optional[str] = None,
    generator: Optional[dict] = None,
    n: int = 64,
    loss: str = "lowpass",
    sigma: float = 3.0,
    steps: int = 50,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    latents: int = 4,
    overwrite: bool = False,
    wandb: bool = True,
    device: str = "cpu",
) -> None:
    """Trajectories by inversion (Plumerault Algorithm 1): records for the factor regressor, with pictures.

    Writes records.pt, trajectories.png, trajectories.gif and trajectories.json to
    OUT and logs them to W&B (offline without credentials). Train the factor
    regressor on OUT/records.pt: configs/discovery/factor_regressor.yaml.

    Args:
        edit: the transformation T_t (class_path + init_args), e.g. {"class_path": "steer.edits.ShiftX"}.
        ts: edit strengths t in the edit's units, e.g. [-8, -4, 4, 8] pixels; each sign is walked outwards.
        out: report folder; refused if it already holds a trajectories report, unless --overwrite.
        checkpoint: a .ckpt written by train.py whose generator to invert.
        generator: the generator to invert (class_path + init_args); default: the pretrained DigiFace DCGAN.
        n: number of start latents z0. More starts pin g_θ's direction down: on sprites, 128 starts × 100 steps
            gave directions within cos 0.97–0.99 of the best one, 32 × 30 as low as 0.72 (docs/DISCOVERY.md).
        loss: lowpass (error after a Gaussian blur, keeps texture) or mse (pixel MSE).
        sigma: lowpass: Gaussian width in pixels at 128 px (scaled to the generator's resolution).
        steps: Adam steps per target.
        lr: Adam learning rate.
        batch_size: start latents optimised at once.
        seed: seed of the start latents.
        latents: start latents shown in the pictures.
        overwrite: replace an existing report in OUT.
        wandb: log the report to W&B.
        device: torch device to compute on (cpu, cuda, cuda:1, ...).
    """
    import time

    import torch

    from steer.discovery import trajectories as algorithm
    from steer.evaluation.folder import check_out_dir
    from steer.restore import load_generator
    from steer.seeding import rng

    objective = algorithm.build_loss(loss, sigma)
    transform = algorithm.build_edit(edit)
    torch_device = resolve_device(device)
    out_dir = Path(out)
    check_out_dir(out_dir, overwrite, algorithm.REPORT_FILES)
    gen = load_generator(checkpoint, generator).to(torch_device)
    draw = rng(seed, "trajectories", "z0")
    z0, y = gen.sample_latent(n, draw), gen.sample_class(n, draw)
    start = time.perf_counter()
    records = algorithm.trajectories(gen, transform, z0, ts, objective, steps=steps, lr=lr, y=y,
                                     batch_size=batch_size)
    summary = {"seconds": time.perf_counter() - start, "seed": seed, "command": list(sys.argv),
               "made_by": {"checkpoint": checkpoint, "generator": generator}}
    summary = algorithm.write_report(out_dir, gen, transform, records, summary, overwrite, latents)
    print(f"{'t':>10}  mean final {loss} loss")
    for t, value in zip(summary["ts"], summary["mean_loss"]):
        print(f"{transform.describe(torch.tensor([t])):>10}  {value:.4g}")
    if wandb:
        print(run_line(algorithm.log_report(out_dir, summary, checkpoint, trained_record(checkpoint))))
    print(f"report: {out_dir}")


def manifold(
    mask: str,
    out: str,
    checkpoint: Optional[str] = None,
    generator: Optional[dict] = None,
    k: int = 16,
    change: Optional[float] = None,
    distance: str = "l2",
    sigma: Optional[float] = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    seed: int = 0,
    overwrite: bool = False,
    wandb: bool = True,
    device: str = "cpu",
) -> None:
    """Mask-guided manifold: a sequence of latents whose images change inside a rectangle only.

    Writes frames.png, manifold.gif, latents.pt and manifold.json to OUT and
    logs them to W&B (offline without credentials).

    Args:
        mask: the region that should change, x0,y0,x1,y1 (x1, y1 exclusive): whole numbers are pixels
            (e.g. 20,40,44,56 is the mouth of a 64 px face), numbers with a decimal point fractions of the image.
        out: report folder; refused if it already holds a manifold report, unless --overwrite.
        checkpoint: a .ckpt written by train.py whose generator to use.
        generator: the generator (class_path + init_args); default: the pretrained DigiFace DCGAN.
        k: number of latents after the seed.
        change: the change inside the mask at the last latent, in the distance's units
            (default: 0.05 for l2, a mean squared pixel difference in [-1, 1]; 0.25 for lpips).
        distance: l2 (masked pixel L2) or lpips (needs the AlexNet weights file).
        sigma: spring rest length between neighbouring latents (default 0.25·√latent_dim / k).
        steps: optimiser iterations.
        optimizer: lbfgs or adam.
        seed: seed of the seed latent and of the initial noise.
        overwrite: replace an existing report in OUT.
        wandb: log the report to W&B.
        device: torch device to compute on (cpu, cuda, cuda:1, ...).
    """
    from steer.discovery import manifold as algorithm
    from steer.evaluation.folder import check_out_dir
    from steer.restore import load_generator
    from steer.seeding import rng

    region = algorithm.MaskRegion.parse(mask)
    objective = algorithm.build_distance(distance)
    torch_device = resolve_device(device)
    out_dir = Path(out)
    check_out_dir(out_dir, overwrite, algorithm.REPORT_FILES)
    gen = load_generator(checkpoint, generator).to(torch_device)
    region.pixels(gen.resolution)  # refuse a mask outside the image before the slow part
    draw = rng(seed, "manifold", "seed-latent")
    z_seed, y = gen.sample_latent(1, draw), gen.sample_class(1, draw)
    result = algorithm.manifold(gen, z_seed, region, k=k, target_change=change, distance=objective, sigma=sigma,
                                steps=steps, optimizer=optimizer, seed=seed, y=y)
    summary = algorithm.write_report(result, out_dir, list(sys.argv), overwrite)
    print(f"{'frame':>5}  {'target':>7}  {'inside':>7}  {'outside':>7}  (mean |Δ| per pixel to the seed)")
    for i, (t, a, b) in enumerate(zip(summary["targets"], summary["inside_change"], summary["outside_change"])):
        print(f"{i + 1:>5}  {t:7.4f}  {a:7.4f}  {b:7.4f}")
    print(f"mean change outside / inside: {summary['outside_inside_ratio']:.3f}")
    if wandb:
        print(run_line(algorithm.log_report(out_dir, summary, checkpoint, trained_record(checkpoint))))
    print(f"report: {out_dir}")


def compare(reports: list[str], out: str, overwrite: bool = False) -> None:
    """Several models' steerability side by side, from their `steerability` report folders.

    Writes comparison.png (masked L2 and achieved α per α, one line per model)
    and comparison.json (per model: alphas, masked_l2, mean_<attribute>,
    achieved, limit) to OUT, and prints the tables as Markdown.

    Args:
        reports: LABEL=FOLDER items, e.g. a=reports/a b=reports/b.
        out: folder for the comparison; refused if it already holds one, unless --overwrite.
        overwrite: replace an existing comparison in OUT.
    """
    from steer.evaluation.compare import FILES, compare as compare_reports, markdown, parse_reports, write_comparison
    from steer.evaluation.folder import check_out_dir

    check_out_dir(Path(out), overwrite, FILES)
    comparison = compare_reports(parse_reports(reports))
    write_comparison(comparison, Path(out), overwrite)
    print(markdown(comparison))
    for label, row in comparison["models"].items():
        print(f"{label}: limit ({row['limit_from']}) {row['limit']}")
    print(f"comparison: {out}")


def score(
    directions: str,
    out: str,
    checkpoint: Optional[str] = None,
    generator: Optional[dict] = None,
    factors: Optional[list[str]] = None,
    n: int = 200,
    max_step: float = 2.0,
    steps: int = 9,
    seed: int = 0,
    batch_size: int = 500,
    overwrite: bool = False,
    wandb: bool = True,
    device: str = "cpu",
) -> None:
    """Which known factor each direction of a direction file controls, on sprite-like images.

    Walks G(z + t u) for n seeded latents and t from -max_step to +max_step,
    measures the factors and fits each against t (per-latent offsets removed):
    R² per factor, the controlled factor (highest R², at least 0.5), leakage
    (the best other R²) and cross-talk (see docs/DISCOVERY.md). Writes
    scores.json and scores.png (the directions' grid) to OUT.

    Args:
        directions: a directions.pt written by `evaluate.py directions`.
        out: report folder; refused if it already holds a scores report, unless --overwrite.
        checkpoint: a .ckpt written by train.py whose generator the directions steer; default: the one the
            direction file records.
        generator: the generator (class_path + init_args); default: the one the direction file records.
        factors: sprite attributes to score (x, y, area, orientation, red, green, blue); default: x, y, area.
        n: number of latents.
        max_step: the largest step t along each unit direction.
        steps: number of steps t, evenly spaced.
        seed: seed of the latents.
        batch_size: latents per generator pass.
        overwrite: replace an existing report in OUT.
        wandb: log the report to W&B.
        device: torch device to compute on (cpu, cuda, cuda:1, ...).
    """
    import torch

    from steer.discovery import load_directions
    from steer.discovery.direction_report import plot_grid, render
    from steer.evaluation.direction_scores import score_directions, score_rows, score_table
    from steer.evaluation.folder import check_out_dir, save_json, write_folder
    from steer.reports.wandb import log_folder
    from steer.restore import load_generator

    files = ("scores.png", "scores.json")
    out_dir = Path(out)
    check_out_dir(out_dir, overwrite, files)
    if checkpoint is None and generator is None:  # the generator the directions were found on
        recorded = load_directions(directions).generator
        checkpoint, generator = recorded.get("checkpoint"), None if "checkpoint" in recorded else recorded
    gen = load_generator(checkpoint, generator).to(resolve_device(device))
    found = load_directions(directions, latent_dim=gen.latent_dim)
    scores = score_directions(gen, found.directions, factors or ["x", "y", "area"],
                              torch.linspace(-max_step, max_step, steps), n, seed, batch_size, progress=True)
    header, rows = score_rows({found.method: scores})
    for row in [header, *rows]:
        print("  ".join(f"{c:>10}" for c in row))
    summary = {"directions": directions, "method": found.method, "generator": found.generator,
               **scores.to_json(), "command": list(sys.argv)}
    alphas = torch.linspace(-max_step, max_step, 7)
    frames = render(gen, found, alphas, 3, seed, batch_size)
    write_folder(out_dir, {"scores.png": lambda path: plot_grid(frames, found, alphas, path),
                           "scores.json": lambda path: save_json(summary, path)}, overwrite)
    if wandb:
        table = score_table({found.method: scores})
        print(run_line(log_folder(out_dir, "score", {"directions": directions, "method": found.method,
                                                     "generator": found.generator},
                                  {"score/grid": "scores.png"}, {"score/table": table},
                                  checkpoint=checkpoint, record=trained_record(checkpoint))))
    print(f"report: {out_dir}")


def main() -> None:
    with user_errors():
        CLI({"steerability": steerability, "directions": directions, "trajectories": trajectories,
             "manifold": manifold, "compare": compare, "score": score},
            as_positional=False, parser_class=ConciseParser,
            description=__doc__)


if __name__ == "__main__":
    main()
