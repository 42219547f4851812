"""Scoring directions on known factors: a hand-made generator whose latent axes move a sprite's x, y and size."""

import json

import pytest
import torch

from steer.discovery import Directions, save_directions
from steer.errors import SteerError
from steer.evaluation.direction_scores import score_control, score_directions, within_fit
from steer.generators import Generator
from steer.modules.factor_regressor import FactorRegressor
from steer.seeding import rng
from steer.sprites import render
from tests.support.scripts import run_script
from tests.support.steer_run import steer_run


class SpriteAxes(Generator):
    """16 px white square: x = 8 + 1.5 z0, y = 8 + 1.5 z1 (px), scale = 0.3 + 0.05 z2; gone where z2 ≥ 1.5."""

    def __init__(self) -> None:
        super().__init__(latent_dim=3, resolution=16)

    def synthesize(self, z, y):
        n = len(z)
        colour = (z[:, 2:] < 1.5).float().expand(n, 3)  # black on black: the object vanishes
        return render(torch.zeros(n, dtype=torch.long), 8 + 1.5 * z[:, 0], 8 + 1.5 * z[:, 1],
                      0.3 + 0.05 * z[:, 2], torch.zeros(n), colour, 16)


def test_each_axis_is_found_to_control_its_own_factor_with_low_leakage():
    gen = SpriteAxes()
    scores = score_directions(gen, torch.eye(3), steps=torch.linspace(-1, 1, 9), n=60, seed=0)
    assert scores.controlled == ["x", "y", "area"]
    assert (scores.r2.diagonal()[:2] > 0.99).all(), scores.r2
    assert scores.r2[2, 2] > 0.9, scores.r2  # area ∝ scale² is not linear in z2, so R² < 1
    assert (scores.leakage[:2] < 0.05).all() and (scores.crosstalk[:2] < 0.05).all(), scores.to_json()
    assert abs(scores.slope[0, 0].item() - 1.5) < 0.05 and abs(scores.slope[1, 1].item() - 1.5) < 0.05
    json.dumps(scores.to_json())  # plain numbers only


def test_vanished_images_are_counted_and_latents_without_an_object_are_dropped():
    gen = SpriteAxes()
    steps = torch.linspace(-1, 1, 9)
    scores = score_directions(gen, torch.eye(3), steps=steps, n=60, seed=0)
    z = gen.sample_latent(60, rng(0, "direction_scores", "latents"))  # the latents score_directions draws
    gone = int((z[:, 2] >= 1.5).sum())
    assert gone > 0  # the seed draws some latents whose sprite is invisible everywhere along x and y
    assert scores.dropped[:2].tolist() == [gone, gone]
    assert scores.vanished[:2].tolist() == [gone * len(steps)] * 2
    moved = z[:, 2:] + steps  # along z2 the sprite disappears part-way
    assert scores.vanished[2].item() == int((moved >= 1.5).sum())
    assert scores.dropped[2].item() == int(((moved < 1.5).sum(1) < 2).sum())
    assert torch.isfinite(scores.r2).all()


def test_within_fit_removes_each_latents_offset_and_skips_missing_values():
    t = torch.linspace(-2, 2, 5)
    values = (3 * t + torch.tensor([[0.0], [10.0], [-4.0]]))[..., None]  # (3 latents, 5 steps, 1 factor)
    values[1, 2] = torch.nan
    values[2, 1:] = torch.nan  # one valid step: no within-latent information
    slope, r2, used = within_fit(t, values)
    assert torch.allclose(slope, torch.tensor([3.0])) and torch.allclose(r2, torch.tensor([1.0]))
    assert used.tolist() == [True, True, False]


def test_control_score_of_an_exact_regressor_hits_the_requested_x():
    gen = SpriteAxes()
    regressor = FactorRegressor(latent_dim=3, knots=11)
    with torch.no_grad():
        regressor.v.copy_(torch.tensor([1.0, 0.0, 0.0]))
        regressor.log_slopes.fill_(torch.tensor(1.5).log())  # g(s) = 1.5 s: x = 8 + g(z0)
    requested = torch.tensor([6.0, 8.0, 10.0])
    control = score_control(regressor, gen, "x", requested, n=40, seed=0)
    assert abs(control.offset - 8) < 0.1
    visible = 40 - control.vanished
    assert (visible > 30).all()
    assert (control.mean - requested).abs().max() < 0.15 and control.std.max() < 0.15, control.to_json()
    assert abs(control.gain - 1) < 0.05
    json.dumps(control.to_json())


@pytest.mark.slow
def test_score_command_reports_the_controlled_factor_of_each_direction_in_a_file(tmp_path):
    spec = {"class_path": "tests.test_direction_scores.SpriteAxes"}
    save_directions(tmp_path / "directions.pt", Directions(torch.eye(3)[:2], torch.ones(2), "hand", spec))
    result = run_script("evaluate.py", "score", "--directions", "directions.pt", "--n", "30", "--max_step", "1",
                        "--out", "report", cwd=tmp_path,  # the generator is the one the file records,
                        STEER_TRUST="tests.test_direction_scores")  # of a module the user trusts
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert [d["controlled"] for d in summary["directions"]] == ["x", "y"]
    assert summary["directions"][0]["r2"]["x"] > 0.99 and summary["method"] == "hand"
    assert (tmp_path / "report" / "scores.png").stat().st_size > 1000
    assert list((tmp_path / "runs" / "wandb").glob("offline-run-*/files/media/images/score/grid_*.png"))
    with pytest.raises(SteerError, match="--overwrite"):  # an existing report is never replaced silently
        steer_run("evaluate", "score", directions=str(tmp_path / "directions.pt"), out=str(tmp_path / "report"), generator=spec)
