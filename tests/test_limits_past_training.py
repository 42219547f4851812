"""Limits past training: default grids reach beyond the training range, reports mark it and give both criteria."""

import json

import pytest
import torch

from steer.edits import Brightness, Color, ColorLab, Rotate2D, Rotate3D, ShiftX, ShiftY, Zoom
from steer.evaluation.attribute_steering import measure_attributes
from steer.evaluation.report import steerability_report
from steer.evaluation.steerability import measure
from tests.support.known_direction import ZoomingGenerator
from tests.support.sprite_generators import ShiftingSprite
from tests.support.steer_run import steer_fails, steer_run
from tests.test_attribute_steering import data, exact_walk
from tests.test_evaluate import PartialWalk, direction_walk

# The reach of each default grid past the training range, at least as far as the steerability paper's code tests.
REACH = [(Zoom(), 4.0), (ShiftX(8), 1.5), (ShiftY(8), 1.5), (Rotate2D(), 2.0), (Rotate3D(), 1.5), (Color(), 2.0),
         (Brightness(), 2.0), (ColorLab(), 2.0)]


@pytest.mark.parametrize("edit, factor", REACH, ids=lambda e: getattr(e, "name", ""))
def test_every_default_grid_reaches_past_the_training_range_by_the_papers_factor(edit, factor):
    grid, (lo, hi) = edit.test_alphas(), edit.training_range()
    if edit.multiplicative:  # zoom: trained 1/4 … 4, tested 1/16 … 16
        assert torch.allclose(grid.min(0).values, lo / factor) and torch.allclose(grid.max(0).values, hi * factor)
    else:
        assert torch.allclose(grid.min(0).values, lo * factor) and torch.allclose(grid.max(0).values, hi * factor)
    inside = edit.in_training_range(grid)
    assert inside.any() and (~inside).sum() >= 4 * edit.sliders  # two α beyond each end, per slider
    assert bool(edit.in_training_range(edit.sample_alpha(500, torch.Generator().manual_seed(0))).all())
    assert bool((grid[1:] >= grid[:-1]).all()) or edit.sliders > 1  # one slider: sorted


def test_the_training_range_stays_densely_sampled_inside_the_longer_grid():
    assert Zoom().test_alphas()[2:11, 0].log2().tolist() == pytest.approx(torch.linspace(-2, 2, 9).tolist())
    assert ShiftX(8).test_alphas()[2:11, 0].tolist() == torch.linspace(-8, 8, 9).tolist()
    assert Rotate2D().test_alphas()[2:9, 0].tolist() == torch.linspace(-45, 45, 7).tolist()


def test_a_report_on_a_tiny_generator_lists_both_criteria_and_the_alpha_beyond_training():
    edit = Zoom()
    result = measure(ZoomingGenerator(), edit, PartialWalk(9), n=8, batch_size=8, progress=False)
    report = steerability_report(result)
    metrics = report.record
    assert metrics["training_range"] == [0.25, 4.0]
    assert metrics["in_training_range"] == [False, False] + [True] * 9 + [False, False]
    assert metrics["limits"]["registration"]["limit"] == metrics["limit"]
    percent = metrics["limits"]["registration"]["achieved_percent"]
    assert percent[6] is None and all(p == pytest.approx(60, abs=5) for p in percent[:6] + percent[7:])  # 0.6 × α
    assert metrics["limits"]["attribute"] is None  # not sprites
    text = "\n".join(report.lines)
    assert "α beyond it: ×0.06, ×0.12, ×8.00, ×16.00" in text
    assert "registration (α' minimising L2 to edit(G(z), α')): −: none, +: none" in text  # 60 % < 80 %
    assert "attribute (area of G(walk(z, α)) vs α = 0): not measured" in text
    columns, rows = report.table
    assert [row[columns.index("in_training_range")] for row in rows] == [0, 0] + [1] * 9 + [0, 0]


def test_on_sprites_the_attribute_criterion_and_its_histogram_intersection_stand_beside_registration():
    edit = ShiftX(8)
    generator, walk = ShiftingSprite(13, 19), exact_walk(8)  # the square cannot leave x = 16 ± 3
    result = measure(generator, edit, walk, n=8, batch_size=8, progress=False)
    attributes = measure_attributes(generator, edit, walk, data(), n=8, batch_size=8, progress=False)
    limits = steerability_report(result, attributes).record["limits"]
    attribute = limits["attribute"]
    assert attribute["limit"] == {"negative": -2.0, "positive": 2.0} and attribute["attributes"] == ["x"]
    assert attribute["achieved_percent"][-1] == pytest.approx(100 * 3 / 12, abs=2)  # 3 px of the 12 asked
    hi = attribute["hist_intersection"]["x"]
    assert len(hi) == 13 and hi[6] > 0.9 and hi[-1] < 0.2  # the walked x stops matching the shifted data
    assert set(limits["registration"]["limit"]) == {"negative", "positive"}
    lines = "\n".join(steerability_report(result, attributes).lines)
    assert "attribute (x of G(walk(z, α)) vs α = 0): −: -2, +: 2" in lines
    assert "+12px *" in lines  # the attribute table marks α beyond training


def test_alphas_sets_any_grid_and_the_identity_is_added(tmp_path):
    walk = direction_walk(tmp_path, 5, axis=4)
    generator = {"class_path": "tests.support.known_direction.ZoomingGenerator", "init_args": {"latent_dim": 5}}
    steer_run("evaluate", "steerability", out=str(tmp_path / "r"), generator=generator, walk=walk,
              edit={"class_path": "steer.edits.Zoom"}, alphas=[0.0625, 0.5, 2, 16], n=4, batch_size=4, wandb=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["alphas"] == [0.0625, 0.5, 1.0, 2.0, 16.0]
    assert metrics["in_training_range"] == [False, True, True, True, False]
    assert metrics["provenance"]["config"]["alphas"] == [0.0625, 0.5, 2.0, 16.0]


def test_alphas_on_a_colour_edit_moves_each_slider_alone():
    from steer.evaluation.steerability import alpha_grid

    grid = alpha_grid(Color(), [-1.0, 1.0])
    assert grid.tolist() == [[0, 0, 0], [-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]]


@pytest.mark.parametrize("alphas, message", [
    ([], "--alphas is empty"),
    ("[0.5, .nan]", "--alphas holds a NaN or infinite value"),  # YAML's NaN (JSON's NaN: refused by the parser)
    ([0.5, float("nan")], 'Parser key "alphas"'),
    ([2.0, 0.5], "--alphas must be strictly increasing"),
    ([-1.0, 2.0], "Zoom factors must be > 0"),
])
def test_a_bad_alphas_is_one_line_and_exit_code_2(tmp_path, capsys, alphas, message):
    walk = direction_walk(tmp_path, 5, axis=4)
    generator = {"class_path": "tests.support.known_direction.ZoomingGenerator", "init_args": {"latent_dim": 5}}
    line = steer_fails(capsys, "evaluate", "steerability", out=str(tmp_path / "r"), generator=generator, walk=walk,
                       edit={"class_path": "steer.edits.Zoom"}, alphas=alphas, n=4, wandb=False)
    assert message in line
    assert not (tmp_path / "r").exists()


def test_registration_past_training_is_not_fooled_by_background_a_far_shift_exposes():
    # an α' far from α moves G(z)'s square out of the pixels it defines, where the walked image is background too:
    # an error near 0 that the true, sub-pixel match cannot beat (the walk moves x by 0.77 α; grid ±15 px on 32 px)
    edit, walk = ShiftX(10), exact_walk(10)
    walk.w.data *= 0.77
    result = measure(ShiftingSprite(), edit, walk, n=8, batch_size=8, progress=False)
    assert torch.allclose(result.achieved, 0.77 * result.alphas, atol=0.5)
