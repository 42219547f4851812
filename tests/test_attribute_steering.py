"""Steerability measured on sprite attributes: achieved shift from the mean x, limits, and the comparison."""

import json

import pytest
import torch

from steer.edits import ShiftX
from steer.errors import SteerError
from steer.evaluation.attribute_steering import WalkedAttributes, attribute_steering, measure_attributes
from steer.evaluation.compare import compare, parse_reports
from steer.evaluation.steerability import measure
from steer.sprites import Fixed, SpriteFactors
from steer.walks import LinearWalk
from tests.support.sprite_generators import ShiftingSprite


def exact_walk(max_shift: int) -> LinearWalk:
    walk = LinearWalk(2)
    walk.w.data = torch.tensor([[max_shift / 2, 0.0]])  # x moves by exactly α px
    return walk


def data() -> SpriteFactors:
    return SpriteFactors(32, shapes={"square": 1}, x=Fixed(16), y=Fixed(16), scale=Fixed(0.25), rotation=Fixed(0),
                         red=Fixed(1), green=Fixed(1), blue=Fixed(1))


def test_a_walk_that_moves_x_exactly_achieves_every_requested_shift():
    edit = ShiftX(8)
    result = measure_attributes(ShiftingSprite(), edit, exact_walk(8), data(), n=16, batch_size=8, progress=False)
    assert torch.allclose(result.achieved, result.alphas, atol=0.05)
    assert result.limits() == {"negative": -8.0, "positive": 8.0}
    x = result.names.index("x")
    assert torch.allclose(result.model_mean[:, x], result.data_mean[:, x], atol=0.1)
    assert (result.intersection[:, x] > 0.9).all()


def test_the_limit_is_where_the_measured_x_stops_following():
    # the generator cannot put the square beyond x = 16 ± 3: shifts of 4 px and more fall short
    result = measure_attributes(ShiftingSprite(13, 19), ShiftX(8), exact_walk(8), data(), n=8, batch_size=8,
                                progress=False)
    assert result.limits() == {"negative": -2.0, "positive": 2.0}
    assert torch.allclose(result.achieved[-1], torch.tensor([3.0]), atol=0.05)


def test_data_of_another_size_is_refused():
    with pytest.raises(SteerError, match="32 px"):
        measure_attributes(ShiftingSprite(), ShiftX(8), exact_walk(8), SpriteFactors(64), n=4, progress=False)


def test_comparison_reads_reports_of_one_edit_and_refuses_bad_items(tmp_path):
    for label, scale in (("a", 1.0), ("c", 0.5)):
        (tmp_path / label).mkdir()
        (tmp_path / label / "metrics.json").write_text(json.dumps({
            "edit": "ShiftX(max_shift=8)", "alphas": [-8, 0, 8], "walk_error": [0.1 * scale, 0, 0.1 * scale],
            "baseline_error": [0.2, 0, 0.2], "achieved_alpha": [-4, 0, 4], "limit": {"negative": None, "positive": None},
            "attributes": {"achieved_alpha": [-2 / scale, 0, 2 / scale], "limit": {"negative": -8, "positive": 8},
                           "attributes": {"x": {"model_mean": [14, 16, 18]}}}}))
    result = compare(parse_reports([f"a={tmp_path / 'a'}", f"c={tmp_path / 'c'}"]))
    assert result["models"]["c"]["masked_l2"] == [0.05, 0, 0.05] and result["models"]["a"]["mean_x"] == [14, 16, 18]
    assert result["models"]["a"]["limit_from"] == "attribute"
    with pytest.raises(SteerError, match="LABEL=FOLDER"):
        parse_reports(["a"])
    with pytest.raises(SteerError, match="no metrics.json"):
        parse_reports([f"b={tmp_path}"])


def test_steerability_and_attributes_together_run_each_walked_image_once_and_measure_what_the_attribute_pass_does():
    edit, generator, calls = ShiftX(8), ShiftingSprite(), []
    generator.register_forward_hook(lambda *_: calls.append(1))
    walked = WalkedAttributes()
    result = measure(generator, edit, exact_walk(8), n=16, batch_size=8, observe=walked, progress=False)
    together = attribute_steering(walked, edit, data(), result.alphas, n=16, batch_size=8)
    alone = measure_attributes(ShiftingSprite(), edit, exact_walk(8), data(), n=16, batch_size=8, progress=False)
    assert len(calls) == 2 * (1 + len(result.alphas))  # per batch: G(z) once, G(walk(z, α)) once per α
    for name in ("model_mean", "model_std", "data_mean", "data_std", "intersection", "achieved"):
        assert torch.equal(getattr(together, name), getattr(alone, name)), name
