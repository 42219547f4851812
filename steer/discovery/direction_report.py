"""Directions by a named method (`steer discover sefa|pca`), rendered into their report.

The report folder holds directions.pt (the direction file), directions.png
(one row per direction: G(z + α u_k) for a few seeded latents, α from
−max_step to +max_step), directions.gif (the rows animated over α) and
directions.json (method, scores, time, generator, settings, command).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from steer.discovery.pca import pca  # noqa: E402
from steer.discovery.sefa import sefa  # noqa: E402
from steer.errors import SteerError  # noqa: E402
from steer.formats.directions import Directions, save_directions  # noqa: E402
from steer.generators.base import Generator  # noqa: E402
from steer.media import grid, pil, save_gif  # noqa: E402
from steer.reports.folder import save_figure  # noqa: E402
from steer.reports.report import Report  # noqa: E402
from steer.seeding import rng  # noqa: E402

METHODS = ("sefa", "pca")


def check_options(method: str, steps: int, max_step: float, latents: int) -> None:
    """The command's own options, checked before the generator is built."""
    if method not in METHODS:
        raise SteerError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}.")
    if steps < 2 or max_step <= 0 or latents < 1:
        raise SteerError(f"the pictures need steps ≥ 2, max_step > 0 and latents ≥ 1; "
                         f"got steps={steps}, max_step={max_step}, latents={latents}.")


def generator_record(generator: Generator, checkpoint: str | None, spec: dict | None) -> dict:
    """What the directions steer: the checkpoint they came from, or the generator's class_path + init_args."""
    if checkpoint is not None:
        return {"checkpoint": str(Path(checkpoint).resolve())}
    return spec or {"class_path": f"{type(generator).__module__}.{type(generator).__qualname__}", "init_args": {}}


def pca_layer(generator: Generator, layer: str | None) -> str:
    """``layer``, else the generator's default layer (StyleGAN: ``net.style``, PCA on w), checked to exist."""
    layer = layer if layer is not None else generator.default_layer
    if layer is None:
        raise SteerError(f"PCA on {type(generator).__name__} needs --layer, the module path of the layer whose "
                         f"features to analyse, e.g. {', '.join(generator.layer_names()[:6]) or '(none: it has no submodules)'}.")
    generator.feature_layer(layer)
    return layer


def discover(method: str, generator: Generator, k: int, record: dict, layer: str | None = None, n: int = 5000,
             batch_size: int = 250, seed: int = 0, progress: bool = True,
             classes: list[int] | None = None) -> Directions:
    """The top ``k`` directions of ``generator`` by ``method`` ("sefa" or "pca"), as a direction record
    (``classes``: the classes of a conditional generator PCA's latents use; default all)."""
    if method == "sefa":
        directions, scores = sefa(generator, k)
        return Directions(directions, scores, method, record, score_name="eigenvalue")
    if method == "pca":
        directions, scores = pca(generator, layer, k, n=n, batch_size=batch_size, seed=seed, progress=progress,
                                 classes=classes)
        return Directions(directions, scores, method, record, score_name="explained variance ratio",
                          params={"layer": layer, "n": n, "batch_size": batch_size, "seed": seed,
                                  **({} if classes is None else {"classes": classes})})
    raise SteerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")


@torch.no_grad()
def render(generator: Generator, found: Directions, alphas: Tensor, latents: int, seed: int,
           batch_size: int, classes: list[int] | None = None) -> tuple[Tensor, list[int] | None]:
    """Images G(z_j + α u_k), shape (α, k, latent j, C, H, W), CPU, for ``latents`` seeded z_j, and the class of
    each z_j (None: unconditional; ``classes``: those in turn, else drawn uniformly)."""
    device = next(generator.parameters(), torch.empty(0)).device
    draw = rng(seed, "directions", "pictures")
    z, y = generator.sample_latent(latents, draw), generator.sample_class(latents, draw, classes)
    moved = z[None, None] + alphas[:, None, None, None] * found.directions[None, :, None]  # z + α u_k
    flat = moved.reshape(-1, generator.latent_dim)
    classes = None if y is None else y.repeat(len(flat) // latents)
    images = [generator(flat[i:i + batch_size].to(device),
                        None if classes is None else classes[i:i + batch_size].to(device)).cpu()
              for i in range(0, len(flat), batch_size)]
    return torch.cat(images).reshape(*moved.shape[:3], *images[0].shape[1:]), None if y is None else y.tolist()


def plot_grid(frames: Tensor, found: Directions, alphas: Tensor, path: Path, shown: list[int] | None = None) -> Path:
    """One row per direction; for each latent (with its class, if any), its images from −max_step to +max_step."""
    steps, k, latents = frames.shape[:3]
    rows = [frames[:, i].transpose(0, 1).reshape(-1, *frames.shape[3:]) for i in range(k)]  # latent-major
    image = grid(rows)
    columns = steps * latents
    fig, ax = plt.subplots(figsize=(0.8 * columns + 1.5, 0.8 * k + 0.9))
    ax.imshow(pil(image))
    cell_w, cell_h = image.shape[2] / columns, image.shape[1] / k
    for j in range(1, latents):
        ax.axvline(cell_w * steps * j, color="black", lw=1.5)  # between the latents
    ax.set_xticks([cell_w * (c + 0.5) for c in range(columns)])
    ax.set_xticklabels([f"{a:+.2g}" for a in alphas.tolist()] * latents, fontsize=7)
    ax.set_yticks([cell_h * (i + 0.5) for i in range(k)])
    ax.set_yticklabels([f"u{i}  {s:.3g}" for i, s in enumerate(found.scores.tolist())], fontsize=8)
    of_class = "" if shown is None else f" of class{'es' * (len(shown) > 1)} {', '.join(map(str, shown))}"
    ax.set_xlabel(f"α (G(z + α u) for {latents} latents{of_class})")
    ax.set_ylabel(f"direction, {found.score_name}")
    ax.set_title(f"{found.method}: top {k} directions")
    return save_figure(fig, path)


def directions_report(generator: Generator, found: Directions, seconds: float, steps: int = 7,
                      max_step: float = 3.0, latents: int = 3, seed: int = 0, batch_size: int = 250,
                      classes: list[int] | None = None) -> Report:
    """directions.pt, directions.png, directions.gif and directions.json."""
    alphas = torch.linspace(-max_step, max_step, steps)
    frames, shown = render(generator, found, alphas, latents, seed, batch_size, classes)
    summary = {
        "method": found.method, "k": len(found), "latent_dim": found.latent_dim, "seconds": seconds,
        "score_name": found.score_name, "scores": found.scores.tolist(), "generator": found.generator,
        "params": found.params, "alphas": alphas.tolist(), "picture_seed": seed, "picture_classes": shown,
    }
    files = {
        "directions.pt": lambda path: save_directions(path, found),
        "directions.png": lambda path: plot_grid(frames, found, alphas, path, shown),
        "directions.gif": lambda path: save_gif([grid(list(frame)) for frame in frames], path),
    }
    table = (["direction", found.score_name], [[i, score] for i, score in enumerate(found.scores.tolist())])
    return Report("directions.json", summary, files, table, [f"{found.method}: {len(found)} directions in {seconds:.3f} s"],
                  {"directions/grid": "directions.png", "directions/walk": "directions.gif"}, {"seconds": seconds},
                  job_type="directions")
