import pytest
import torch

from steer.errors import SteerError
from steer.generators import DCGAN, DigiFaceDCGAN


@pytest.mark.parametrize("resolution", [32, 64])
def test_dcgan_makes_images_in_range_at_its_resolution(resolution):
    g = DCGAN(latent_dim=8, resolution=resolution, width=4)
    x = g(g.sample_latent(2))
    assert x.shape == (2, 3, resolution, resolution) and x.min() >= -1 and x.max() <= 1


def test_conditional_dcgan_needs_labels_and_they_change_the_image():
    g = DCGAN(latent_dim=8, resolution=16, width=4, num_classes=3).eval()
    z = g.sample_latent(1).expand(2, -1)
    y = torch.tensor([0, 2])
    x = g(z, y)
    assert not torch.allclose(x[0], x[1])
    with pytest.raises(SteerError, match="class labels"):
        g(z)
    assert g.sample_class(5).max() < 3


def test_first_projection_is_the_first_conv_weight_as_a_matrix_on_z():
    g = DCGAN(latent_dim=8, resolution=16, width=4, num_classes=3)
    a = g.first_projection()
    assert a.shape == (g.main[0].out_channels * 4 * 4, 8)
    # A z equals the first layer's output on z (no class part, no bias)
    z = torch.randn(1, 8)
    out = torch.nn.functional.conv_transpose2d(z[:, :, None, None], g.main[0].weight[:8])
    assert torch.allclose(out.flatten(), a @ z[0], atol=1e-5)


def test_truncation_keeps_every_coordinate_inside_the_bound():
    g = DCGAN(latent_dim=16, resolution=8, width=2, truncation=0.5)
    z = g.sample_latent(1000, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() > 0.2


def test_digiface_loads_the_packaged_weights_frozen_and_stays_in_eval_mode():
    g = DigiFaceDCGAN()
    assert (g.latent_dim, g.resolution, g.num_classes) == (100, 64, None)
    assert not any(p.requires_grad for p in g.parameters())
    g.train()
    assert not g.training and not any(m.training for m in g.modules())
    z = g.sample_latent(4, torch.Generator().manual_seed(0))
    x1, x2 = g(z), g(z)
    assert torch.equal(x1, x2) and x1.shape == (4, 3, 64, 64)
    assert x1.std() > 0.2  # real faces, not the random-init grey
    assert g.first_projection().shape == (512 * 16, 100)


def test_gradients_reach_the_latent_through_the_frozen_generator():
    g = DigiFaceDCGAN()
    z = g.sample_latent(2).requires_grad_()
    g(z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


@pytest.mark.parametrize("make, message", [
    (lambda: DCGAN(resolution=48), "power of two"),
    (lambda: DCGAN(latent_dim=0), "positive"),
    (lambda: DCGAN(width=0, resolution=16), "width"),
    (lambda: DCGAN(truncation=-1.0, resolution=16), "truncation"),
    (lambda: DCGAN(latent_dim=8, resolution=16, width=2)(torch.zeros(2, 9)), r"\(N, 8\)"),
    (lambda: DCGAN(latent_dim=8, resolution=16, width=2).features(torch.zeros(1, 8), "x"), "layer"),
])
def test_bad_generator_settings_are_refused_with_a_clear_message(make, message):
    with pytest.raises(SteerError, match=message):
        make()
