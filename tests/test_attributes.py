"""Attribute measurement from foreground moments, checked against the sprites' true factors."""

import pytest
import torch

from steer.errors import SteerError
from steer.sprites import SHAPES, render
from steer.sprites.attributes import angle_difference, measure, validate


def scalar(value: float) -> torch.Tensor:
    return torch.tensor([float(value)])


def sprite(shape: str, rotation: float = 0.0, colour=(1.0, 1.0, 1.0), x: float = 20.3, y: float = 17.6) -> torch.Tensor:
    index = torch.tensor([SHAPES.index(shape)])
    return render(index, scalar(x), scalar(y), scalar(0.5), scalar(rotation), torch.tensor([colour]), 40)


@pytest.fixture(scope="module")
def figures64() -> dict:
    return validate(n=48, size=64, seed=1)


@pytest.fixture(scope="module")
def figures32() -> dict:
    return validate(n=48, size=32, seed=1)


def test_measured_position_matches_true_factor_within_one_pixel(figures64, figures32):
    assert figures64["position_px_max"] <= 1.0 and figures32["position_px_max"] <= 1.0
    assert figures64["position_px_mean"] < 0.1  # in practice a few hundredths of a pixel


def test_measured_area_matches_true_area_within_five_percent(figures64, figures32):
    assert figures64["area_rel_max"] <= 0.05 and figures32["area_rel_max"] <= 0.05


def test_ellipse_orientation_matches_its_rotation_modulo_180(figures64, figures32):
    assert figures64["orientation_deg_max"] < 2.0 and figures32["orientation_deg_max"] < 5.0


def test_mean_colour_matches_the_sprite_colour(figures64):
    assert figures64["colour_max"] < 1e-3


def test_measurements_survive_slight_background_noise():
    noisy = validate(n=48, size=64, seed=2, noise=0.02)
    assert noisy["position_px_max"] <= 1.0 and noisy["area_rel_max"] <= 0.05
    assert noisy["orientation_deg_max"] < 5.0 and noisy["colour_max"] < 0.05


@pytest.mark.parametrize("rotation, expected", [(0.0, 0.0), (30.0, 30.0), (120.0, -60.0), (200.0, 20.0)])
def test_orientation_is_counter_clockwise_from_the_x_axis_modulo_180(rotation, expected):
    measured = measure(sprite("ellipse", rotation))["orientation"]
    assert angle_difference(measured, torch.tensor(expected)).abs().item() < 0.5


def test_elongation_tells_whether_orientation_means_anything():
    square = measure(sprite("square", 10.0))["elongation"].item()
    ellipse = measure(sprite("ellipse", 10.0))["elongation"].item()
    assert square < 0.01 and ellipse == pytest.approx(1 - 0.5**2, abs=0.02)  # λ ratio = aspect²


def test_colour_is_measured_per_channel():
    measured = measure(sprite("heart", colour=(0.9, 0.2, 0.6)))["colour"][0]
    assert torch.allclose(measured, torch.tensor([0.9, 0.2, 0.6]), atol=1e-4)


def test_a_dim_sprite_is_measured_like_a_bright_one():
    bright, dim = measure(sprite("ellipse", 40.0)), measure(sprite("ellipse", 40.0, colour=(0.3, 0.3, 0.3)))
    for key in ("x", "y", "area", "orientation"):
        assert dim[key].item() == pytest.approx(bright[key].item(), rel=0.01, abs=0.05)


def test_an_empty_image_has_no_area_and_no_centre():
    m = measure(-torch.ones(2, 3, 16, 16))
    assert torch.equal(m["area"], torch.zeros(2)) and m["x"].isnan().all() and m["colour"].isnan().all()


def test_measure_is_batched_and_matches_single_images():
    images = torch.cat([sprite("square", 15.0), sprite("heart", 70.0)])
    both, second = measure(images), measure(images[1:])
    assert both["x"].shape == (2,) and both["colour"].shape == (2, 3)
    assert torch.allclose(both["y"][1:], second["y"]) and torch.allclose(both["area"][1:], second["area"])


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: measure(torch.zeros(3, 16, 16)), "measure takes images"),
        (lambda: measure(torch.zeros(1, 3, 16, 16), threshold=1.5), "threshold is a brightness"),
        (lambda: validate(n=0), "n > 0"),
    ],
)
def test_bad_inputs_raise_a_clear_error(call, words):
    with pytest.raises(SteerError, match=words):
        call()
