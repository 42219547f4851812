"""StyleGAN2: rosinality-format checkpoints of a tiny random network load; z / w / W+; truncation; SeFa."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from steer.discovery import sefa
from steer.errors import SteerError
from steer.generators import StyleGAN2
from steer.generators.stylegan2 import AVG_SAMPLES, ModulatedConv2d, default_channels, n_latent, upfir2d
from tests.support.tiny_generators import STYLEGAN2 as TINY
from tests.support.tiny_generators import save_stylegan2

ATOL = 1e-5


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, dict, torch.Tensor]:
    """convert_weight.py format: g_ema + latent_avg. (path, g_ema, latent_avg)"""
    path = tmp_path_factory.mktemp("sg2") / "converted.pt"
    return (path, *save_stylegan2(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """train.py format: g, g_ema, args (argparse.Namespace), ada_aug_p; no latent_avg. (path, g_ema)"""
    path = tmp_path_factory.mktemp("sg2") / "trained.pt"
    return path, save_stylegan2(path, latent_avg=False)[0]


def ws(n: int = 3, seed: int = 7) -> torch.Tensor:
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def mapping_by_hand(state: dict, z: torch.Tensor) -> torch.Tensor:
    """rosinality's mapping: PixelNorm, then √2·leaky_relu(x (λW/√in)ᵀ + λb, 0.2) per layer, λ = 0.01."""
    x = z / (z.square().mean(1, keepdim=True) + 1e-8).sqrt()
    for i in range(1, TINY["n_mlp"] + 1):
        w, b = state[f"style.{i}.weight"], state[f"style.{i}.bias"]
        x = F.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[1])).T + b * 0.01, 0.2) * math.sqrt(2)
    return x


def test_convert_weight_format_loads_its_weights_and_latent_avg(converted):
    path, state, avg = converted
    g = StyleGAN2(str(path), **TINY)
    assert (g.latent_dim, g.resolution, g.num_classes) == (8, 16, None)
    loaded = g.net.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    torch.testing.assert_close(g.latent_avg, avg, rtol=0, atol=0)
    with torch.no_grad():
        images = g(ws())
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1


def test_train_format_loads_and_estimates_latent_avg_from_seeded_samples(trained):
    path, state = trained
    a, b = StyleGAN2(str(path), truncation=0.7, **TINY), StyleGAN2(str(path), truncation=0.7, **TINY)
    assert all(torch.equal(a.net.state_dict()[k], v) for k, v in state.items())
    z = torch.randn(AVG_SAMPLES, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.latent_avg, mapping_by_hand(state, z).mean(0), atol=ATOL, rtol=0)
    torch.testing.assert_close(a.latent_avg, b.latent_avg, rtol=0, atol=0)


def test_parameter_names_and_shapes_are_rosinalitys(converted):
    state = converted[1]
    assert len(state) == 51
    expected = {
        "style.1.weight": (8, 8),
        "input.input": (1, 8, 4, 4),
        "conv1.conv.weight": (1, 8, 8, 3, 3),
        "conv1.noise.weight": (1,),
        "conv1.activate.bias": (8,),
        "to_rgb1.bias": (1, 3, 1, 1),
        "to_rgb1.conv.modulation.weight": (8, 8),
        "convs.0.conv.blur.kernel": (4, 4),
        "convs.3.conv.modulation.weight": (4, 8),
        "to_rgbs.1.upsample.kernel": (4, 4),
        "to_rgbs.1.conv.weight": (1, 3, 4, 1, 1),
        "noises.noise_4": (1, 1, 16, 16),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected


def test_z_with_truncation_is_mapping_then_truncation_by_hand(converted):
    path, state, avg = converted
    in_z = StyleGAN2(str(path), latent_space="z", truncation=0.5, **TINY)
    in_w = StyleGAN2(str(path), **TINY)
    z = ws(seed=3)
    w = avg + 0.5 * (mapping_by_hand(state, z) - avg)  # w̄ + ψ(w − w̄)
    with torch.no_grad():
        torch.testing.assert_close(in_z.rows(z), w[:, None].expand(-1, n_latent(16), -1), atol=ATOL, rtol=0)
        torch.testing.assert_close(in_z(z), in_w(w), atol=ATOL, rtol=0)


def test_w_plus_with_every_row_w_gives_the_w_image(converted):
    path = str(converted[0])
    w = ws()
    in_w = StyleGAN2(path, **TINY)
    full = StyleGAN2(path, latent_space="w+", **TINY)
    listed = StyleGAN2(path, latent_space="w+", layers=[2, 3], **TINY)
    assert full.latent_dim == n_latent(16) * 8 == 6 * 8 and listed.latent_dim == 3 * 8
    with torch.no_grad():
        image = in_w(w)
        torch.testing.assert_close(full(w.repeat(1, 6)), image, atol=ATOL, rtol=0)
        torch.testing.assert_close(listed(w.repeat(1, 3)), image, atol=ATOL, rtol=0)


def test_w_plus_latent_holds_listed_rows_then_the_other_rows_w(converted):
    path = str(converted[0])
    g = StyleGAN2(path, latent_space="w+", layers=[3, 2], **TINY)
    assert g.layers == [2, 3]
    w = ws()
    row_2, row_3 = w.roll(1, 0), w.roll(2, 0)
    rows = torch.stack([w, w, row_2, row_3, w, w], dim=1)  # the W+ rows it stands for
    latent = torch.cat([row_2, row_3, w], dim=1)  # row 2, row 3, then the w of all other rows
    torch.testing.assert_close(g.rows(latent), rows, rtol=0, atol=0)
    full = StyleGAN2(path, latent_space="w+", **TINY)
    with torch.no_grad():
        torch.testing.assert_close(g(latent), full(rows.flatten(1)), atol=ATOL, rtol=0)
        torch.testing.assert_close(g(latent), g.net.synthesis(rows).clamp(-1, 1), atol=ATOL, rtol=0)
        assert not torch.allclose(g(latent), g(w.repeat(1, 3)))  # the listed rows do change the image


def test_a_w_plus_walk_on_chosen_layers_never_moves_the_other_rows(converted):
    from steer.edits import Color
    from steer.objective import steer_pair
    from steer.walks import LinearWalk

    g = StyleGAN2(str(converted[0]), latent_space="w+", layers=[2, 3], **TINY)
    assert g.walk_mask.tolist() == [1.0] * 16 + [0.0] * 8  # rows 2, 3 movable; the shared block is not
    assert StyleGAN2(str(converted[0]), latent_space="w+", **TINY).walk_mask is None
    walk = LinearWalk(g.latent_dim, sliders=3)
    torch.nn.init.ones_(walk.w)
    latent = g.sample_latent(2, torch.Generator().manual_seed(0))
    alpha = torch.full((2, 3), 0.2)
    with torch.no_grad():
        pair = steer_pair(g, Color(), walk, latent, alpha)
        moved = latent + torch.cat([torch.full((2, 16), 0.6), torch.zeros(2, 8)], 1)
        torch.testing.assert_close(pair.walked, g(moved), atol=ATOL, rtol=0)


@pytest.mark.parametrize("upsample", [False, True], ids=["same-size", "upsample"])
@pytest.mark.parametrize("demodulate", [True, False], ids=["demodulated", "plain"])
def test_modulated_conv_equals_per_sample_modulated_weights(upsample, demodulate):
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, style_dim=6, demodulate=demodulate, upsample=upsample)
    x, style = torch.randn(2, 4, 6, 6), torch.randn(2, 6)
    s = conv.modulation(style)
    expected = []
    for n in range(2):
        w = conv.weight[0] * conv.scale * s[n][None, :, None, None]  # w'_ijk = s_i · w_ijk
        if demodulate:
            w = w / (w.square().sum((1, 2, 3), keepdim=True) + 1e-8).sqrt()  # w'' = w' / √(Σ_{i,k} w'² + ε)
        if upsample:
            expected.append(conv.blur(F.conv_transpose2d(x[n : n + 1], w.transpose(0, 1), stride=2)))
        else:
            expected.append(F.conv2d(x[n : n + 1], w, padding=1))
    with torch.no_grad():
        out = conv(x, style)
    assert out.shape == (2, 5, 12 if upsample else 6, 12 if upsample else 6)
    torch.testing.assert_close(out, torch.cat(expected).detach(), atol=ATOL, rtol=1e-4)


def test_sampling_is_seeded_and_truncated_toward_latent_avg(converted):
    path = str(converted[0])
    plain = StyleGAN2(path, **TINY)
    half = StyleGAN2(path, truncation=0.5, **TINY)
    w = plain.sample_latent(5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(w, plain.sample_latent(5, torch.Generator().manual_seed(3)))
    w_half = half.sample_latent(5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(w_half - half.latent_avg, 0.5 * (w - plain.latent_avg))
    wplus = StyleGAN2(path, latent_space="w+", layers=[1, 4], truncation=0.5, **TINY)
    latent = wplus.sample_latent(5, torch.Generator().manual_seed(3))
    assert latent.shape == (5, 24)
    for block in latent.split(8, dim=1):  # every block is the sample's w: W+ samples are w samples
        torch.testing.assert_close(block, w_half)
    with torch.no_grad():
        torch.testing.assert_close(wplus(latent), half(w_half))


def test_forward_is_pure_and_frozen_through_train(converted):
    g = StyleGAN2(str(converted[0]), **TINY)
    g.train()
    assert g.frozen and not g.training and not any(m.training for m in g.modules())
    assert not any(p.requires_grad for p in g.parameters())
    with torch.no_grad():
        torch.testing.assert_close(g(ws()), g(ws()), rtol=0, atol=0)  # fixed noise buffers, no fresh noise


def test_gradients_reach_the_latent_through_the_frozen_generator(converted):
    g = StyleGAN2(str(converted[0]), latent_space="w+", layers=[1, 2], **TINY)
    latent = g.sample_latent(2, torch.Generator().manual_seed(0)).requires_grad_(True)
    g(latent).square().mean().backward()
    assert latent.grad is not None and latent.grad[:, :16].abs().sum() > 0 and torch.isfinite(latent.grad).all()
    assert all(p.grad is None for p in g.parameters())


def test_first_projection_is_the_style_weights_and_gives_sefa_directions(converted):
    path = str(converted[0])
    g = StyleGAN2(path, **TINY)
    convs = g.net.style_convs()  # rows 0..4; row 5 only drives the last ToRGB
    a = g.first_projection()
    assert a.shape == (sum(c.weight.shape[2] for c in convs), 8) == (8 + 8 + 8 + 8 + 4, 8)
    w = ws()
    s0 = convs[0].modulation(w) - convs[0].modulation.bias  # s = A w + b
    torch.testing.assert_close(s0, w @ a[:8].T)
    directions, values = sefa(g, 3)
    assert directions.shape == (3, 8) and torch.all(values[:-1] >= values[1:])
    torch.testing.assert_close(directions @ directions.T, torch.eye(3), atol=1e-5, rtol=0)

    listed = StyleGAN2(path, latent_space="w+", layers=[2, 3], **TINY)
    assert listed.first_projection().shape == (8 + 8, 24)
    top, _ = sefa(listed, 2)
    rows_2, rows_3, base = top.split(8, dim=1)
    torch.testing.assert_close(rows_2, rows_3)  # one direction, written on every listed row
    assert base.abs().max() == 0
    in_w, _ = sefa(StyleGAN2(path, layers=[2, 3], **TINY), 2)
    cosines = (rows_2 * 2**0.5 * in_w).sum(dim=1)  # the w-space SeFa directions of rows 2-3, up to sign
    torch.testing.assert_close(cosines.abs(), torch.ones(2), atol=1e-4, rtol=0)


def test_sefa_needs_w_and_a_modulated_layer(converted):
    path = str(converted[0])
    with pytest.raises(SteerError, match="latent_space='w' or 'w\\+'"):
        sefa(StyleGAN2(path, latent_space="z", **TINY), 1)
    with pytest.raises(SteerError, match="only the last ToRGB"):
        sefa(StyleGAN2(path, layers=[5], **TINY), 1)


def test_upfir2d_is_a_true_convolution_after_zero_insertion():
    k = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    impulse = torch.ones(1, 1, 1, 1)
    torch.testing.assert_close(upfir2d(impulse, k, pad=(1, 1))[0, 0], k)  # impulse response = kernel
    box = upfir2d(torch.ones(1, 2, 4, 4), torch.ones(2, 2), up=2, pad=(1, 0))
    torch.testing.assert_close(box, torch.ones(1, 2, 8, 8))  # each 2×2 window holds one input pixel


def test_default_channel_table_is_the_official_one():
    assert default_channels(256) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert default_channels(1024, channel_multiplier=1)[1024] == 16
    assert n_latent(256) == 14 and n_latent(1024) == 18


def test_missing_and_wrong_files_say_what_to_do(trained, tmp_path):
    with pytest.raises(SteerError) as err:
        StyleGAN2(str(tmp_path / "ffhq.pt"), **TINY)
    for part in (str(tmp_path / "ffhq.pt"), "does not exist", "never downloads", "convert_weight.py", "DigiFace"):
        assert part in str(err.value)
    with pytest.raises(SteerError) as err:
        StyleGAN2(str(trained[0]), size=32, style_dim=8, n_mlp=2, channels={4: 8, 8: 8, 16: 4, 32: 4})
    message = str(err.value)
    assert "another architecture" in message and "looks like size=16, style_dim=8, n_mlp=2" in message
    assert "\n" not in message and message.count(",") < 30
    other = tmp_path / "other.pt"
    torch.save({"generator": {"w": torch.zeros(1)}}, other)
    with pytest.raises(SteerError, match="no 'g_ema'"):
        StyleGAN2(str(other), **TINY)
    wrong_avg = tmp_path / "wrong_avg.pt"
    torch.save({"g_ema": trained[1], "latent_avg": torch.zeros(5)}, wrong_avg)
    with pytest.raises(SteerError, match="latent_avg has 5 values, not style_dim=8"):
        StyleGAN2(str(wrong_avg), **TINY)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=12), "power of two"),
        (dict(latent_space="s"), "latent_space"),
        (dict(layers=[6]), "0..5"),
        (dict(layers=[1, 1]), "distinct"),
        (dict(latent_space="z", layers=[1]), "no meaning"),
        (dict(channels={4: 8, 8: 8}), "each resolution"),
    ],
)
def test_bad_arguments_are_named(converted, kwargs, match):
    with pytest.raises(SteerError, match=match):
        StyleGAN2(str(converted[0]), **{**TINY, **kwargs})
