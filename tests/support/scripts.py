"""Run train.py / evaluate.py as a user would: a subprocess with the repository importable and one thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def script_env(**extra: str) -> dict[str, str]:
    """The environment of a script run: the repository (and so ``tests.support``) importable, one thread."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", **extra)
    env.pop("WANDB_SERVICE", None)  # set by an in-process wandb.init; a user's command starts its own service
    return env


def run_script(script: str, *args: str, cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """Run train.py / evaluate.py as a user would, in ``cwd``, with the repository importable (and ``env`` set)."""
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=script_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def start_script(script: str, *args: str, cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    """Start a script like :func:`run_script` without waiting; its stdout and stderr go to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=cwd, env=script_env(**env),
                                stdout=out, stderr=subprocess.STDOUT)
