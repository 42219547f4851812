"""Evaluate what steer trained: python evaluate.py steerability --checkpoint CKPT --out DIR"""

from pathlib import Path
from typing import Optional

from jsonargparse import CLI

from steer.cli import user_errors


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
    from steer.evaluation.report import check_out_dir, log_report, write_report
    from steer.evaluation.steerability import measure
    from steer.restore import load_module

    out_dir = Path(out)
    check_out_dir(out_dir, overwrite)
    module, record = load_module(Path(checkpoint), generator)
    module.to(device)
    result = measure(module.generator, module.edit, module.walk, n=n, batch_size=batch_size, seed=seed,
                     fraction=fraction)
    metrics = write_report(result, out_dir, record, overwrite)
    for a, w, b, c in zip(metrics["alphas"], metrics["walk_error"], metrics["baseline_error"], metrics["achieved_alpha"]):
        print(f"  α={a}  walk {w:.4f}  no walk {b:.4f}  achieved {c}")
    print(f"limit (fraction {fraction}): {metrics['limit']}")
    if wandb:
        print(f"W&B run: {log_report(out_dir, metrics)}")
    print(f"report: {out_dir}")


def main() -> None:
    with user_errors():
        CLI({"steerability": steerability}, as_positional=False)


if __name__ == "__main__":
    main()
