"""Histogram intersection of sprite attributes (docs/methods.md §1): HI = Σ_i min(p_i, q_i) over 50 bins on [0, 1]."""

import pytest
import torch

from steer.errors import SteerError
from steer.sprites import Normal, SpriteFactors, render_factors
from steer.sprites.histograms import AttributeHistograms, attribute_values, histograms, intersection, to_unit


def sprites(n, seed, **factors):
    return render_factors(SpriteFactors(32, **factors).sample(n, torch.Generator().manual_seed(seed)), 32)


def test_identical_samples_intersect_fully_and_disjoint_ones_not_at_all():
    values = torch.rand(200, 2)
    counts = histograms(values)
    assert torch.allclose(intersection(counts, counts, 200, 200), torch.ones(2))
    assert torch.allclose(intersection(histograms(values * 0.4), histograms(0.6 + values * 0.4), 200, 200),
                          torch.zeros(2))


def test_a_narrow_x_distribution_scores_low_on_x_only():
    metric = AttributeHistograms(["x", "y", "area"])
    metric.update(sprites(400, 0), sprites(400, 1, x=Normal(16, 0.5)))
    hi = metric.compute()
    assert hi["x"] < 0.5 and hi["y"] > 0.75 and hi["area"] > 0.75


def test_blank_images_count_in_the_total_but_in_no_bin():
    real = sprites(100, 0)
    fake = torch.cat([sprites(50, 1), torch.full((50, 3, 32, 32), -1.0)])
    metric = AttributeHistograms(["area"])
    metric.update(real, fake)
    assert metric.compute()["area"] <= 0.5 + 1e-6
    assert attribute_values(fake[50:], ["x"]).isnan().all()


def test_unit_mapping_puts_the_image_centre_at_one_half():
    assert torch.allclose(to_unit(torch.tensor([[16.0, 256.0, 0.0]]), ["x", "area", "orientation"], 32),
                          torch.tensor([[0.5, 0.25, 0.5]]))


def test_unknown_attribute_is_refused_with_the_valid_names():
    with pytest.raises(SteerError, match="choose from"):
        AttributeHistograms(["size"])
