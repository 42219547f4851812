"""PCA on every generator family: features by a forward hook on a submodule named by its path from the generator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from steer.discovery import pca
from steer.discovery.direction_report import pca_layer
from steer.errors import SteerError
from steer.generators import (
    DCGAN,
    BigGAN,
    CustomGenerator,
    DigiFaceDCGAN,
    Generator,
    NVlabsStyleGAN,
    StyleGAN2,
    VAEDecoder,
)
from tests.support.nvlabs_writer import write_nvlabs_pickle
from tests.support.tiny_generators import STYLEGAN2 as TINY
from tests.support.tiny_generators import save_biggan, save_stylegan2
from tests.support.user_models import ConditionalCustom


@pytest.fixture(scope="module")
def stylegan2_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg2") / "tiny.pt"
    save_stylegan2(path)
    return path


def stylegan2(path, **kwargs) -> StyleGAN2:
    return StyleGAN2(str(path), size=TINY["size"], style_dim=TINY["style_dim"], n_mlp=TINY["n_mlp"],
                     channels=TINY["channels"], **kwargs)


@pytest.fixture(scope="module")
def families(tmp_path_factory, stylegan2_path) -> dict[str, tuple[Generator, str]]:
    """(generator, a layer) per family; the layer None: the generator's default."""
    biggan_dir = tmp_path_factory.mktemp("biggan")
    save_biggan(biggan_dir)
    nvlabs = tmp_path_factory.mktemp("nvlabs") / "network.pkl"
    write_nvlabs_pickle(nvlabs, c_dim=3)
    torch.manual_seed(0)
    return {
        "DCGAN": (DCGAN(latent_dim=8, resolution=16, width=4).freeze(), "main.5"),
        "DigiFaceDCGAN": (DigiFaceDCGAN(), "main.2"),
        "BigGAN": (BigGAN(str(biggan_dir)), "model.generator.layers.1"),
        "StyleGAN2 z": (stylegan2(stylegan2_path, latent_space="z"), None),
        "StyleGAN2 w": (stylegan2(stylegan2_path), None),
        "StyleGAN2 w+": (stylegan2(stylegan2_path, latent_space="w+", layers=[0, 1, 2]), None),
        "StyleGAN2 synthesis": (stylegan2(stylegan2_path), "net.convs.1"),
        "VAEDecoder": (VAEDecoder(latent_dim=4, resolution=8, width=4, hidden=16).freeze(), "main.1"),
        "CustomGenerator": (CustomGenerator("tests.support.user_models.TinyDeconv", latent_dim=6, resolution=8,
                                            latent_shape="image").freeze(), "module.net.2"),
        "CustomGenerator conditional": (ConditionalCustom(), "module.main.2"),
        "NVlabsStyleGAN z": (NVlabsStyleGAN(str(nvlabs), latent_space="z"), None),
        "NVlabsStyleGAN w+": (NVlabsStyleGAN(str(nvlabs), latent_space="w+", layers=[0, 1]), None),
        "NVlabsStyleGAN synthesis": (NVlabsStyleGAN(str(nvlabs)), "synthesis.b8.conv0"),
    }


@pytest.mark.parametrize("family", ["DCGAN", "DigiFaceDCGAN", "BigGAN", "StyleGAN2 z", "StyleGAN2 w", "StyleGAN2 w+",
                                    "StyleGAN2 synthesis", "VAEDecoder", "CustomGenerator",
                                    "CustomGenerator conditional", "NVlabsStyleGAN z", "NVlabsStyleGAN w+",
                                    "NVlabsStyleGAN synthesis"])
def test_pca_runs_on_every_family(families, family):
    generator, layer = families[family]
    layer = pca_layer(generator, layer)
    directions, ratios = pca(generator, layer, 3, n=40, batch_size=20, progress=False)
    assert directions.shape == (3, generator.latent_dim) and torch.isfinite(directions).all()
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(3))
    assert torch.all(ratios[:-1] >= ratios[1:]) and 0 < float(ratios.sum()) <= 1 + 1e-5


def test_the_hook_stops_the_forward_after_the_layer():
    g = DCGAN(latent_dim=8, resolution=16, width=4).freeze()
    ran = []
    g.main[-1].register_forward_hook(lambda *_: ran.append("tanh"))
    z = torch.randn(3, 8)
    features = g.features(z, "main.2")
    torch.testing.assert_close(features, g.main[:3](z[:, :, None, None]))
    assert ran == [] and g.main[2]._forward_hooks.keys() == set()  # nothing after main.2 ran; the hook is gone
    g(z)
    assert ran == ["tanh"]


def test_an_unknown_layer_lists_the_valid_ones():
    g = DCGAN(latent_dim=8, resolution=8, width=2)
    with pytest.raises(SteerError, match=r"DCGAN has no layer 'x'; layers are module paths from the generator: "
                                         r"main, main\.0, main\.1, main\.2, main\.3, main\.4\.$"):
        g.features(torch.randn(2, 8), "x")


def test_a_long_list_of_layers_is_cut_and_says_how_to_list_them_all(stylegan2_path):
    with pytest.raises(SteerError, match=r"no layer 'nope'.*, … \(\d+ in all; `\[n for n, _ in "
                                         r"generator\.named_modules\(\)\]` in Python lists them\)\.$"):
        stylegan2(stylegan2_path).features(torch.randn(2, 8), "nope")


def test_a_layer_that_does_not_run_or_returns_no_tensor_is_refused():
    class Odd(Generator):
        def __init__(self):
            super().__init__(latent_dim=2, resolution=4)
            self.unused = nn.Linear(2, 2)
            self.pair = nn.LSTM(2, 2, batch_first=True)

        def synthesize(self, z, y):
            self.pair(z[:, None])
            return torch.zeros(len(z), 3, 4, 4)

    with pytest.raises(SteerError, match="layer 'unused' of Odd does not run when it makes images"):
        Odd().features(torch.randn(2, 2), "unused")
    with pytest.raises(SteerError, match="layer 'pair' of Odd returns a tuple, not a tensor"):
        Odd().features(torch.randn(2, 2), "pair")


def test_a_generator_without_submodules_says_pca_cannot_read_it():
    class Plain(Generator):
        def synthesize(self, z, y):
            return torch.zeros(len(z), 3, 4, 4)

    with pytest.raises(SteerError, match="Plain has no submodules, so PCA has no layer"):
        pca(Plain(latent_dim=4, resolution=4), "0", 2, n=10, progress=False)
    with pytest.raises(SteerError, match=r"PCA on Plain needs --layer.*\(none: it has no submodules\)"):
        pca_layer(Plain(latent_dim=4, resolution=4), None)


def test_stylegan_pca_is_on_w_and_in_w_needs_no_regression(stylegan2_path):
    """GANSpace on StyleGAN: the components of w = mapping(z) are the directions, in w as they are."""
    g = stylegan2(stylegan2_path)
    assert pca_layer(g, None) == "net.style" and g.latent_lift("net.convs.1") is None
    directions, ratios = pca(g, "net.style", 3, n=400, batch_size=100, seed=2, progress=False)
    from steer.seeding import rng

    w = g.sample_latent(400, rng(2, "pca", "latents")).double()
    eigenvalues, vectors = torch.linalg.eigh(torch.cov(w.T))
    expected = vectors[:, -3:].flip(1).T
    torch.testing.assert_close((directions.double() * expected).sum(1).abs(), torch.ones(3, dtype=torch.float64),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(ratios.double(), eigenvalues.flip(0)[:3] / eigenvalues.sum(), atol=1e-4, rtol=0)


def test_stylegan_pca_in_w_plus_writes_w_components_on_the_listed_rows(stylegan2_path):
    w_space = pca(stylegan2(stylegan2_path), "net.style", 2, n=200, batch_size=100, progress=False)[0]
    g = stylegan2(stylegan2_path, latent_space="w+", layers=[1, 3])
    directions = pca(g, "net.style", 2, n=200, batch_size=100, progress=False)[0]
    d = TINY["style_dim"]
    assert directions.shape == (2, 3 * d)
    torch.testing.assert_close(directions[:, :d], w_space / 2 ** 0.5)  # w's components on both listed rows
    torch.testing.assert_close(directions[:, d:2 * d], directions[:, :d])
    assert torch.all(directions[:, 2 * d:] == 0)  # never the block of the other rows


def test_stylegan_pca_in_z_regresses_w_components_back_to_z(stylegan2_path):
    g = stylegan2(stylegan2_path, latent_space="z")
    assert g.latent_lift("net.style") is None
    z = torch.randn(4, 8)
    torch.testing.assert_close(g.features(z, "net.style"), g.net.style(z))  # the hook stops after the mapping
