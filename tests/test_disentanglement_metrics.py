"""MIG, DCI, FactorVAE score and SAP give the known answers on synthetic codes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from steer.errors import SteerError
from steer.metrics import DCI, MIG, SAP, FactorVAEScore, dci, factorvae_score, mig, sap

N = 1500


def factors(n: int = N, k: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def rotated(f: torch.Tensor) -> torch.Tensor:
    """The first two factors mixed at 45°, the rest as they are."""
    code = f.clone()
    code[:, 0], code[:, 1] = (f[:, 0] + f[:, 1]) / math.sqrt(2), (f[:, 0] - f[:, 1]) / math.sqrt(2)
    return code


def noisy(f: torch.Tensor, std: float) -> torch.Tensor:
    return f + std * torch.randn(f.shape, generator=torch.Generator().manual_seed(1), dtype=f.dtype)


def test_a_code_equal_to_the_factors_scores_near_one_everywhere():
    f = factors()
    d = dci(f, f)
    assert mig(f, f) > 0.95
    assert d.disentanglement > 0.98 and d.completeness > 0.98 and d.informativeness > 0.98
    assert factorvae_score(f, f) > 0.98
    assert sap(f, f) > 0.98


def test_a_45_degree_rotation_of_two_factors_lowers_mig_dci_and_sap():
    f = factors()
    code = rotated(f)
    d = dci(code, f)
    assert mig(code, f) < 0.45  # two of three factors shared equally by two dimensions: gap ≈ 0 for them
    assert d.disentanglement < 0.7 and d.completeness < 0.7
    assert d.informativeness > 0.95  # the rotation loses no information
    assert sap(code, f) < 0.45


def test_scores_fall_monotonically_as_noise_grows():
    f = factors()
    rows = [(mig(c, f).item(), dci(c, f).disentanglement.item(), sap(c, f).item())
            for c in (noisy(f, s) for s in (0.0, 0.05, 0.1, 0.2, 0.4))]
    for metric in zip(*rows):
        assert all(a > b for a, b in zip(metric, metric[1:])), rows


def test_a_redundant_dimension_lowers_completeness_not_disentanglement():
    f = factors()
    d = dci(torch.cat([f, f[:, :1]], 1), f)
    assert d.completeness < 0.9 and d.disentanglement > 0.95


def test_the_factorvae_score_ignores_collapsed_dimensions_and_drops_for_a_rotation():
    f = factors()
    collapsed = torch.cat([f, 1e-4 * noisy(f, 1.0)[:, :2]], 1)  # tiny-variance dimensions: never voted for
    assert factorvae_score(collapsed, f) > 0.98
    assert factorvae_score(rotated(f), f) < 0.8


F600 = factors(600)
CODE = torch.cat([rotated(F600), noisy(F600, 0.3)[:, :1]], 1)
UNPERMUTED = {"mig": mig(CODE, F600).item(), "dci": dci(CODE, F600, trees=20).disentanglement.item()}


@settings(max_examples=6, deadline=None)
@given(st.permutations(range(4)))
def test_permuting_code_dimensions_leaves_mig_and_dci_disentanglement_unchanged(order):
    permuted = CODE[:, list(order)]
    assert mig(permuted, F600).item() == pytest.approx(UNPERMUTED["mig"], abs=1e-12)
    # the forests see the columns in another order, so their random splits differ a little
    assert dci(permuted, F600, trees=20).disentanglement.item() == pytest.approx(UNPERMUTED["dci"], abs=0.05)


def test_metrics_updated_batch_by_batch_equal_the_function_on_the_whole_sample():
    f = factors(900)
    code = noisy(f, 0.1)
    metrics = {"mig": (MIG(), mig), "sap": (SAP(), sap), "factorvae": (FactorVAEScore(), factorvae_score)}
    for metric, _ in metrics.values():
        for rows in torch.arange(900).split(250):
            metric.update(code[rows], f[rows])
    for metric, function in metrics.values():
        assert metric.compute().item() == pytest.approx(function(code, f).item())
    whole = DCI()
    whole.update(code, f)
    assert whole.compute()["disentanglement"].item() == pytest.approx(dci(code, f).disentanglement.item())


@pytest.mark.parametrize("codes, values, message", [
    (torch.zeros(10, 3), torch.zeros(9, 2), "same N"),
    (torch.full((10, 3), math.nan), torch.zeros(10, 2), "finite"),
    (torch.zeros(10, 1), torch.rand(10, 2), "dimension"),
])
def test_bad_codes_or_factors_get_one_clear_error(codes, values, message):
    with pytest.raises(SteerError, match=message):
        mig(codes, values)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_a_metric_computed_before_any_update_says_so():
    with pytest.raises(SteerError, match="before any update"):
        MIG().compute()
