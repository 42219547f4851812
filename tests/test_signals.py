"""SIGTERM (what schedulers send) and SIGINT (Ctrl+C) during `steer fit`: a resumable last.ckpt and exit 128 + signal."""

from __future__ import annotations

import signal
import time

import pytest
import torch

from tests.support.scripts import ROOT, run_script, start_script

TINY = "tests/configs/tiny_walk.yaml"


def fit_args(steps: int) -> list[str]:
    return ["fit", "--config", str(ROOT / TINY), "--trainer.logger", "false", "--checkpoint.dirpath", "run",
            "--trainer.max_steps", str(steps)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_resumable_checkpoint_and_exits_128_plus_its_number(signum, tmp_path):
    log = tmp_path / "fit.log"
    run = start_script("train.py", *fit_args(100_000), cwd=tmp_path, log=log)
    last = tmp_path / "run" / "last.ckpt"
    try:
        deadline = time.monotonic() + 300
        while not last.exists():  # training has started: the first validation saved last.ckpt
            assert run.poll() is None, f"the run ended before the signal:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "training did not start within 300 s"
            time.sleep(0.2)
        first = torch.load(last, weights_only=True)["global_step"]
        run.send_signal(signum)
        assert run.wait(timeout=120) == 128 + signum, log.read_text()[-3000:]
    finally:
        run.kill()
    output = log.read_text()
    saved = torch.load(last, weights_only=True)["global_step"]
    assert saved >= first
    assert f"stopped by {signum.name} at step {saved}: saved {last}; resume with --ckpt_path last." in output
    assert "Traceback" not in output

    resumed = run_script("train.py", *fit_args(saved + 2), "--ckpt_path", "last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {last}" in resumed.stderr + resumed.stdout
    assert torch.load(last, weights_only=True)["global_step"] == saved + 2
