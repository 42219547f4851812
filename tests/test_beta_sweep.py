"""bench/beta_sweep.py: its correlation with a bootstrap interval, and the --tiny sweep end to end."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.support.scripts import ROOT, run_script

sys.path.insert(0, str(ROOT / "bench"))  # the benchmarks import each other as scripts do
from beta_sweep import correlation, parse  # noqa: E402


def test_a_linear_relation_has_r_one_and_an_interval_at_one():
    c = correlation([0.1, 0.2, 0.3, 0.4, 0.5], [3.0, 2.5, 2.0, 1.5, 1.0], resamples=500, seed=0)
    assert c["r"] == pytest.approx(-1) and c["ci95"] == pytest.approx([-1, -1])


def test_the_interval_of_unrelated_runs_holds_zero_and_the_sample_r():
    g = np.random.default_rng(0)
    x, y = g.normal(size=15).tolist(), g.normal(size=15).tolist()
    c = correlation(x, y, resamples=2000, seed=0)
    assert c["ci95"][0] < 0 < c["ci95"][1] and c["ci95"][0] <= c["r"] <= c["ci95"][1]
    assert c["defined_resamples"] == 2000 and c["runs"] == 15


def test_tiny_mode_shrinks_every_size():
    tiny, full = parse(["--tiny"]), parse([])
    for key in ("n", "traj_n", "traj_steps", "traj_seeds", "fit_epochs", "control_n", "resamples"):
        assert getattr(tiny, key) < getattr(full, key), key
    assert full.betas == [1, 2, 4, 8, 16] and full.seeds == [0, 1, 2]


@pytest.mark.slow
def test_the_tiny_sweep_trains_scores_and_correlates(tmp_path):
    done = run_script("bench/beta_sweep.py", "--tiny", "--betas", "1", "8", "--seeds", "0", "--runs", "runs",
                      "--out", "out", "--threads", "1", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "beta_sweep.json").read_text())
    assert set(report["runs"]) == {"beta1_seed0", "beta8_seed0"}
    run = report["runs"]["beta8_seed0"]
    assert run["beta"] == 8 and run["train_seconds"] > 0 and run["control_mean_std"] >= 0
    assert set(run["scores"]) >= {"mig", "dci_disentanglement", "dci_completeness", "factorvae", "sap"}
    assert abs(report["correlation"]["mig"]["r"]) == pytest.approx(1)  # two runs lie on a line
    assert (tmp_path / "out" / "beta_sweep.png").stat().st_size > 0

    again = run_script("bench/beta_sweep.py", "--tiny", "--betas", "1", "8", "--seeds", "0", "--runs", "runs",
                       "--out", "out2", "--threads", "1", cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    gathered = json.loads((tmp_path / "out2" / "beta_sweep.json").read_text())
    assert gathered["runs"] == report["runs"]  # each run's measured row is reused, not measured anew
    other = run_script("bench/beta_sweep.py", "--tiny", "--seed", "1", "--betas", "1", "--seeds", "0", "--runs", "runs",
                       "--out", "out3", "--threads", "1", cwd=tmp_path, timeout=300)
    assert other.returncode != 0 and "measured with other settings" in other.stderr
