"""MaskedLowPass: the masked error after a Gaussian blur, computed in Fourier space."""

import math

import pytest
import torch

from steer.errors import SteerError
from steer.losses import MaskedL2, MaskedLowPass


def circular_blur(images, sigma):
    """Spatial reference: Σ_{dy,dx} k(dy) k(dx) · roll(images, (dy, dx)), k a normalised periodic Gaussian."""
    h, w = images.shape[-2:]

    def kernel(n):
        offset = torch.arange(n, dtype=torch.float64)
        k = torch.exp(-torch.minimum(offset, n - offset) ** 2 / (2 * sigma**2))
        return k / k.sum()

    ky, kx = kernel(h), kernel(w)
    out = torch.zeros_like(images)
    for dy in range(h):
        for dx in range(w):
            out += ky[dy] * kx[dx] * images.roll((dy, dx), dims=(-2, -1))
    return out


def test_equals_spatial_gaussian_blur_then_masked_mse():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 10, generator=g, dtype=torch.float64), torch.rand(2, 3, 8, 10, generator=g, dtype=torch.float64)
    mask = (torch.rand(2, 1, 8, 10, generator=g) > 0.3).double()
    loss = MaskedLowPass(sigma=1.2, reference_resolution=None)
    blurred = circular_blur(mask * (a - b), 1.2)
    per_image = blurred.pow(2).flatten(1).sum(1) / mask.expand_as(a).flatten(1).sum(1)
    assert torch.allclose(loss(a, b, mask, reduction="none"), per_image, rtol=1e-9)
    pooled = blurred.pow(2).sum() / mask.expand_as(a).sum()
    assert loss(a, b, mask).item() == pytest.approx(pooled.item(), rel=1e-9)
    assert torch.allclose(loss.low_pass(a), circular_blur(a, 1.2), atol=1e-12)


def test_masked_pixels_do_not_count():
    a, b = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    b[..., :4] = 50.0
    mask = torch.ones(1, 1, 16, 16)
    mask[..., :4] = 0
    assert MaskedLowPass()(a, b, mask).item() == 0.0
    b[..., 8] = 1.0
    assert MaskedLowPass()(a, b, mask).item() > 0


def test_smooth_difference_gives_the_masked_mse_and_detail_is_damped():
    """Parseval normalisation: a constant difference is not blurred, so the loss equals MaskedL2."""
    a, mask = torch.zeros(2, 3, 16, 16), torch.ones(2, 1, 16, 16)
    b = torch.full_like(a, 0.5)
    assert MaskedLowPass()(a, b, mask).item() == pytest.approx(MaskedL2()(a, b, mask).item(), rel=1e-5)
    checker = (torch.arange(16)[:, None] + torch.arange(16)).remainder(2).float().mul(2).sub(1).expand(2, 3, 16, 16)  # ±1, no mean
    assert MaskedLowPass(sigma=1.0, reference_resolution=None)(a, checker, mask) < 0.01 * MaskedL2()(a, checker, mask)


def test_sigma_scales_with_resolution_unless_explicit():
    assert MaskedLowPass(sigma=3.0).sigma_pixels(64) == 1.5
    assert MaskedLowPass(sigma=3.0).sigma_pixels(256) == 6.0
    assert MaskedLowPass(sigma=3.0, reference_resolution=None).sigma_pixels(64) == 3.0


def test_gradients_flow_to_the_images():
    a = torch.rand(2, 3, 12, 12, requires_grad=True)
    MaskedLowPass()(a, torch.zeros(2, 3, 12, 12), torch.ones(2, 1, 12, 12)).backward()
    assert a.grad.abs().sum() > 0 and math.isfinite(a.grad.sum().item())


def test_bad_sigma_is_a_user_error():
    with pytest.raises(SteerError, match="sigma > 0"):
        MaskedLowPass(sigma=0)
