"""`steer evaluate control`: how precisely a trained g_θ sets a known factor (Plumerault et al.)."""

from __future__ import annotations

from pathlib import Path

import torch

from steer.commands.common import generator_on
from steer.errors import SteerError
from steer.evaluation.direction_scores import ControlScores, measure_latents, score_control
from steer.generators.base import Generator
from steer.modules.factor_regressor import FactorRegressor
from steer.reports.folder import plt, save_figure
from steer.reports.report import Report
from steer.restore import load_module
from steer.seeding import rng
from steer.sprites.histograms import Attribute


def control(
    device: torch.device,
    regressor: str,
    factor: Attribute = "x",
    requested: list[float] | None = None,
    checkpoint: str | None = None,
    generator: Generator | None = None,
    n: int = 100,
    seed: int = 0,
    batch_size: int = 500,
) -> Report:
    """g_θ's control of a factor: move n seeded latents to each requested value and measure what comes out.

    Writes control.json (per requested value: mean, std, mean |error| of the
    measured factor; gain) and control.png to OUT.

    Args:
        regressor: the last.ckpt of a factor-regressor run (configs/discovery/factor_regressor.yaml).
        factor: the sprite attribute g_θ was trained to set (x, y, area, orientation, red, green, blue).
        requested: the requested values; default: 9 from the 5th to the 95th percentile of the factor over 4n samples.
        checkpoint: a .ckpt written by `steer fit` whose generator g_θ steers.
        generator: the generator g_θ steers; default: the pretrained DigiFace DCGAN.
        n: latents per requested value.
        seed: seed of the latents.
        batch_size: latents per generator pass.
    """
    module, _ = load_module(Path(regressor))
    if not isinstance(module, FactorRegressor):
        raise SteerError(f"--regressor {regressor} holds a {type(module).__name__}, not a FactorRegressor; give the "
                         "checkpoint of a run of configs/discovery/factor_regressor.yaml.")
    gen = generator_on(device, checkpoint, generator)
    if module.latent_dim != gen.latent_dim:
        raise SteerError(f"g_θ in {regressor} moves {module.latent_dim}-d latents but the generator's latent size is "
                         f"{gen.latent_dim}; give the generator its trajectories came from (--checkpoint/--generator).")
    report = control_report(module.to(device), gen, factor, requested, n, seed, batch_size)
    report.generator = gen
    return report


def control_report(regressor: FactorRegressor, gen: Generator, factor: str, values: list[float] | None, n: int,
                   seed: int, batch_size: int) -> Report:
    """control.json and control.png: the measured factor against the requested one."""
    if values is None:
        draw = rng(seed, "control", "range")
        measured = measure_latents(gen, gen.sample_latent(4 * n, draw), [factor], gen.sample_class(4 * n, draw),
                                   batch_size)[:, 0]
        measured = measured[measured.isfinite()]
        if len(measured) < 2:
            raise SteerError(f"the generator's images show no object to measure {factor} on; give --requested.")
        values = torch.linspace(measured.quantile(0.05).item(), measured.quantile(0.95).item(), 9).tolist()
    scores = score_control(regressor, gen, factor, values, n=n, seed=seed, batch_size=batch_size)
    record = scores.to_json()
    rows = [[r, m, s, e, int(v)] for r, m, s, e, v in zip(record["requested"], record["mean"], record["std"],
                                                           record["mean_abs_error"], record["vanished"])]
    lines = [f"g_θ control of {factor}: mean std {record['mean_std']:.3g}, max std {max(record['std']):.3g}, "
             f"mean |error| {record['overall_mean_abs_error']:.3g}, gain {record['gain']:.3g} (n = {n} per value)"]
    return Report("control.json", record, {"control.png": lambda path: plot_control(scores, path)},
                  (["requested", "mean", "std", "mean_abs_error", "vanished"], rows), lines,
                  {"control/plot": "control.png"}, {"mean_std": record["mean_std"], "gain": record["gain"]},
                  job_type="control")


def plot_control(scores: ControlScores, path: Path) -> Path:
    """Measured mean ± std against the requested value, with the identity."""
    fig, ax = plt.subplots(figsize=(5, 4.2))
    requested = scores.requested.tolist()
    ax.errorbar(requested, scores.mean.tolist(), yerr=scores.std.tolist(), fmt="o-", capsize=3, label="g_θ: mean ± std")
    ax.plot(requested, requested, "k:", lw=1, label="requested")
    ax.set_xlabel(f"requested {scores.factor}")
    ax.set_ylabel(f"measured {scores.factor}")
    ax.set_title(f"g_θ control: mean std {scores.std.nanmean():.3g}, gain {scores.gain:.3g}", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
