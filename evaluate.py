"""Evaluate what steer trained: python evaluate.py steerability --checkpoint CKPT --out DIR"""

from pathlib import Path
from typing import Optional

from jsonargparse import CLI

from steer.cli import ConciseParser, user_errors


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


def steerability(
    checkpoint: str,
    out: str,
    n: int = 500,
    batch_size: int = 50,
    seed: int = 0,
    fraction: float = 0.8,
    overwrite: bool = False,
    generator: Optional[dict] = None,
    wandb: bool = True,
    device: str = "cpu",
) -> None:
    """How far a trained walk steers, over n latents and the edit's test α grid.

    Writes metrics.json, curves.png, walk_grid.png and walk.gif to OUT and logs
    them to W&B (offline without credentials).

    Args:
        checkpoint: a .ckpt written by train.py (e.g. runs/demo/last.ckpt).
        out: report folder; refused if it already holds a report, unless --overwrite.
        n: number of latents.
        batch_size: latents per generator pass.
        seed: seed of the latents.
        fraction: the walk "follows" at α while the achieved α is within (1 - fraction) of α.
        overwrite: replace an existing report in OUT.
        generator: the generator to steer (class_path + init_args); default: the one in the checkpoint.
        wandb: log the report to W&B.
        device: torch device to evaluate on (cpu, cuda, cuda:1, ...).
    """
    from steer.evaluation.report import check_report_dir, limit_label, log_report, write_report
    from steer.evaluation.steerability import check_options, measure
    from steer.restore import load_module

    check_options(n, batch_size, fraction)
    torch_device = resolve_device(device)
    out_dir = Path(out)
    check_report_dir(out_dir, overwrite)
    module, record = load_module(Path(checkpoint), generator)
    module.to(torch_device)
    result = measure(module.generator, module.edit, module.walk, n=n, batch_size=batch_size, seed=seed,
                     fraction=fraction)
    metrics = write_report(result, out_dir, record, overwrite)
    describe = result.edit.describe
    print(f"{'α':>14}  {'walk':>7}  {'no walk':>7}  achieved α")
    for a, w, b, c in zip(result.alphas, result.walk_error, result.baseline_error, result.achieved):
        print(f"{describe(a):>14}  {w:7.4f}  {b:7.4f}  {describe(c)}")
    print(f"limit (the walk follows within {1 - fraction:.0%}): {limit_label(metrics['limit'])}")
    if wandb:
        print(f"W&B run: {log_report(out_dir, metrics)}")
    print(f"report: {out_dir}")


def main() -> None:
    with user_errors():
        CLI({"steerability": steerability}, as_positional=False, parser_class=ConciseParser,
            description=__doc__)


if __name__ == "__main__":
    main()
