"""g_θ's control on the shipped sprites GAN, as the distribution over the runs of its config.

    python bench/g_theta_config_runs.py [--run z4w32s0] [--study docs/results/g_theta_study.json]

Reads the study that bench/g_theta_study.py wrote (no model is run), takes
the runs trained with the config of ``--run`` (default z4w32s0, the shipped
gan_white_z4: same generator, latent size, width, walk and training steps;
any seed and machine) and prints each run's g_θ mean std of x (itself the
mean over g_θ's three seeds), their mean with its 95 % Student-t interval
(``steer.evaluation.intervals.mean_ci``) and where ``--run`` ranks among
them. See docs/DISCOVERY.md, "What sets the std".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from steer.evaluation.intervals import mean_ci

CONFIG = ("generator", "latent_dim", "width", "walk", "max_steps")


def config_runs(models: dict, run: str) -> dict[str, float]:
    """{name: g_θ mean std} for every run of ``run``'s config, ``run`` included."""
    key = [models[run][k] for k in CONFIG]
    return {name: m["control"]["mean_std"] for name, m in models.items() if [m[k] for k in CONFIG] == key}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="z4w32s0", help="the run whose config to gather (default: gan_white_z4's)")
    p.add_argument("--study", type=Path, default=Path("docs/results/g_theta_study.json"))
    args = p.parse_args()
    models = json.loads(args.study.read_text())["models"]
    run, runs = args.run, config_runs(models, args.run)
    for name, value in sorted(runs.items(), key=lambda kv: kv[1]):
        mark = '  <- --run' if name == run else ''
        print(f"{name:<14} {value:.2f} px  ({models[name]['trained_on']}){mark}")
    ci = mean_ci(list(runs.values()))
    rank = sorted(runs.values()).index(runs[run]) + 1
    print(f"{len(runs)} runs: mean {ci['mean']:.2f} px, 95 % interval {ci['low']:.2f}–{ci['high']:.2f} px "
          f"(std {ci['std']:.2f}); range {min(runs.values()):.2f}–{max(runs.values()):.2f} px; "
          f"{run} ranks {rank} of {len(runs)} (1 = lowest std)")


if __name__ == "__main__":
    main()
