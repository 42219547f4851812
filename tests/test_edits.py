import math

import pytest
import torch

from steer.edits import Brightness, Color, ColorLab, Rotate2D, Rotate3D, ShiftX, ShiftY, Zoom
from steer.errors import SteerError

ALL = [Zoom(), ShiftX(8), ShiftY(8), Rotate2D(), Rotate3D(), Color(), Brightness(), ColorLab()]


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


def test_rotate3d_is_symmetric_under_a_horizontal_flip():
    x = images(size=16)
    turned, mask = Rotate3D()(x, torch.tensor([[30.0], [50.0]]))
    mirrored, mirrored_mask = Rotate3D()(x.flip(-1), torch.tensor([[-30.0], [-50.0]]))
    assert torch.allclose(turned, mirrored.flip(-1), atol=1e-5) and torch.equal(mask, mirrored_mask.flip(-1))


def test_rotate3d_keeps_the_vertical_centre_line_and_turns_the_right_edge_away():
    x = images(size=15)  # an odd width: one column on the axis
    out, mask = Rotate3D()(x, torch.tensor([[30.0], [30.0]]))
    assert torch.allclose(out[..., 7], x[..., 7], atol=1e-5) and bool((mask[..., 7] == 1).all())
    # the right half recedes: its top and bottom corners show nothing of the image; the nearer left half is defined
    assert mask[0, 0, 0, -1] == 0 and mask[0, 0, -1, -1] == 0 and bool((mask[0, 0, :, :7] == 1).all())
    assert 0.5 < mask.mean() < 1


def test_rotate3d_refuses_angles_whose_test_grid_would_reach_the_edge_on_view():
    with pytest.raises(SteerError, match="Rotate3D max_angle must be in 1..60 degrees"):
        Rotate3D(max_angle=80)


def test_lab_round_trip_is_exact_to_1e_4_and_lightness_rises_monotonically():
    x = images(n=4, size=8) * 0.9  # inside the sRGB gamut
    same, mask = ColorLab()(x, torch.zeros(4, 3))
    assert (same - x).abs().max() < 1e-4 and bool((mask == 1).all())
    lightness = torch.linspace(-0.4, 0.4, 5)
    luminance = [ColorLab()(x, torch.tensor([[a, 0.0, 0.0]] * 4))[0].mean().item() for a in lightness]
    assert all(b > a for a, b in zip(luminance, luminance[1:]))


def test_lab_a_shift_moves_towards_red_and_b_towards_yellow():
    grey = torch.zeros(1, 3, 4, 4)  # mid grey: L ≈ 53, a = b = 0
    red, _ = ColorLab()(grey, torch.tensor([[0.0, 0.2, 0.0]]))
    assert red[0, 0].mean() > grey[0, 0].mean() and red[0, 1].mean() < grey[0, 1].mean()
    yellow, _ = ColorLab()(grey, torch.tensor([[0.0, 0.0, 0.2]]))
    assert yellow[0, 2].mean() < yellow[0, 0].mean() and yellow[0, 2].mean() < yellow[0, 1].mean()
    out, _ = ColorLab()(grey, torch.tensor([[2.0, 0.0, 0.0]]))  # past white: clamped
    assert out.max() <= 1 and out.min() >= -1


def test_lab_claims_no_rgb_attribute():
    assert ColorLab().attributes == () and ColorLab().slider_names == ["L", "a", "b"]


def test_lab_refuses_images_that_are_not_rgb():
    with pytest.raises(SteerError, match="ColorLab edits RGB images; got 1-channel images"):
        ColorLab()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3))


@pytest.mark.parametrize("edit", [Rotate3D(), ColorLab()], ids=lambda e: e.name)
def test_new_edits_compose_with_a_walk_that_learns_on_a_tiny_generator(edit):
    from steer.evaluation.steerability import measure
    from steer.generators import DCGAN
    from steer.losses import MaskedL2
    from steer.objective import steer_pair
    from steer.walks import LinearWalk

    torch.manual_seed(0)
    generator, walk = DCGAN(latent_dim=8, resolution=16, width=4).eval(), LinearWalk(8, edit.sliders)
    optimizer = torch.optim.Adam(walk.parameters(), lr=0.05)
    before = walk.w.detach().clone()
    losses = []
    for step in range(4):
        z = generator.sample_latent(8, torch.Generator().manual_seed(step))
        pair = steer_pair(generator, edit, walk, z, edit.sample_alpha(8, torch.Generator().manual_seed(step)))
        loss = MaskedL2()(pair.walked, pair.target, pair.mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and not torch.equal(walk.w, before)
    result = measure(generator, edit, walk, n=4, batch_size=4, progress=False)
    assert len(result.alphas) == len(edit.test_alphas()) and torch.isfinite(result.walk_error).all()
