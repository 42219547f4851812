"""Mask-guided manifold discovery (Yang, Rokeby & Snelgrove, NeurIPS 2020 workshop; docs/methods.md §3).

From a seed latent w_0, find K latents w_1..w_K whose images change inside a
rectangle M and stay the seed image outside it, evenly spaced along a smooth
path (an animation). All K are optimised jointly, initialised at the seed plus
tiny seeded noise, minimising

    Σ_i |D(M·G(w_i), M·G(w_0)) − c_i|_ε  +  a_out Σ_i D((1−M)·G(w_i), (1−M)·G(w_0))
    + α Σ_i (‖w_{i+1} − w_i‖ − σ)²  +  β Σ_i (‖w_{i+2} − w_i‖ − 2σ)²

with D a masked loss (MaskedL2 or MaskedLPIPS), a_out the outside's share of
the image, and |x|_ε = √(x² + ε²), ε = 0.04·c (the exact |x| of the paper
stalls L-BFGS's line search at the kink, where the targets are met). ``steer discover manifold`` writes the frames, a GIF and the
latents; :func:`manifold_report` is that report.

Its figure, mean change outside / inside (:func:`change_ratio`), comes with a
baseline measured the same way: the same generator, seed and mask, with the
sequence's steps laid along a random direction instead
(:func:`random_direction_ratios`), so a ratio can be read against what an
undirected move of the same size does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle
from torch import Tensor
from tqdm.auto import tqdm

from steer import checkpoint
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.losses import Loss, MaskedL2, MaskedLPIPS
from steer.media import pil, save_gif
from steer.reports.folder import save_figure
from steer.reports.report import Report
from steer.seeding import rng

OPTIMIZERS = ("lbfgs", "adam")
TARGETS = ("ramp", "constant")
SMOOTHING = 0.04  # ε of smooth_abs, as a fraction of the change target c
DEFAULT_CHANGE = {"MaskedL2": 0.05, "MaskedLPIPS": 0.25}  # c per distance; 0.25 is the paper's LPIPS value


@dataclass(frozen=True)
class MaskRegion:
    """A rectangle [x0, x1) × [y0, y1) of the image: pixels, or fractions of the side with ``fractions``.

    x runs left to right, y top to bottom; the end coordinates are exclusive,
    so (0, 0, 8, 8) is the top-left 8×8 pixels and (0.25, 0.5, 0.75, 1.0) with
    ``fractions`` the lower middle of the image at any resolution.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    fractions: bool = False

    def __post_init__(self) -> None:
        values = (self.x0, self.y0, self.x1, self.y1)
        if not all(math.isfinite(v) for v in values):
            raise SteerError(f"mask {self} has a non-finite coordinate; give x0,y0,x1,y1 as numbers.")
        if not self.fractions and any(v != int(v) for v in values):
            raise SteerError(f"mask {values} in pixels must be whole numbers; give fractions=True for fractions of the image.")
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise SteerError(f"mask x0,y0,x1,y1 = {values} is empty: it needs x1 > x0 and y1 > y0 (x1, y1 exclusive).")

    @classmethod
    def parse(cls, text: str) -> MaskRegion:
        """'x0,y0,x1,y1': whole numbers are pixels, numbers with a decimal point fractions of the image."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4:
            raise SteerError(f"--mask {text!r} is not x0,y0,x1,y1: give four numbers, e.g. --mask 20,40,44,56 (pixels).")
        fractions = any(not p.lstrip("+-").isdigit() for p in parts)
        return cls(*values, fractions=fractions)

    def pixels(self, resolution: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of a ``resolution``-px square image; refused outside it or covering it all."""
        scale = resolution if self.fractions else 1
        box = tuple(round(v * scale) for v in (self.x0, self.y0, self.x1, self.y1))
        unit = "fractions" if self.fractions else "pixels"
        if min(box) < 0 or max(box) > resolution:
            raise SteerError(f"mask {self.as_text()} ({unit}) reaches outside the {resolution}×{resolution} image; "
                             f"keep 0 ≤ x0 < x1 ≤ {resolution} and 0 ≤ y0 < y1 ≤ {resolution}.")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise SteerError(f"mask {self.as_text()} covers no whole pixel of the {resolution}×{resolution} image; "
                             "make it larger.")
        if box == (0, 0, resolution, resolution):
            raise SteerError(f"mask {self.as_text()} covers the whole {resolution}×{resolution} image, so nothing "
                             "is kept outside it; choose the region that should change.")
        return box

    def mask(self, resolution: int, device: torch.device | None = None) -> Tensor:
        """(1, 1, R, R): 1 inside the rectangle, 0 outside."""
        x0, y0, x1, y1 = self.pixels(resolution)
        m = torch.zeros(1, 1, resolution, resolution, device=device)
        m[..., y0:y1, x0:x1] = 1
        return m

    def as_text(self) -> str:
        return ",".join(f"{v:g}" for v in (self.x0, self.y0, self.x1, self.y1))


def build_distance(name: str) -> Loss:
    """D by name: "l2" (MaskedL2) or "lpips" (MaskedLPIPS, needs the AlexNet weights file)."""
    if name == "l2":
        return MaskedL2()
    if name != "lpips":
        raise SteerError(f"--distance must be l2 or lpips, got {name!r}.")
    try:
        return MaskedLPIPS()
    except SteerError as e:
        raise SteerError(f"{e} For `steer discover manifold`: --distance l2.") from None


def change_targets(c: float, k: int, kind: str = "ramp") -> Tensor:
    """The inside change each latent i = 1..K is asked for (see :func:`manifold`): "ramp" c_i = c·(i/K)²,
    "constant" c_i = c (the paper's |D(inside_i, inside_ref) − c|, same c for every latent)."""
    if kind == "constant":
        return torch.full((k,), float(c))
    return c * (torch.arange(1, k + 1, dtype=torch.float32) / k) ** 2


def smooth_abs(x: Tensor, eps: float) -> Tensor:
    """√(x² + ε²): |x| with the kink at 0 rounded off, so that L-BFGS's line search can settle on it."""
    return (x.square() + eps**2).sqrt()


def springs(chain: Tensor, sigma: float, alpha: float, beta: float) -> Tensor:
    """α Σ (‖w_{i+1}−w_i‖ − σ)² + β Σ (‖w_{i+2}−w_i‖ − 2σ)² over a chain of latents (N, d)."""
    first = (chain[1:] - chain[:-1]).norm(dim=1)
    second = (chain[2:] - chain[:-2]).norm(dim=1)
    return alpha * (first - sigma).square().sum() + beta * (second - 2 * sigma).square().sum()


def pixel_change(frames: Tensor, seed_frame: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean |frame − seed| per pixel (channels averaged) inside and outside ``mask``: two (K,) tensors."""
    diff = (frames - seed_frame).abs().mean(1, keepdim=True)
    inside = (diff * mask).flatten(1).sum(1) / mask.sum()
    outside = (diff * (1 - mask)).flatten(1).sum(1) / (1 - mask).sum()
    return inside, outside


def change_ratio(inside_change: Tensor, outside_change: Tensor) -> float:
    """Mean outside change / mean inside change over a sequence's frames (0: only the region changed)."""
    return float(outside_change.mean() / inside_change.mean().clamp_min(1e-12))


def random_direction_sequences(seed_latent: Tensor, latents: Tensor, movable: Tensor, draws: int,
                               draw: torch.Generator) -> Tensor:
    """(draws, K, d): per draw one random unit direction u (in the ``movable`` coordinates), walked from the seed
    with the steps of the sequence seed, w_1, …, w_K: w'_i = w_0 + u Σ_{j≤i} ‖w_j − w_{j−1}‖."""
    chain = torch.cat([seed_latent.reshape(1, -1), latents])
    travelled = (chain[1:] - chain[:-1]).norm(dim=1).cumsum(0)  # (K,)
    u = torch.randn(draws, chain.shape[1], generator=draw).to(chain) * movable
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return chain[0] + travelled[None, :, None] * u[:, None, :]


def random_direction_ratios(generator: Generator, seed_latent: Tensor, latents: Tensor, seed_frame: Tensor,
                            mask: Tensor, draws: int, seed: int, y: Tensor | None = None) -> Tensor:
    """(draws,) :func:`change_ratio` of :func:`random_direction_sequences`: the baseline of a discovered sequence.

    One generator pass of K images per draw, no gradient; seeded by ``seed`` (stream "random-directions"), so the
    same sequence and seed give the same baseline. Only the generator's ``walk_mask`` coordinates move.
    """
    device = seed_frame.device
    movable = generator.walk_mask
    movable = torch.ones(generator.latent_dim, device=device) if movable is None else movable.to(device)
    sequences = random_direction_sequences(seed_latent.to(device), latents.to(device), movable, draws,
                                           rng(seed, "manifold", "random-directions"))
    ys = None if y is None else y.reshape(1).to(device).expand(len(latents))
    ratios = []
    with torch.no_grad():
        for sequence in sequences:
            inside, outside = pixel_change(generator(sequence, ys), seed_frame, mask)
            ratios.append(change_ratio(inside, outside))
    return torch.tensor(ratios)


@dataclass
class Manifold:
    """What :func:`manifold` finds: the seed, the K latents after it, their frames and changes."""

    seed_latent: Tensor  # (d,)
    latents: Tensor  # (K, d)
    seed_frame: Tensor = field(repr=False)  # (C, H, W)
    frames: Tensor = field(repr=False)  # (K, C, H, W)
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    targets: Tensor  # (K,) c_i, in D's units
    inside_distance: Tensor  # (K,) D inside the mask at the end
    outside_distance: Tensor  # (K,) D outside the mask at the end
    inside_change: Tensor  # (K,) mean |frame − seed| per pixel inside the mask
    outside_change: Tensor  # (K,) the same outside
    random_ratios: Tensor  # (draws,) the ratio of the same steps along random directions (the baseline)
    settings: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Mean outside change / mean inside change (0: only the region changed)."""
        return change_ratio(self.inside_change, self.outside_change)

    @property
    def random_ratio(self) -> tuple[float, float]:
        """Mean and std (over the draws) of the baseline ratio."""
        return float(self.random_ratios.mean()), float(self.random_ratios.std())

    def ratio_line(self) -> str:
        """'… outside / inside = 0.212 (random directions with the same steps: 0.981 ± 0.050, 8 draws)'."""
        mean, std = self.random_ratio
        return (f"mean change outside / inside = {self.ratio:.3f} (random directions with the same steps: "
                f"{mean:.3f} ± {std:.3f}, {len(self.random_ratios)} draws)")

    @property
    def spacing(self) -> Tensor:
        """(K,) ‖w_i − w_{i−1}‖ along the chain seed, w_1, …, w_K."""
        chain = torch.cat([self.seed_latent[None], self.latents])
        return (chain[1:] - chain[:-1]).norm(dim=1)

    def to_json(self) -> dict:
        return {
            "settings": self.settings,
            "region": list(self.region),
            "targets": self.targets.tolist(),
            "inside_distance": self.inside_distance.tolist(),
            "outside_distance": self.outside_distance.tolist(),
            "inside_change": self.inside_change.tolist(),
            "outside_change": self.outside_change.tolist(),
            "mean_inside_change": float(self.inside_change.mean()),
            "mean_outside_change": float(self.outside_change.mean()),
            "outside_inside_ratio": self.ratio,
            "random_direction_ratio": {"mean": self.random_ratio[0], "std": self.random_ratio[1],
                                       "draws": self.random_ratios.tolist()},
            "spacing": self.spacing.tolist(),
        }


def default_sigma(latent_dim: int, k: int) -> float:
    """σ = 0.25·√d / K: the K springs span a quarter of a typical latent's norm (‖z‖ ≈ √d)."""
    return 0.25 * math.sqrt(latent_dim) / k


def manifold(
    generator: Generator,
    z_seed: Tensor,
    mask: MaskRegion,
    k: int = 16,
    target_change: float | None = None,
    distance: Loss | None = None,
    sigma: float | None = None,
    alpha: float = 0.3,
    beta: float = 0.1,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    targets: str = "ramp",
    seed: int = 0,
    y: Tensor | None = None,
    random_draws: int = 8,
    progress: bool = True,
) -> Manifold:
    """K latents after ``z_seed`` that change ``generator``'s image inside ``mask`` only.

    Change targets along the sequence: the paper gives every latent the same
    target c and lets the springs spread them; its own demo animation instead
    raised c frame by frame. steer uses a growing target,
    c_i = c·(i/K)² (:func:`change_targets`), with the seed w_0 as a fixed
    first link of the spring chain: the sequence starts at the seed image and
    its region changes steadily up to c at w_K. The reason: with one constant
    c every latent must lie at the same distance (in D) from the seed while
    the stiffener pulls the chain straight, two demands a straight chain
    cannot meet, and the first frame already jumps by c from the seed. D
    grows with the square of a small latent step (squared pixel or feature
    differences), so targets growing as (i/K)² are met by equally spaced
    latents on a straight line: targets, springs and stiffener agree.
    ``targets="constant"`` gives the paper's c_i = c for every latent
    (docs/PAPER_PRESETS.md).

    Args:
        generator: the (frozen) generator; where it declares ``walk_mask``,
            only those latent coordinates move.
        z_seed: the seed latent, (d,) or (1, d).
        mask: the region that should change.
        k: number of latents after the seed.
        target_change: c, the change inside the mask at w_K, in D's units;
            default 0.05 for masked L2 (a mean squared difference of pixels in
            [-1, 1]), 0.25 for LPIPS (the paper's value).
        distance: D; MaskedL2 by default, or MaskedLPIPS.
        sigma: spring rest length σ; default :func:`default_sigma`.
        alpha, beta: spring and stiffener weights (the paper's 0.3 and 0.1).
        steps: optimiser iterations (L-BFGS: at most 1.25·steps generator passes).
        optimizer: "lbfgs" (default, as the paper) or "adam".
        lr: step size; default 1 for L-BFGS, σ/10 for Adam.
        targets: "ramp" (c·(i/K)², default) or "constant" (c, the paper's).
        seed: seed of the initial noise.
        y: the class (1,) for a class-conditional generator.
        random_draws: random directions for the baseline ratio (:func:`random_direction_ratios`; one pass of
            K images each, no gradient, against up to 1.25·steps passes with gradient for the search).
        progress: show a progress bar.
    """
    d = generator.latent_dim
    if optimizer not in OPTIMIZERS:
        raise SteerError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}.")
    if targets not in TARGETS:
        raise SteerError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}.")
    distance = distance or MaskedL2()
    target_change = DEFAULT_CHANGE.get(type(distance).__name__) if target_change is None else target_change
    if target_change is None:
        raise SteerError(f"give target_change for the distance {type(distance).__name__} (no default for it).")
    if k < 2 or steps < 1 or not target_change > 0:
        raise SteerError(f"a manifold needs k ≥ 2 latents, steps ≥ 1 and a change > 0; got {k}, {steps}, {target_change}.")
    if random_draws < 2:
        raise SteerError(f"random_draws must be ≥ 2 (the baseline's spread needs two draws), got {random_draws}.")
    sigma = default_sigma(d, k) if sigma is None else sigma
    if not sigma > 0 or alpha < 0 or beta < 0:
        raise SteerError(f"springs need σ > 0 and α, β ≥ 0; got σ={sigma}, α={alpha}, β={beta}.")
    z_seed = z_seed.reshape(1, -1)
    if z_seed.shape[1] != d:
        raise SteerError(f"z_seed must hold {d} values (the latent size of {type(generator).__name__}), got {z_seed.shape[1]}.")
    generator.freeze()
    device = next(generator.parameters(), z_seed).device
    distance = distance.to(device)
    z_seed = z_seed.to(device, torch.float32)
    y = None if y is None else y.reshape(1).to(device)
    ys = None if y is None else y.expand(k)
    movable = generator.walk_mask
    movable = torch.ones(d, device=device) if movable is None else movable.to(device)
    inside = mask.mask(generator.resolution, device)
    outside = 1 - inside
    outside_share = float(outside.mean())
    goals = change_targets(target_change, k, targets).to(device)
    with torch.no_grad():
        seed_frame = generator(z_seed, y)
    reference = seed_frame.expand(k, -1, -1, -1)
    noise = torch.randn(k, d, generator=rng(seed, "manifold", "init-noise")).to(device)
    offsets = (1e-3 * sigma / math.sqrt(d) * noise).requires_grad_()  # tiny: ‖noise‖ ≈ 10⁻³σ

    def latents() -> Tensor:
        return z_seed + offsets * movable  # only the walk_mask coordinates move

    def terms() -> tuple[Tensor, Tensor, Tensor, Tensor]:
        frames = generator(latents(), ys)
        d_in = distance(frames, reference, inside, reduction="none")
        d_out = distance(frames, reference, outside, reduction="none")
        # Σ_i |D_in,i − c_i|_ε + a_out Σ_i D_out,i + springs over the chain w_0 (the seed), w_1, …, w_K
        loss = smooth_abs(d_in - goals, SMOOTHING * target_change).sum() + outside_share * d_out.sum()
        loss = loss + springs(torch.cat([z_seed, latents()]), sigma, alpha, beta)
        return loss, frames, d_in, d_out

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([offsets], lr=lr or 1.0, max_iter=steps, max_eval=steps * 5 // 4, history_size=20,
                                line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([offsets], lr=lr or sigma / 10)
    bar = tqdm(total=opt.defaults.get("max_eval", steps), desc="manifold", unit="pass", disable=not progress)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = terms()[0]
        loss.backward()
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        return loss

    if optimizer == "lbfgs":
        opt.step(closure)  # one call runs up to ``steps`` iterations (L-BFGS keeps its history within a call)
    else:
        for _ in range(steps):
            opt.step(closure)
    bar.close()
    with torch.no_grad():
        _, frames, d_in, d_out = terms()
    inside_change, outside_change = pixel_change(frames, seed_frame, inside)
    random_ratios = random_direction_ratios(generator, z_seed[0], latents().detach(), seed_frame, inside,
                                            random_draws, seed, y)
    settings = {"generator": type(generator).__name__, "k": k, "target_change": target_change,
                "distance": type(distance).__name__, "sigma": sigma, "alpha": alpha, "beta": beta,
                "steps": steps, "optimizer": optimizer, "lr": opt.defaults["lr"], "targets": targets,
                "seed": seed, "mask": mask.as_text(), "mask_in": "fractions" if mask.fractions else "pixels",
                "class": None if y is None else int(y[0]), "random_draws": random_draws}
    return Manifold(
        seed_latent=z_seed[0].detach().cpu(), latents=latents().detach().cpu(), seed_frame=seed_frame[0].cpu(),
        frames=frames.cpu(), region=mask.pixels(generator.resolution), targets=goals.cpu(),
        inside_distance=d_in.cpu(), outside_distance=d_out.cpu(), inside_change=inside_change.cpu(),
        outside_change=outside_change.cpu(), random_ratios=random_ratios, settings=settings,
    )




def plot_frames(result: Manifold, path: Path) -> Path:
    """Top: the seed (mask drawn) and the K frames; bottom: |frame − seed| per pixel, with each frame's changes."""
    frames = torch.cat([result.seed_frame[None], result.frames])
    diffs = (frames - result.seed_frame).abs().mean(1)
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(1.05 * n, 2.6), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(pil(frames[i]))
        axes[1, i].imshow(diffs[i], cmap="magma", vmin=0, vmax=max(float(diffs.max()), 1e-6))
        label = "seed" if i == 0 else f"{i}\nin {result.inside_change[i - 1]:.2f}\nout {result.outside_change[i - 1]:.2f}"
        axes[0, i].set_title(label, fontsize=6)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    x0, y0, x1, y1 = result.region
    for ax in axes[:, 0]:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="lime", lw=1))
    axes[1, 0].set_ylabel("|Δ| to seed", fontsize=6)
    of_class = "" if result.settings.get("class") is None else f"class {result.settings['class']}; "
    fig.suptitle(f"{of_class}mask {result.region} (pixels, x0,y0,x1,y1);\n{result.ratio_line()}",
                 fontsize=8, y=1.12)
    fig.subplots_adjust(hspace=0.05, wspace=0.05)
    return save_figure(fig, path)


def manifold_report(result: Manifold) -> Report:
    """frames.png, manifold.gif, latents.pt and manifold.json."""
    summary = result.to_json()
    latents = {"seed_latent": result.seed_latent, "latents": result.latents, "settings": result.settings}
    files = {
        "frames.png": lambda path: plot_frames(result, path),
        "manifold.gif": lambda path: save_gif(list(torch.cat([result.seed_frame[None], result.frames])), path),
        "latents.pt": lambda path: checkpoint.save(latents, path),
    }
    rows = [[i + 1, t, a, b] for i, (t, a, b) in
            enumerate(zip(summary["targets"], summary["inside_change"], summary["outside_change"]))]
    return Report("manifold.json", summary, files, (["frame", "target", "inside_change", "outside_change"], rows),
                  [result.ratio_line()],
                  {"manifold/frames": "frames.png", "manifold/animation": "manifold.gif"},
                  {"outside_inside_ratio": summary["outside_inside_ratio"],
                   "random_direction_ratio_mean": summary["random_direction_ratio"]["mean"],
                   "random_direction_ratio_std": summary["random_direction_ratio"]["std"]}, job_type="manifold")
