"""PCA directions (GANSpace, docs/methods.md §5): streamed principal components of features, moved to the latent."""

from __future__ import annotations

import re

import pytest
import torch
from torch import Tensor, nn

from steer.discovery import pca
from steer.errors import SteerError
from steer.generators import DCGAN, Generator


class FeatureGenerator(Generator):
    """features(z) = tanh(z Mᵀ) + a planted component 3 tanh(⟨u, z⟩) a; records every batch it is asked for."""

    def __init__(self, latent_dim: int = 6, size: int = 40, planted: Tensor | None = None) -> None:
        super().__init__(latent_dim=latent_dim, resolution=4)
        g = torch.Generator().manual_seed(1)
        self.m = nn.Parameter(torch.randn(size, latent_dim, generator=g) * torch.linspace(1.0, 0.2, latent_dim))
        self.a = torch.nn.functional.normalize(torch.randn(size, generator=g), dim=0)
        self.planted = planted
        self.seen: list[Tensor] = []

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return torch.zeros(len(z), 3, 4, 4)

    def features(self, z: Tensor, layer: str, y: Tensor | None = None) -> Tensor:
        if layer != "mix":
            raise SteerError(f"FeatureGenerator has one layer, 'mix'; got {layer!r}.")
        self.seen.append(z.clone())
        f = torch.tanh(z @ self.m.T)
        if self.planted is not None:
            f = 0.1 * f + 3 * torch.tanh(z @ self.planted)[:, None] * self.a
        return f[:, None]  # not flat: pca flattens


def test_recovers_a_planted_latent_direction():
    u = torch.nn.functional.normalize(torch.tensor([1.0, -2.0, 0.5, 0.0, 1.0, 0.3]), dim=0)
    directions, ratios = pca(FeatureGenerator(planted=u), "mix", 2, n=600, batch_size=100, progress=False)
    assert abs(float(directions[0] @ u)) > 0.99
    assert ratios[0] > 0.9 and ratios[0] > 20 * ratios[1]


def test_streamed_components_match_a_full_svd_of_the_feature_matrix():
    g = FeatureGenerator()
    k, n, batch = 3, 400, 64
    directions, ratios = pca(g, "mix", k, n=n, batch_size=batch, seed=5, progress=False)
    z = torch.cat(g.seen[1:1 + -(-n // batch)]).double()  # the first pass (after the one-latent probe)
    features = torch.tanh(z @ g.m.detach().T.double())
    centred = features - features.mean(0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:k].T
    expected = torch.nn.functional.normalize(torch.linalg.lstsq(coords, z - z.mean(0)).solution, dim=1)
    torch.testing.assert_close(directions.abs(), expected.abs().float(), atol=1e-4, rtol=0)  # up to sign
    torch.testing.assert_close(ratios, (s[:k].square() / s.square().sum()).float(), atol=1e-5, rtol=1e-4)


def test_memory_stays_bounded_by_the_batch_and_each_pass_sees_the_same_latents():
    g = FeatureGenerator()
    pca(g, "mix", 2, n=250, batch_size=60, iterations=2, progress=False)
    assert max(len(z) for z in g.seen) <= 60
    passes = [torch.cat(g.seen[1 + i * 5:1 + (i + 1) * 5]) for i in range(3)]  # 3 passes of ⌈250/60⌉ batches
    assert len(g.seen) == 1 + 3 * 5 and all(torch.equal(p, passes[0]) for p in passes)


def test_directions_are_unit_sorted_seeded_and_sign_fixed():
    g = DCGAN(latent_dim=8, resolution=16, width=4).freeze()
    directions, ratios = pca(g, "main.2", 4, n=300, batch_size=100, seed=3, progress=False)
    again, _ = pca(g, "main.2", 4, n=300, batch_size=100, seed=3, progress=False)
    other, _ = pca(g, "main.2", 4, n=300, batch_size=100, seed=4, progress=False)
    assert directions.shape == (4, 8) and ratios.shape == (4,)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(4))
    assert torch.all(ratios[:-1] >= ratios[1:]) and 0 < ratios.sum() < 1
    assert torch.equal(directions, again) and not torch.equal(directions, other)
    peak = directions.abs().argmax(dim=1, keepdim=True)
    assert torch.all(directions.gather(1, peak) > 0)


def test_progress_is_printed_per_pass(capsys):
    pca(FeatureGenerator(), "mix", 1, n=50, batch_size=25, iterations=1)
    err = capsys.readouterr().err  # tqdm bars: "pca pass 1/2: 100%|…| 50/50 […]"
    assert re.search(r"pca pass 1/2: .*50/50", err) and re.search(r"pca pass 2/2: .*50/50", err)


@pytest.mark.parametrize("args, message", [
    (dict(k=0), "1 to latent_dim=6 directions; asked for k=0"),
    (dict(k=7), "1 to latent_dim=6 directions; asked for k=7"),
    (dict(k=3, n=3), r"more latents than directions \(n > k=3\)"),
    (dict(k=1, batch_size=0), "batch_size ≥ 1"),
    (dict(k=1, layer="conv9"), "one layer, 'mix'; got 'conv9'"),
])
def test_bad_requests_are_refused_with_a_clear_message(args, message):
    options = {"layer": "mix", "n": 20, **args}
    with pytest.raises(SteerError, match=message):
        pca(FeatureGenerator(), options.pop("layer"), options.pop("k"), progress=False, **options)


def test_a_layer_with_fewer_features_than_directions_is_refused():
    with pytest.raises(SteerError, match="layer 'mix' has only 3 features; ask for k ≤ 3"):
        pca(FeatureGenerator(latent_dim=6, size=3), "mix", 4, n=20, progress=False)
