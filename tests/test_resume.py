"""Exact resume: a run killed with SIGKILL and resumed from last.ckpt ends bitwise where an uninterrupted run ends."""

import signal
import time
from pathlib import Path

import pytest
import torch

from tests.support.scripts import run_script, start_script

STEPS, KILLED_AFTER = 6, 3


def fit_args(config: Path, dirpath: str) -> list[str]:
    return ["fit", "--config", str(config), "--trainer.logger", "false", "--trainer.max_steps", str(STEPS),
            "--checkpoint.dirpath", dirpath, "--checkpoint.every_n_train_steps", "1"]


def saved_step(path: Path) -> int | None:
    """The global step of the checkpoint at ``path`` (complete whenever it exists: it is written by rename)."""
    return torch.load(path, weights_only=True)["global_step"] if path.exists() else None


@pytest.mark.slow
def test_a_run_killed_mid_training_and_resumed_from_last_ends_bitwise_equal_to_an_uninterrupted_run(
        tiny_config, tmp_path):
    whole = run_script("train.py", *fit_args(tiny_config, "whole"), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # the killed run holds inside step KILLED_AFTER + 1 (after backward, before the optimizer step)
    log = tmp_path / "killed.log"
    run = start_script("train.py", *fit_args(tiny_config, "killed"),
                       "--trainer.callbacks+=tests.support.probes.StallAt", f"--trainer.callbacks.step={KILLED_AFTER}",
                       cwd=tmp_path, log=log)
    last = tmp_path / "killed" / "last.ckpt"
    try:
        deadline = time.monotonic() + 300
        while saved_step(last) != KILLED_AFTER:
            assert run.poll() is None, f"the run ended before it was killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint of the step to resume from appeared"
            time.sleep(0.2)
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=60) == -signal.SIGKILL
    finally:
        run.kill()

    resumed = run_script("train.py", *fit_args(tiny_config, "killed"), "--ckpt_path", "last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (torch.load(tmp_path / d / "last.ckpt", weights_only=True) for d in ("whole", "killed"))
    assert a["global_step"] == b["global_step"] == STEPS
    assert a["LatentDataModule"] == b["LatentDataModule"] == {"position": STEPS}
    assert torch.equal(a["state_dict"]["walk.w"], b["state_dict"]["walk.w"])
    adam_a, adam_b = a["optimizer_states"][0]["state"][0], b["optimizer_states"][0]["state"][0]
    assert all(torch.equal(adam_a[k], adam_b[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
