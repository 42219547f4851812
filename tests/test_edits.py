import math

import pytest
import torch

from steer.edits import Brightness, Color, Rotate2D, ShiftX, ShiftY, Zoom
from steer.errors import SteerError

ALL = [Zoom(), ShiftX(8), ShiftY(8), Rotate2D(), Color(), Brightness()]


def images(n=2, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("edit", ALL, ids=lambda e: e.name)
def test_identity_alpha_changes_nothing_and_defines_every_pixel(edit):
    x = images()
    out, mask = edit(x, edit.identity.expand(2, -1))
    assert torch.allclose(out, x, atol=1e-5)
    assert mask.shape == (2, 1, 16, 16) and bool((mask == 1).all())


@pytest.mark.parametrize("edit", ALL, ids=lambda e: e.name)
def test_walk_alpha_is_zero_at_identity_and_inverts(edit):
    alpha = edit.sample_alpha(64, torch.Generator().manual_seed(1))
    assert alpha.shape == (64, edit.sliders)
    assert torch.allclose(edit.alpha_from_walk(edit.walk_alpha(alpha)), alpha, atol=1e-5)
    assert bool((edit.walk_alpha(edit.identity[None]) == 0).all())


@pytest.mark.parametrize("edit", ALL, ids=lambda e: e.name)
def test_test_grid_contains_the_identity(edit):
    grid = edit.test_alphas()
    assert grid.shape[1] == edit.sliders
    assert any(torch.allclose(row, edit.identity) for row in grid)


def test_zoom_samples_half_in_half_out_within_range():
    s = Zoom().sample_alpha(4000, torch.Generator().manual_seed(0))
    assert 0.25 <= s.min() and s.max() <= 4
    assert abs((s > 1).float().mean().item() - 0.5) < 0.05


def test_shift_and_rotate_sample_signed_whole_units_never_zero():
    a = ShiftX(16).sample_alpha(2000, torch.Generator().manual_seed(0))
    assert bool((a == a.round()).all()) and a.abs().min() >= 1 and a.abs().max() <= 16
    assert (a > 0).any() and (a < 0).any()
    r = Rotate2D().sample_alpha(2000, torch.Generator().manual_seed(0))
    assert r.abs().min() >= 1 and r.abs().max() <= 45


def test_zoom_in_defines_every_pixel_zoom_out_masks_the_border():
    x = images(size=32)
    _, mask_in = Zoom()(x, torch.tensor([[2.0], [4.0]]))
    assert bool((mask_in == 1).all())
    _, mask_out = Zoom()(x, torch.tensor([[0.5], [0.5]]))
    assert mask_out[0, 0].sum().item() == pytest.approx(16 * 16)
    assert mask_out[0, 0, 16, 16] == 1 and mask_out[0, 0, 0, 0] == 0


def test_shift_by_whole_pixels_moves_content_exactly_and_masks_the_new_strip():
    x = images(size=16)
    out, mask = ShiftX(8)(x, torch.tensor([[3.0], [-2.0]]))
    assert torch.allclose(out[0, :, :, 3:], x[0, :, :, :-3], atol=1e-5)
    assert bool((mask[0, 0, :, :3] == 0).all()) and bool((mask[0, 0, :, 3:] == 1).all())
    assert torch.allclose(out[1, :, :, :-2], x[1, :, :, 2:], atol=1e-5)
    down, _ = ShiftY(8)(x, torch.tensor([[4.0], [4.0]]))
    assert torch.allclose(down[0, :, 4:], x[0, :, :-4], atol=1e-5)


def test_rotate_90_degrees_is_counter_clockwise_and_exact():
    x = images(size=16)
    out, mask = Rotate2D(90)(x, torch.tensor([[90.0], [90.0]]))
    assert torch.allclose(out, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4)
    assert bool((mask == 1).all())


def test_rotation_masks_the_corners():
    _, mask = Rotate2D()(images(size=32), torch.tensor([[45.0], [45.0]]))
    assert mask[0, 0, 0, 0] == 0 and mask[0, 0, 16, 16] == 1
    # a square rotated by 45° covers 2(√2 − 1) ≈ 0.83 of itself
    assert mask.mean().item() == pytest.approx(2 * (math.sqrt(2) - 1), abs=0.03)


def test_color_adds_per_channel_offsets_without_clipping():
    x = images()
    out, mask = Color()(x, torch.tensor([[0.5, 0.0, -0.5], [0.0, 0.25, 0.0]]))
    assert torch.allclose(out[0, 0] - x[0, 0], torch.full((16, 16), 0.5))
    assert torch.allclose(out[0, 2] - x[0, 2], torch.full((16, 16), -0.5))
    assert out[0, 0].max() > 1  # no clipping to [-1, 1]
    b, _ = Brightness()(x, torch.tensor([[0.3], [0.3]]))
    assert torch.allclose(b - x, torch.full_like(x, 0.3), atol=1e-6)


def test_edits_work_in_batches_of_mixed_alpha():
    x = images(n=3)
    out, _ = Zoom()(x, torch.tensor([[1.0], [2.0], [1.0]]))
    assert torch.allclose(out[0], x[0], atol=1e-5) and torch.allclose(out[2], x[2], atol=1e-5)
    assert not torch.allclose(out[1], x[1], atol=1e-3)


@pytest.mark.parametrize("make, message", [
    (lambda: Zoom()(images(), torch.tensor([[0.0], [1.0]])), "> 0"),
    (lambda: Color()(images(), torch.zeros(2, 1)), "shape (2, 3)"),
    (lambda: Zoom()(images(), torch.tensor([[float("nan")], [1.0]])), "NaN"),
    (lambda: Zoom(min_scale=2.0), "min_scale"),
    (lambda: ShiftX(0), "max_shift"),
    (lambda: ShiftX(16)(images(size=16), torch.ones(2, 1)), "smaller than the image"),
])
def test_bad_alpha_or_edit_settings_are_refused_with_a_clear_message(make, message):
    with pytest.raises(SteerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()
