"""CustomGenerator: a user's nn.Module by import path, its state dict, adapted to the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from jsonargparse import ArgumentParser

from steer.errors import SteerError
from steer.generators import CustomGenerator, Generator


@pytest.fixture
def deconv(tmp_path) -> tuple[Path, torch.nn.Module]:
    """A TinyDeconv with trained-looking BatchNorm statistics, saved as a plain state dict."""
    from tests.support.user_models import TinyDeconv

    torch.manual_seed(0)
    model = TinyDeconv(latent_dim=6, width=4)
    model.net[1].running_mean.normal_(0, 0.5)
    model.net[1].running_var.uniform_(0.5, 2.0)
    path = tmp_path / "deconv.pt"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def deconv_generator(path: Path, **kwargs) -> CustomGenerator:
    args = dict(
        latent_dim=6,
        resolution=8,
        model_args={"latent_dim": 6},
        weights=str(path),
        latent_shape="image",
        first_layer="net.0",
    )
    return CustomGenerator("tests.support.user_models.TinyDeconv", **{**args, **kwargs})


def sefa_top(a: torch.Tensor) -> torch.Tensor:
    rows = a / a.norm(dim=1, keepdim=True)
    values, vectors = torch.linalg.eigh(rows.T @ rows)
    return vectors[:, values.argmax()]


def test_image_shaped_latents_and_loaded_weights_reproduce_the_module(deconv):
    path, model = deconv
    g = deconv_generator(path)
    z = g.sample_latent(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = g(z)
        torch.testing.assert_close(images, model(z[:, :, None, None]))
        torch.testing.assert_close(g(z), images, rtol=0, atol=0)
    assert images.shape == (4, 3, 8, 8) and images.abs().max() <= 1


def test_frozen_module_stays_in_eval_mode_and_keeps_its_batchnorm_statistics(deconv):
    g = deconv_generator(deconv[0])
    stats = g.module.net[1].running_mean.clone()
    g.train()
    assert g.frozen and not g.module.training and not any(p.requires_grad for p in g.parameters())
    with torch.no_grad():
        g(g.sample_latent(4))
    torch.testing.assert_close(g.module.net[1].running_mean, stats, rtol=0, atol=0)


def test_unfrozen_module_trains_and_the_probe_leaves_its_statistics_alone(deconv):
    g = deconv_generator(deconv[0], freeze=False)
    torch.testing.assert_close(g.module.net[1].running_mean, deconv[1].net[1].running_mean)
    assert g.training and all(p.requires_grad for p in g.parameters())


def test_gradients_reach_the_latent_through_the_frozen_module(deconv):
    g = deconv_generator(deconv[0])
    z = g.sample_latent(3).requires_grad_(True)
    g(z).square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(p.grad is None for p in g.parameters())


def test_first_projection_of_a_transposed_conv_and_its_sefa_direction(deconv):
    g = deconv_generator(deconv[0])
    a = g.first_projection()
    weight = g.module.net[0].weight  # (in=6, out=4, 4, 4)
    assert a.shape == (4 * 4 * 4, 6)
    torch.testing.assert_close(a[:, 0], weight[0].flatten())
    assert sefa_top(a).shape == (6,)


@pytest.mark.parametrize("class_input", ["onehot", "index"])
def test_class_conditional_module_in_zero_one_range(tmp_path, class_input):
    from tests.support.user_models import TinyConditional

    torch.manual_seed(1)
    init = {"latent_dim": 5, "num_classes": 3, "index": class_input == "index"}
    model = TinyConditional(**init).eval()
    path = tmp_path / "cond.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, path)  # a bigger file: pick the entry
    g = CustomGenerator(
        "tests.support.user_models.TinyConditional",
        latent_dim=5,
        resolution=4,
        model_args=init,
        weights=str(path),
        state_dict_key="state_dict",
        num_classes=3,
        class_input=class_input,
        output_range="[0,1]",
        first_layer="fc",
    )
    z, y = g.sample_latent(6), g.sample_class(6)
    with torch.no_grad():
        expected = model(z, y if class_input == "index" else F.one_hot(y, 3).float())
        torch.testing.assert_close(g(z, y), expected * 2 - 1)  # [0, 1] → [-1, 1]
    a = g.first_projection()
    torch.testing.assert_close(a, model.fc.weight[:, :5])  # the z columns only
    assert sefa_top(a).shape == (5,)


def test_an_output_range_in_other_units_is_mapped_to_minus_one_one(deconv):
    g = deconv_generator(deconv[0], output_range=[-1, 3])  # a tanh model read as if it spanned [-1, 3]
    z = g.sample_latent(2)
    with torch.no_grad():
        torch.testing.assert_close(g(z), (deconv[1](z[:, :, None, None]) + 1) / 2 - 1)


def test_module_without_first_layer_has_no_sefa(deconv):
    g = deconv_generator(deconv[0], first_layer=None)
    with pytest.raises(SteerError, match="closed-form"):
        g.first_projection()


def test_it_is_built_from_a_config_by_jsonargparse(deconv):
    parser = ArgumentParser()
    parser.add_argument("--generator", type=Generator)
    spec = {
        "class_path": "steer.generators.CustomGenerator",
        "init_args": {
            "model_class": "tests.support.user_models.TinyDeconv",
            "model_args": {"latent_dim": 6},
            "weights": str(deconv[0]),
            "latent_dim": 6,
            "resolution": 8,
            "latent_shape": "image",
        },
    }
    g = parser.instantiate(parser.parse_object({"generator": spec})).generator
    assert isinstance(g, CustomGenerator) and type(g.module).__name__ == "TinyDeconv"


@pytest.mark.parametrize(
    "model_class, match",
    [
        ("TinyDeconv", "full import path"),
        ("no_such_package.models.G", "no module 'no_such_package'"),
        ("tests.support.user_models.Missing", "has no 'Missing'"),
        ("collections.OrderedDict", "not a torch.nn.Module"),
    ],
)
def test_import_path_errors(model_class, match):
    with pytest.raises(SteerError, match=match):
        CustomGenerator(model_class, latent_dim=6, resolution=8)


def test_wrong_constructor_arguments_list_the_accepted_ones():
    with pytest.raises(SteerError, match=r"TinyDeconv\(latent_dim, width\)"):
        CustomGenerator("tests.support.user_models.TinyDeconv", latent_dim=6, resolution=8, model_args={"nz": 6})


def test_weights_of_another_architecture_are_summarised_in_one_line(deconv, tmp_path):
    from tests.support.user_models import TinyDeconv

    other = tmp_path / "wide.pt"
    torch.save(TinyDeconv(latent_dim=6, width=5).state_dict(), other)
    with pytest.raises(SteerError) as err:
        deconv_generator(other)
    message = str(err.value)
    assert "another architecture" in message and "shape mismatches: 7 (net.0.weight: file (6, 5, 4, 4)" in message
    assert "\n" not in message
    torch.save({"model": TinyDeconv().state_dict(), "step": 10}, other)
    with pytest.raises(SteerError, match="state_dict_key"):
        deconv_generator(other)


def test_declared_shape_and_range_are_checked_on_a_probe_batch(deconv):
    with pytest.raises(SteerError, match=r"expected \(2, C, 16, 16\)"):
        deconv_generator(deconv[0], resolution=16)
    with pytest.raises(SteerError, match=r"outside the declared output_range \[0, 1\]"):
        deconv_generator(deconv[0], output_range="[0,1]")  # tanh output is negative too
    with pytest.raises(SteerError, match="outside the declared"):
        CustomGenerator("tests.support.user_models.Unbounded", latent_dim=5, resolution=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(first_layer="net.9"), "no submodule 'net.9'.*net.0, net.3"),
        (dict(first_layer="net.1"), "BatchNorm2d; name a Linear or ConvTranspose2d"),
        (dict(latent_shape="grid"), "latent_shape must be one of flat, image"),
        (dict(output_range="[1,0]"), r"output_range must be two numbers \[low, high\] with low < high"),
        (dict(output_range=[0, 1, 2]), "output_range must be two numbers"),
        (dict(weights="missing.pt"), "does not exist"),
    ],
)
def test_bad_options_are_named(deconv, kwargs, match):
    with pytest.raises(SteerError, match=match):
        deconv_generator(deconv[0], **kwargs)
