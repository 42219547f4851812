"""`steer evaluate disentanglement` on a β-VAE's encoder and on direction files, and what it refuses."""

from __future__ import annotations

import json

import pytest
import torch

from steer.discovery import Directions, save_directions
from steer.evaluation.disentanglement import SCORES, direction_codes, varied_factors
from steer.restore import load_module, training_factors
from tests.support.scripts import run_script
from tests.support.steer_run import steer_fails, steer_run
from tests.test_direction_scores import SpriteAxes

AXES = {"class_path": "tests.test_direction_scores.SpriteAxes"}
VAE = "checkpoints/sprites/vae_beta4.ckpt"


def test_the_varied_factors_of_the_beta_vae_data_are_shape_position_and_scale():
    module, record = load_module(VAE)
    assert varied_factors(training_factors(record, module.generator)) == ["shape", "x", "y", "scale"]


def test_direction_codes_are_latent_coordinates_and_measured_attributes():
    codes, values, dropped = direction_codes(SpriteAxes(), torch.eye(3)[:2], ["x", "y"], n=50, seed=0)
    assert codes.shape == (50 - dropped, 2) and values.shape == (50 - dropped, 2)
    torch.testing.assert_close(values[:, 0], 8 + 1.5 * codes[:, 0], atol=0.25, rtol=0)  # x = 8 + 1.5 z0, measured


def test_the_latent_axes_of_a_generator_whose_axes_are_its_factors_score_high_and_a_rotation_lower(tmp_path):
    scores = {}
    for name, rows in {"axes": torch.eye(3)[:2], "rotated": torch.tensor([[1.0, 1.0, 0], [1.0, -1.0, 0]]) / 2**0.5}.items():
        save_directions(tmp_path / f"{name}.pt", Directions(rows, torch.ones(2), "hand", AXES))
        steer_run("evaluate", "disentanglement", directions=str(tmp_path / f"{name}.pt"), generator=AXES,
                  factors=["x", "y"], n=400, out=str(tmp_path / name), wandb=False)
        scores[name] = json.loads((tmp_path / name / "metrics.json").read_text())
        assert (tmp_path / name / "metrics.png").stat().st_size > 0
    assert scores["axes"]["mig"] > 0.6 and scores["axes"]["dci_disentanglement"] > 0.9, scores["axes"]
    assert scores["rotated"]["mig"] < 0.3 and scores["rotated"]["dci_disentanglement"] < 0.6, scores["rotated"]
    assert scores["axes"]["factors"] == ["x", "y"] and scores["axes"]["code_dim"] == 2
    assert min(scores["axes"]["mig_per_factor"].values()) > 0.5 > max(scores["rotated"]["mig_per_factor"].values())


def test_without_a_checkpoint_or_directions_the_command_asks_for_one(tmp_path, capsys):
    line = steer_fails(capsys, "evaluate", "disentanglement", out=str(tmp_path / "report"), wandb=False)
    assert "--checkpoint" in line and "--directions" in line
    assert not (tmp_path / "report").exists()


def test_a_checkpoint_that_is_not_a_beta_vae_is_refused_with_what_it_holds(tmp_path, capsys):
    line = steer_fails(capsys, "evaluate", "disentanglement", checkpoint="checkpoints/sprites/gan_white.ckpt",
                       out=str(tmp_path / "report"), wandb=False)
    assert "GANModule, not a BetaVAE" in line and "--directions" in line
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_the_command_scores_a_shipped_beta_vae_encoder(tmp_path):
    from tests.support.scripts import ROOT

    done = run_script("evaluate.py", "disentanglement", "--checkpoint", str(ROOT / VAE), "--n", "600",
                      "--out", "report", "--wandb", "false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert record["factors"] == ["shape", "x", "y", "scale"] and record["code_dim"] == 10 and record["n"] == 600
    assert all(-0.5 <= record[k] <= 1 for k in SCORES), record
    assert record["dci_informativeness"] > 0.5  # the encoder knows the factors, however it spreads them
    assert (tmp_path / "report" / "metrics.png").exists() and "dci_disentanglement" in done.stdout
