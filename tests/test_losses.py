import pytest
import torch

from steer.errors import SteerError
from steer.losses import MaskedL2, MaskedLPIPS


def test_masked_l2_is_the_mean_over_defined_pixels_only():
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    b[:, :, :, :2] = 100.0  # undefined pixels: must not count
    mask = torch.ones(2, 1, 4, 4)
    mask[:, :, :, :2] = 0
    assert MaskedL2()(a, b, mask).item() == pytest.approx(1.0)
    assert torch.allclose(MaskedL2()(a, b, mask, reduction="none"), torch.ones(2))


def test_masked_l2_pools_the_batch_like_the_formula():
    a, b = torch.zeros(2, 1, 2, 2), torch.stack([torch.full((1, 2, 2), 1.0), torch.full((1, 2, 2), 2.0)])
    mask = torch.stack([torch.ones(1, 2, 2), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])])
    # Σ m (a−b)² / Σ m = (4·1 + 1·4) / 5
    assert MaskedL2()(a, b, mask).item() == pytest.approx(8 / 5)


def test_lpips_without_imagenet_weights_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(SteerError) as info:
        MaskedLPIPS()
    message = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "MaskedL2" in message and "http" not in message


def test_lpips_plumbing_with_a_random_backbone_not_a_perceptual_metric():
    """Random AlexNet (pnet_rand): checks masking, shapes and gradients only, not perceptual quality."""
    loss = MaskedLPIPS(random_backbone=True)
    a = torch.rand(2, 3, 32, 32, requires_grad=True)
    b = torch.rand(2, 3, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    assert loss(b, b, mask).item() == pytest.approx(0.0, abs=1e-6)
    value = loss(a, b, mask)
    value.backward()
    assert value.item() > 0 and a.grad.abs().sum() > 0
    assert loss(a, b, mask, reduction="none").shape == (2,)
    loss.train()
    assert not loss.lpips.training
    mask[:, :, :, :16] = 0
    b2 = b.clone()
    b2[:, :, :, :16] = 5.0  # differences only where the mask is 0
    assert loss(b, b2, mask).item() == pytest.approx(0.0, abs=1e-6)
