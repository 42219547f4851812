"""Trajectories in latent space by inversion (Plumerault & Le Borgne, ICLR 2020, Algorithm 1; docs/methods.md §2).

For each start z0 (clipped to ‖z‖ ≤ √d) and each sign, walk t = ±δ, ±2δ, …
(the ``ts`` grid, in the edit's units) and solve

    z_t = argmin_{‖z‖ ≤ √d}  L( G(z), T_t(G(z0)) ; m_t )

starting from the previous solution of the same sign (warm start), with Adam
reset per target and a projection onto the ball after every step. The target
is always built from the original image G(z0). The records (z0, z_t, t, final
loss) train the factor regressor g_θ (steer.modules.FactorRegressor).

``python -m steer.discovery.trajectories`` compares the low-pass loss with
pixel MSE on the default generator (see :func:`sharpness`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.edits import Edit, ShiftX
from steer.errors import SteerError
from steer.formats.trajectories import RECORD_TENSORS, Records, save_records
from steer.generators.base import Generator
from steer.generators.trained import load_generator
from steer.losses import Loss, MaskedL2, MaskedLowPass
from steer.reports.report import Report
from steer.seeding import rng


def clip_to_ball(z: Tensor) -> Tensor:
    """z scaled onto the ball ‖z‖ ≤ √d where it lies outside it."""
    radius = math.sqrt(z.shape[-1])
    return z * (radius / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1)


def factor_change(edit: Edit, t: Tensor) -> Tensor:
    """The additive change of the factor for strengths t: t − identity, or ln(t / identity) if multiplicative."""
    identity = edit.identity.to(t)[0]
    return (t / identity).log() if edit.multiplicative else t - identity


def branches(edit: Edit, ts: Sequence[float]) -> list[Tensor]:
    """The positive and the negative t of ``ts``, each ordered outwards from the identity (which is dropped)."""
    if edit.sliders != 1:
        raise SteerError(f"trajectories follow one factor; {edit.name} has {edit.sliders} sliders. "
                         "Use a one-slider edit (e.g. steer.edits.Brightness instead of Color).")
    t = edit.check_alpha(torch.as_tensor(ts, dtype=torch.float32).flatten())
    if len(t) == 0:
        raise SteerError("--ts is empty; give the edit strengths to walk, e.g. [-8, -4, 4, 8].")
    graph = edit.walk_alpha(t)[:, 0]
    return [t[side][graph[side].abs().argsort()] for side in (graph > 0, graph < 0) if side.any()]


def invert(generator: Generator, z: Tensor, target: Tensor, mask: Tensor, loss: Loss,
           y: Tensor | None = None, steps: int = 50, lr: float = 0.01) -> tuple[Tensor, Tensor]:
    """argmin_{‖z‖≤√d} L(G(z), target; mask) from ``z`` by projected Adam; (z_t, final loss per image)."""
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)  # a fresh optimiser per target
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss(generator(z, y), target, mask, reduction="none").sum().backward()  # each z its own L
            optimizer.step()
            with torch.no_grad():
                z.copy_(clip_to_ball(z))  # projected gradient: back onto ‖z‖ ≤ √d
    with torch.no_grad():
        return z.detach(), loss(generator(z, y), target, mask, reduction="none")


def trajectories(generator: Generator, edit: Edit, z0: Tensor, ts: Sequence[float], loss: Loss,
                 steps: int = 50, lr: float = 0.01, y: Tensor | None = None, batch_size: int = 64,
                 progress: bool = True) -> Records:
    """Algorithm 1 for every start in ``z0`` (N, d), ``batch_size`` starts optimised at once.

    ``ts``: edit strengths in the edit's units (e.g. ShiftX pixels); the identity
    (0, or 1 for Zoom) is skipped. ``y``: classes of a conditional generator.
    The generator is frozen. Returns one record per (start, t).
    """
    if steps < 1 or not lr > 0 or batch_size < 1:
        raise SteerError(f"trajectories need steps ≥ 1, lr > 0 and batch_size ≥ 1; got {steps}, {lr}, {batch_size}.")
    d = generator.latent_dim
    if z0.dim() != 2 or z0.shape[1] != d or len(z0) == 0:
        raise SteerError(f"z0 must be (N, {d}) latents of {type(generator).__name__}, got {tuple(z0.shape)}.")
    generator.freeze()
    sides = branches(edit, ts)
    device = next(generator.parameters(), z0).device
    z0 = clip_to_ball(z0.to(device, torch.float32))
    rows: dict[str, list[Tensor]] = {k: [] for k in RECORD_TENSORS}
    bar = tqdm(total=math.ceil(len(z0) / batch_size) * sum(len(s) for s in sides), desc="trajectories",
               unit="target", disable=not progress)
    for begin in range(0, len(z0), batch_size):
        start = z0[begin: begin + batch_size]
        cls = None if y is None else y[begin: begin + batch_size].to(device)
        with torch.no_grad():
            source = generator(start, cls)  # every target is built from the original image G(z0)
        for side in sides:
            z = start
            for t in side:
                alpha = t.expand(len(start), 1).to(device)
                target, mask = edit(source, alpha)
                z, final = invert(generator, z, target, mask, loss, cls, steps, lr)  # warm start from the last z
                for key, value in (("z0", start), ("z_t", z), ("t", alpha[:, 0]), ("loss", final),
                                   ("start", torch.arange(begin, begin + len(start), device=device)), ("y", cls)):
                    if value is not None:
                        rows.setdefault(key, []).append(value.detach().cpu())
                bar.update()
    bar.close()
    rows["delta"] = [factor_change(edit, torch.cat(rows["t"]))]
    settings = {"edit": describe(edit), "loss": describe(loss), "generator": type(generator).__name__,
                "ts": [float(t) for t in torch.as_tensor(ts).flatten()], "steps": steps, "lr": lr, "n": len(z0)}
    if y is not None:
        settings["classes"] = sorted(set(y.tolist()))
    return Records(*(torch.cat(rows[k]) for k in RECORD_TENSORS), settings=settings,
                   y=torch.cat(rows["y"]) if "y" in rows else None)


def describe(obj: object) -> dict:
    """class_path and the plain settings of an edit or loss, for the records' provenance."""
    plain = {k: v for k, v in vars(obj).items()
             if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str, type(None)))}
    return {"class_path": f"{type(obj).__module__}.{type(obj).__name__}", "init_args": plain}


def build_loss(name: str, sigma: float = 3.0) -> Loss:
    """'lowpass' (MaskedLowPass, σ pixels at 128 px) or 'mse' (MaskedL2)."""
    if name == "lowpass":
        return MaskedLowPass(sigma)
    if name == "mse":
        return MaskedL2()
    raise SteerError(f"--loss must be lowpass or mse, got {name!r}.")


# -- report: records.pt, trajectories.png, trajectories.gif, trajectories.json ----------------


def mean_loss_per_t(records: Records) -> tuple[list[float], list[float]]:
    """(each t in ascending order, the mean final inversion loss at it)."""
    ts = records.t.unique()
    return ts.tolist(), [records.loss[records.t == t].mean().item() for t in ts]


@torch.no_grad()
def strips(generator: Generator, edit: Edit, records: Records,
           latents: int = 4) -> tuple[list[float], Tensor, Tensor, list[int] | None]:
    """(t with the identity, targets, inversions, classes) for the first ``latents`` starts; images (T, K, C, H, W).

    A conditional generator makes each start's images with the start's class (``records.y``). Targets are masked (undefined pixels black); at the identity both are G(z0).
    """
    device = next(generator.parameters(), records.z0).device
    chosen = records.start.unique()[:latents]
    first = torch.stack([(records.start == i).nonzero()[0, 0] for i in chosen])  # a record of each start
    classes = None if records.y is None else records.y[first].to(device)
    sources = generator(records.z0[first].to(device), classes)
    ts = sorted(records.t.unique().tolist() + [float(edit.identity[0])])
    targets, inverted = [], []
    for t in ts:
        rows = (torch.isin(records.start, chosen) & (records.t == t)).nonzero()[:, 0]
        if len(rows) == 0:  # the identity column
            targets.append(sources)
            inverted.append(sources)
            continue
        rows = rows[records.start[rows].argsort()]
        target, mask = edit(sources, records.t[rows, None].to(device))
        targets.append(torch.where(mask > 0, target, -torch.ones_like(target)))
        inverted.append(generator(records.z_t[rows].to(device), classes))
    return ts, torch.stack(targets).cpu(), torch.stack(inverted).cpu(), None if classes is None else classes.tolist()


def plot_strips(ts: list[float], targets: Tensor, inverted: Tensor, edit: Edit, loss_name: str, path: Path,
                classes: list[int] | None = None) -> Path:
    """Rows: target and inversion per start latent (with its class, if any); columns: t."""
    from steer.media import grid, pil
    from steer.reports.folder import plt, save_figure

    rows = [r for k in range(targets.shape[1]) for r in (targets[:, k], inverted[:, k])]
    image = grid(rows)
    fig, ax = plt.subplots(figsize=(1.0 * len(ts) + 1.2, 1.0 * len(rows) + 0.8))
    ax.imshow(pil(image))
    cell, row_h = image.shape[2] / len(ts), image.shape[1] / len(rows)
    ax.set_xticks([cell * (i + 0.5) for i in range(len(ts))])
    ax.set_xticklabels([edit.describe(torch.tensor([t])) for t in ts], rotation=45, fontsize=8)
    ax.set_yticks([row_h * (i + 0.5) for i in range(len(rows))])
    starts = [""] * targets.shape[1] if classes is None else [f" (class {c})" for c in classes]
    ax.set_yticklabels([f"{row}{start}" for start in starts for row in ("target", "inversion")], fontsize=8)
    ax.set_title(f"{edit.name}: T_t(G(z0)) and G(z_t), Algorithm 1 with the {loss_name} loss", fontsize=9)
    return save_figure(fig, path)


def trajectories_report(generator: Generator, edit: Edit, records: Records, summary: dict, latents: int = 4) -> Report:
    """records.pt, trajectories.png, trajectories.gif and trajectories.json."""
    from steer.media import grid, save_gif

    ts, mean_loss = mean_loss_per_t(records)
    summary = {"ts": ts, "mean_loss": mean_loss, **summary, "settings": records.settings}
    columns, targets, inverted, shown = strips(generator, edit, records, latents)
    loss_name = records.settings["loss"]["class_path"].split(".")[-1]
    files = {
        "records.pt": lambda path: save_records(records, path),
        "trajectories.png": lambda path: plot_strips(columns, targets, inverted, edit, loss_name, path, shown),
        "trajectories.gif": lambda path: save_gif([grid([targets[i], inverted[i]]) for i in range(len(columns))], path),
    }
    table = (["t", f"mean_final_{loss_name}_loss"], [[t, loss] for t, loss in zip(ts, mean_loss)])
    return Report("trajectories.json", summary, files, table, [],
                  {"trajectories/grid": "trajectories.png", "trajectories/walk": "trajectories.gif"},
                  job_type="trajectories")


# -- measurement: does the low-pass loss keep texture? ------------------------------------
def high_frequency_energy(images: Tensor, mask: Tensor, blur: MaskedLowPass) -> Tensor:
    """Per image: Σ m·(I − blur(I))² / Σ m, the energy the low-pass filter removes."""
    detail = images - blur.low_pass(images)
    return MaskedL2()(detail, torch.zeros_like(detail), mask, reduction="none")


def sharpness(generator: Generator, edit: Edit, ts: Sequence[float], n: int = 16, steps: int = 50,
              lr: float = 0.01, sigma: float = 3.0, seed: int = 0, progress: bool = True) -> dict[str, float]:
    """High-frequency energy of the inversions over that of their targets, for each loss.

    The same n start latents are inverted with the low-pass loss and with pixel
    MSE; a ratio near 1 means the inversions are as sharp as the targets
    (below 1: blurrier). HF energy is measured with the low-pass filter's own σ.
    """
    z0 = generator.sample_latent(n, rng(seed, "trajectories", "sharpness"))
    blur = MaskedLowPass(sigma)
    ratios = {}
    for name in ("lowpass", "mse"):
        records = trajectories(generator, edit, z0, ts, build_loss(name, sigma), steps, lr,
                               progress=progress)
        with torch.no_grad():
            target, mask = edit(generator(records.z0), records.t[:, None])
            inverted = generator(records.z_t)
        ratios[name] = (high_frequency_energy(inverted, mask, blur).mean()
                        / high_frequency_energy(target, mask, blur).mean()).item()
        ratios[f"{name}_mse"] = MaskedL2()(inverted, target, mask).item()
    return ratios


def main() -> None:
    ts = [-8.0, -4.0, 4.0, 8.0]
    result = sharpness(load_generator(), ShiftX(max_shift=16), ts)
    print(f"DigiFace DCGAN, ShiftX t = {ts} px, 16 latents, 50 Adam steps per target (lr 0.01), σ = 3 px at 128 px")
    print("HF energy of inversions / HF energy of targets (1 = as sharp as the target):")
    for name in ("lowpass", "mse"):
        print(f"  {name:8s} ratio {result[name]:.3f}   pixel MSE to target {result[name + '_mse']:.4f}")


if __name__ == "__main__":
    main()
