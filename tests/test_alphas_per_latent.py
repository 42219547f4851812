"""Several strengths per latent: K α share one target pass G(z); K = 1 is the stream and the step as before."""

import pytest
import torch
from pytorch_lightning import Trainer

from steer.data import LatentDataModule
from steer.edits import Color, Zoom
from steer.errors import SteerError
from steer.generators import DCGAN
from steer.modules import WalkModule
from steer.objective import steer_pair, steer_pairs
from steer.seeding import rng
from steer.walks import LinearWalk
from tests.test_latents import attached


def tiny_module(**options) -> WalkModule:
    torch.manual_seed(0)
    generator = DCGAN(latent_dim=8, resolution=16, width=4)
    torch.manual_seed(1)
    return WalkModule(generator, Zoom(), **options)


def first_batch(**kwargs) -> dict:
    return next(iter(attached(**kwargs).train_dataloader()))


def test_one_alpha_per_latent_draws_the_stream_as_before():
    got = first_batch(batch_size=4, seed=3)
    dm = attached(batch_size=4, seed=3)
    g = rng(3, "train", 0, 0)
    generator, edit = dm.trainer.lightning_module.generator, dm.trainer.lightning_module.edit
    assert torch.equal(got["z"], generator.sample_latent(4, g)) and torch.equal(got["alpha"], edit.sample_alpha(4, g))
    assert torch.equal(got["index"], torch.zeros(4, dtype=torch.long))


def test_a_batch_holds_batch_size_over_k_latents_with_k_alphas_each():
    got = first_batch(batch_size=8, alphas_per_latent=4)
    assert got["z"].shape == (2, 6) and got["alpha"].shape == (8, 3) and got["index"].shape == (2,)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 6, "alphas_per_latent": 4}, r"data.batch_size \(6\) must be a multiple of data.alphas_per_latent"),
    ({"alphas_per_latent": 0}, "data.alphas_per_latent must be ≥ 1, got 0.")])
def test_alphas_per_latent_that_does_not_fit_the_batch_is_refused(kwargs, message):
    with pytest.raises(SteerError, match=message):
        LatentDataModule(**kwargs)


def spy_on(module: WalkModule) -> list[tuple[int, bool]]:
    """The generator's calls during a step: (images, with gradients)."""
    calls, forward = [], module.generator.forward

    def counted(z, y=None):
        calls.append((len(z), torch.is_grad_enabled()))
        return forward(z, y)

    module.generator.forward = counted
    return calls


def test_k_alphas_run_the_target_once_per_latent_and_the_walk_once_per_pair():
    module = tiny_module()
    calls = spy_on(module)
    g = rng(0, "k-alpha")
    batch = {"z": torch.randn(2, 8, generator=g), "alpha": Zoom().sample_alpha(8, g), "index": torch.zeros(2).long()}
    module.training_step(batch, 0).backward()
    assert calls == [(2, False), (8, True)]  # 2 + 8 + (backward of 8) passes for 8 pairs, not 8 + 8 + 8
    assert module.walk.w.grad is not None and module.walk.w.grad.abs().sum() > 0


def test_shared_target_pairs_equal_the_pairs_of_repeated_latents():
    torch.manual_seed(0)
    generator, edit = DCGAN(latent_dim=8, resolution=16, width=4, num_classes=3).freeze(), Color()
    walk = LinearWalk(8, edit.sliders, 3)
    g = rng(0, "k-alpha-pairs")
    z, y, alpha = torch.randn(3, 8, generator=g), torch.tensor([0, 2, 1]), edit.sample_alpha(6, g)
    shared = steer_pairs(generator, edit, walk, z, alpha, y)
    repeated = steer_pair(generator, edit, walk, z.repeat_interleave(2, 0), alpha, y.repeat_interleave(2, 0))
    for a, b in zip(shared, repeated):
        torch.testing.assert_close(a, b)


def test_one_alpha_per_latent_is_the_single_pair_step_bit_for_bit():
    module = tiny_module()
    g = rng(0, "k1")
    z, alpha = torch.randn(4, 8, generator=g), Zoom().sample_alpha(4, g)
    loss = module.training_step({"z": z, "alpha": alpha, "index": torch.zeros(4).long()}, 0)
    pair = steer_pair(module.generator, module.edit, module.walk, z, alpha)
    assert torch.equal(loss, module.loss(pair.walked, pair.target, pair.mask))


def test_unequal_alphas_per_latent_are_refused():
    module = tiny_module()
    with pytest.raises(SteerError, match="7 strengths α for 2 latents"):
        steer_pairs(module.generator, module.edit, module.walk, torch.zeros(2, 8), torch.ones(7, 1))


@pytest.mark.slow
def test_training_with_k_alphas_per_latent_learns_through_the_trainer():
    module = tiny_module()
    w0 = module.walk.w.detach().clone()
    trainer = Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    dm = LatentDataModule(batch_size=8, alphas_per_latent=4)
    trainer.fit(module, dm)
    assert dm.state_dict() == {"position": 3} and not torch.equal(module.walk.w, w0)
