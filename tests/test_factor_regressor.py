"""The factor regressor g_θ on synthetic records whose direction and factor curve are known."""

import math

import pytest
import torch
from pytorch_lightning import Trainer

from steer.cli import SteerCLI
from steer.data.trajectories import TrajectoryDataModule
from steer.errors import SteerError
from steer.formats.trajectories import Records, save_records
from steer.modules.factor_regressor import FactorRegressor
from steer.restore import load_module
from steer.sprites import Fixed, Uniform
from tests.support.scripts import ROOT

D = 8
U = torch.nn.functional.normalize(torch.randn(D, generator=torch.Generator().manual_seed(3)), dim=0)
TS = torch.tensor([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
STARTS = 48


def true_g(s):
    """The factor (e.g. pixels) as a function of ⟨u, z⟩: monotone, not linear."""
    return 2 * s + 0.3 * s**3


def true_g_inverse(y):
    s = y / 2
    for _ in range(30):  # Newton
        s = s - (true_g(s) - y) / (2 + 0.9 * s**2)
    return s


def true_factor(z):
    return true_g(z @ U)


def synthetic_records():
    """Exact trajectories (z_t moves along u until the factor changed by t), a tenth of them corrupted."""
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(STARTS, D, generator=g).repeat_interleave(len(TS), 0)
    t = TS.repeat(STARTS)
    s0 = z0 @ U
    z_t = z0 + (true_g_inverse(true_g(s0) + t) - s0)[:, None] * U
    loss = torch.rand(len(t), generator=g) * 0.01
    corrupted = torch.randperm(len(t), generator=g)[: len(t) // 10]
    z_t[corrupted] = torch.randn(len(corrupted), D, generator=g) * 2  # failed inversions: a high final loss
    loss[corrupted] = 1 + torch.rand(len(corrupted), generator=g)
    return Records(z0, z_t, t, t.clone(), loss, torch.arange(STARTS).repeat_interleave(len(TS))), corrupted


@pytest.fixture(scope="module")
def records_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("records") / "records.pt"
    save_records(synthetic_records()[0], path)
    return path


@pytest.fixture(scope="module")
def fitted(records_file):
    torch.manual_seed(0)
    module = FactorRegressor(D, lr=0.1)
    data = TrajectoryDataModule(str(records_file), batch_size=32)
    Trainer(max_epochs=25, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, check_val_every_n_epoch=25).fit(module, data)
    return module.eval(), data


@pytest.mark.slow
def test_worst_decile_is_dropped_before_training(fitted):
    _, data = fitted
    records, corrupted = synthetic_records()
    kept = torch.cat([data.train_set.records.loss, data.val_set.records.loss])
    assert len(kept) == math.ceil(0.9 * len(records)) and kept.max() < 1  # no corrupted record left
    assert len(corrupted) == len(records) - len(kept)
    assert not set(data.train_set.records.start.tolist()) & set(data.val_set.records.start.tolist())


@pytest.mark.slow
def test_recovers_the_direction_and_a_monotone_factor_curve(fitted):
    module, _ = fitted
    assert module.direction @ U > 0.995
    s = torch.linspace(-2, 2, 41)
    with torch.no_grad():
        g = module.g(s)
    assert (g.diff() > 0).all() and g[20] == 0  # increasing, anchored at g(0) = 0
    truth = true_g(s) - true_g(torch.tensor(0.0))
    assert (g - truth).abs().max() < 0.1 * truth.abs().max()


@pytest.mark.slow
def test_latent_for_reaches_requested_values_absolute_and_relative(fitted):
    module, _ = fitted
    z = torch.randn(16, D, generator=torch.Generator().manual_seed(5))
    moved = module.latent_for(z, 2.5)
    assert torch.allclose(module.factor(moved), torch.full((16,), 2.5), atol=1e-4)
    assert (true_factor(moved) - 2.5).abs().max() < 0.3  # the true factor, up to the fit's error
    ortho = lambda x: x - (x @ module.direction)[:, None] * module.direction  # noqa: E731
    assert torch.allclose(ortho(moved), ortho(z), atol=1e-5)  # only the u-coordinate changes
    stepped = module.latent_for(z, -1.0, relative=True)
    assert ((true_factor(stepped) - true_factor(z)) + 1.0).abs().max() < 0.3


@pytest.mark.slow
def test_offset_from_measured_attributes_makes_requests_absolute(fitted):
    module, _ = fitted
    z = torch.randn(64, D, generator=torch.Generator().manual_seed(6))
    measured = true_factor(z) + 32.0  # e.g. x positions in pixels: 32 at the median latent
    try:
        assert module.fit_offset(z, measured) == pytest.approx(32.0, abs=0.3)
        moved = module.latent_for(z[:8], 34.0)
        assert (true_factor(moved) + 32.0 - 34.0).abs().max() < 0.3
        with pytest.raises(SteerError, match="one finite measurement per latent"):
            module.fit_offset(z, measured[:3])
    finally:
        module.offset.zero_()


@pytest.mark.slow
def test_sample_follows_the_target_distribution(fitted):
    module, _ = fitted
    g = torch.Generator().manual_seed(7)
    z = module.sample(4000, Uniform(-4.0, 4.0), g)
    factor = module.factor(z)
    assert factor.min() >= -4 - 1e-4 and factor.max() <= 4 + 1e-4
    assert factor.mean().abs() < 0.15 and factor.std().item() == pytest.approx(8 / math.sqrt(12), rel=0.05)
    assert (true_factor(z) - factor).abs().mean() < 0.2
    u = module.direction.detach()
    ortho = z - (z @ u)[:, None] * u
    assert ortho.pow(2).sum(1).mean().item() == pytest.approx(D - 1, rel=0.05)  # the rest of N(0, I) is kept
    assert torch.allclose(module.factor(module.sample(5, Fixed(1.5), g)), torch.full((5,), 1.5), atol=1e-4)


@pytest.mark.slow
def test_train_py_fit_from_the_shipped_yaml_and_load_through_restore(records_file, tmp_path):
    SteerCLI(args=["fit", "--config", str(ROOT / "configs/discovery/factor_regressor.yaml"),
                   "--model.init_args.latent_dim", str(D), "--data.init_args.records", str(records_file),
                   "--data.init_args.batch_size", "64", "--trainer.max_epochs", "2",
                   "--trainer.check_val_every_n_epoch", "1", "--trainer.logger", "false",
                   "--trainer.enable_progress_bar", "false", "--checkpoint.dirpath", str(tmp_path / "ckpt")])
    module, record = load_module(tmp_path / "ckpt" / "last.ckpt")
    assert isinstance(module, FactorRegressor) and module.latent_dim == D
    assert record["config"]["data"]["init_args"]["records"] == str(records_file)
    trained = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(module.v, trained["v"]) and not torch.equal(module.v, FactorRegressor(D).v)


@pytest.mark.slow
def test_records_of_another_latent_size_are_a_user_error(records_file):
    with pytest.raises(SteerError, match="model.latent_dim is 4"):
        Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False).fit(FactorRegressor(4), TrajectoryDataModule(str(records_file)))
