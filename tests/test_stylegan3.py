"""steer's StyleGAN3 synthesis network: NVlabs' state-dict layout, its ops, and the equivariances it is built for."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from steer.generators.alias_free import lowpass_filter, upfirdn2d
from steer.generators.nvlabs_layers import FullyConnectedLayer
from steer.generators.stylegan3 import StyleGAN3Synthesis, modulated_conv2d

# What NVlabs' training script stores for each config (channel counts shrunk).
NVLABS_T = dict(
    w_dim=8, img_resolution=16, img_channels=3, channel_base=256, channel_max=32,
    magnitude_ema_beta=0.999, num_fp16_res=4, conv_clamp=256,
)  # fmt: skip
NVLABS_R = dict(NVLABS_T, conv_kernel=1, use_radial_filters=True, channel_base=512, channel_max=64)


@pytest.fixture(autouse=True)
def no_grad():
    with torch.no_grad():
        yield


def network(kwargs: dict, seed: int = 0) -> StyleGAN3Synthesis:
    torch.manual_seed(seed)
    return StyleGAN3Synthesis(**kwargs).eval()


def ws_for(net: StyleGAN3Synthesis, n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, net.num_ws, net.w_dim, generator=torch.Generator().manual_seed(seed))


def with_transform(net: StyleGAN3Synthesis, ws: torch.Tensor, image_transform: torch.Tensor) -> torch.Tensor:
    """Images with the input's transform set, as NVlabs' scripts do, to the inverse of the wanted image transform."""
    net.input.transform.copy_(torch.linalg.inv(image_transform))
    try:
        return net(ws)
    finally:
        net.input.transform.copy_(torch.eye(3))


def test_state_dict_has_nvlabs_names_and_shapes_for_stylegan3_t():
    # 16 px, 14 layers: cutoffs 2 → 8 over layers 0–12, sampling rate 16, margin 10 → 36 px;
    # channels min(256/2 / f_c, 32); the last two layers at 16 px, ToRGB 1×1 without filters.
    state = network(NVLABS_T).state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert network(NVLABS_T).num_ws == 16
    expected = {
        "input.freqs": (32, 2),
        "input.phases": (32,),
        "input.transform": (3, 3),
        "input.weight": (32, 32),
        "input.affine.weight": (4, 8),
        "input.affine.bias": (4,),
        "L0_36_32.weight": (32, 32, 3, 3),
        "L0_36_32.affine.weight": (32, 8),
        "L0_36_32.up_filter": (12,),
        "L0_36_32.down_filter": (12,),
        "L0_36_32.magnitude_ema": (),
        "L12_36_16.bias": (16,),
        "L13_16_16.down_filter": (12,),
        "L14_16_3.weight": (3, 16, 1, 1),
        "L14_16_3.affine.bias": (16,),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    assert len(shapes) == 6 + 14 * 7 + 5  # input; 14 layers with two filters; ToRGB without
    assert "L14_16_3.up_filter" not in shapes and "L14_16_3.down_filter" not in shapes


def test_stylegan3_r_has_1x1_convolutions_and_radial_filters_before_the_critical_layers():
    shapes = {k: tuple(v.shape) for k, v in network(NVLABS_R).state_dict().items()}
    assert shapes["L0_36_64.weight"] == (64, 64, 1, 1)
    assert shapes["L0_36_64.down_filter"] == (12, 12)  # radial
    assert shapes["L0_36_64.up_filter"] == (12,)  # up-sampling stays separable
    assert shapes["L12_36_32.down_filter"] == (12,)  # critically sampled: separable


def test_strict_load_of_its_own_state_and_images_are_finite_float32():
    for kwargs in (NVLABS_T, NVLABS_R):
        a, b = network(kwargs, seed=0), network(kwargs, seed=1)
        b.load_state_dict(a.state_dict(), strict=True)
        ws = ws_for(a)
        images = a(ws, noise_mode="random")
        assert images.shape == (2, 3, 16, 16) and images.dtype == torch.float32
        assert torch.isfinite(images).all()
        assert torch.equal(images, b(ws, noise_mode="const"))  # a function of ws and the weights alone


def test_wrong_ws_shape_is_refused():
    net = network(NVLABS_T)
    with pytest.raises(ValueError, match=r"\(N, 16, 8\)"):
        net(torch.zeros(2, 15, 8))


def test_style_affines_are_named_affine():
    names = [n for n, m in network(NVLABS_T).named_modules() if isinstance(m, FullyConnectedLayer)]
    assert names and all(n.split(".")[-1] == "affine" for n in names) and len(names) == 16


def test_stylegan3_t_translation_of_the_input_by_whole_pixels_shifts_the_image():
    net = network(NVLABS_T)
    ws, r, k, e = ws_for(net), 16, 2, 3
    image = net(ws)
    shift = torch.eye(3)
    shift[0, 2] = k / r  # image coordinates span one unit
    moved = with_transform(net, ws, shift)
    inner = moved[..., e:-e, e:-e]
    error = (inner - image[..., e:-e, e - k : r - e - k]).abs().mean()
    unmoved = (inner - image[..., e:-e, e:-e]).abs().mean()
    assert error < 0.02 * image.abs().mean() and error < unmoved / 10


def test_stylegan3_r_quarter_turn_of_the_input_rotates_the_image():
    net = network(NVLABS_R)
    ws = ws_for(net)
    image = net(ws)
    # a quarter turn, its matrix built as NVlabs' scripts build one
    turn = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = with_transform(net, ws, turn)
    assert torch.allclose(turned, torch.rot90(image, 1, dims=(2, 3)), atol=1e-4 * image.abs().max().item())
    assert not torch.allclose(turned, torch.rot90(image, -1, dims=(2, 3)), atol=0.1 * image.abs().max().item())


@pytest.mark.parametrize(("up", "down", "taps"), [(2, 1, 12), (1, 2, 12), (1, 1, 5), (3, 2, 7)])
def test_separable_upfirdn2d_equals_scipy_upfirdn_along_each_axis(up, down, taps):
    rng = np.random.default_rng(up * 10 + down)
    x = rng.standard_normal((9, 11))
    f = rng.standard_normal(taps)
    # scipy's upfirdn is a full convolution of the up-sampled signal without its trailing zeros
    pads = (taps - 1, taps - up)
    expected = scipy.signal.upfirdn(f, scipy.signal.upfirdn(f, x, up, down, axis=1), up, down, axis=0)
    got = upfirdn2d(torch.tensor(x)[None, None], torch.tensor(f), up, down, (*pads, *pads))[0, 0]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-10)


def test_upfirdn2d_gain_scales_the_2d_footprint_and_negative_padding_crops():
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f = torch.rand(4, dtype=torch.float64)
    separable = upfirdn2d(x, f, up=2, padding=(-1, -2, -1, -2), gain=4.0)
    full = upfirdn2d(x, torch.outer(f, f), up=2, padding=(1, 1, 1, 1), gain=4.0)
    torch.testing.assert_close(separable, full[..., 2:-3, 2:-3])
    zeros_inserted = upfirdn2d(x, None, up=2, padding=(1, 0, 0, 1))  # no filter: zeros after each pixel, then pad
    torch.testing.assert_close(zeros_inserted[..., :-1, 1:][..., ::2, ::2], x)
    assert zeros_inserted.shape[-2:] == (17, 17) and zeros_inserted.abs().sum() == x.abs().sum()


def test_lowpass_filters_keep_dc_and_the_radial_one_is_symmetric():
    assert lowpass_filter(1, 2.0, 1.0, 16.0) is None
    separable = lowpass_filter(12, 4.0, 3.0, 32.0)
    radial = lowpass_filter(12, 4.0, 3.0, 32.0, radial=True)
    assert separable.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert radial.sum().item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(radial, radial.t())
    torch.testing.assert_close(radial, radial.flip(0))
    torch.testing.assert_close(radial, torch.rot90(radial))
    odd = lowpass_filter(7, 4.0, 3.0, 32.0, radial=True)  # a tap at r = 0
    assert torch.isfinite(odd).all() and odd[3, 3] == odd.max()


def test_modulated_conv2d_equals_convolving_with_the_modulated_demodulated_weights():
    # StyleGAN2 eqs. 1–3, done per sample with explicit weights w''_oik = s_i w_oik / √(Σ_ik (s_i w_oik)² + ε)
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    gain = torch.tensor(0.7)
    for demodulate in (True, False):
        got = modulated_conv2d(x, weight, styles, demodulate, gain)
        for n in range(3):
            w, s = weight, styles[n]
            if demodulate:
                w = w / w.square().mean(dim=[1, 2, 3], keepdim=True).sqrt()
                s = s / s.square().mean().sqrt()
            w = w * s[None, :, None, None]
            if demodulate:
                w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
            expected = F.conv2d(x[n : n + 1], w * gain, padding=2)
            torch.testing.assert_close(got[n : n + 1], expected, rtol=1e-4, atol=1e-5)


def test_fully_connected_layer_is_equalised_and_takes_a_bias_per_output():
    layer = FullyConnectedLayer(4, 3, activation="lrelu", lr_multiplier=0.5, bias_init=[1.0, 0.0, -1.0])
    torch.testing.assert_close(layer.bias * 0.5, torch.tensor([1.0, 0.0, -1.0]))
    x = torch.randn(2, 4)
    expected = F.leaky_relu(x @ (layer.weight * 0.5 / math.sqrt(4)).t() + layer.bias * 0.5, 0.2) * math.sqrt(2)
    torch.testing.assert_close(layer(x), expected)
    assert FullyConnectedLayer(4, 3, bias=False).bias is None
