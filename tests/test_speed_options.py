"""WalkModule's speed options change the speed, not the results; the sync-free NaN check still names the step."""

import pytest
import torch
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint

from steer.data import LatentDataModule
from steer.edits import Zoom
from steer.errors import SteerError
from steer.generators import DCGAN
from steer.modules import WalkModule
from steer.seeding import rng


def tiny_module(**options) -> WalkModule:
    torch.manual_seed(0)
    generator = DCGAN(latent_dim=8, resolution=16, width=4)
    torch.manual_seed(1)
    return WalkModule(generator, Zoom(), **options)


def batch(n: int = 6) -> dict:
    g = rng(0, "test-speed")
    return {"z": torch.randn(n, 8, generator=g), "alpha": Zoom().sample_alpha(n, g), "index": torch.zeros(n).long()}


def loss_and_grad(module: WalkModule, data: dict) -> tuple[torch.Tensor, torch.Tensor]:
    module.walk.zero_grad()
    loss = module.training_step(data, 0)
    loss.backward()
    return loss.detach(), module.walk.w.grad.clone()


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"channels_last": True}, {"compile": True}],
                         ids=["channels_last", "compile"])
def test_speed_options_give_the_same_loss_gradient_and_checkpoint_keys(options):
    from torch._dynamo.utils import counters

    counters.clear()
    plain, fast = tiny_module(), tiny_module(**options)
    assert torch.equal(plain.walk.w, fast.walk.w)
    data = batch()
    for _ in range(2):  # the second call runs the compiled code, not the first-call tracing
        ref, got = loss_and_grad(plain, data), loss_and_grad(fast, data)
        torch.testing.assert_close(got[0], ref[0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-4, atol=1e-6)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    assert (counters["stats"]["unique_graphs"] > 0) == bool(options.get("compile"))  # compiled code ran
    assert fast.hparams[next(iter(options))] is True


def test_channels_last_stores_the_generator_convolutions_channels_last():
    module = tiny_module(channels_last=True)
    weight = module.generator.main[3].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def accelerator_like(monkeypatch) -> None:
    """Skip the generator's and walk's CPU-only NaN checks of their inputs, as on an accelerator."""
    import steer.generators.base
    import steer.walks

    for module in (steer.generators.base, steer.walks):
        monkeypatch.setattr(module, "check_finite", lambda *args, **kwargs: None)


class LateNaNZoom(Zoom):
    """A zoom whose targets turn NaN from its ``start``-th call on (0-based)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.calls = start, 0

    def apply(self, images, alpha):
        edited, mask = super().apply(images, alpha)
        self.calls += 1
        return (edited * float("nan") if self.calls > self.start else edited), mask


@pytest.mark.slow
@pytest.mark.parametrize("every", [1, 2, 16], ids=["every-step", "periodic-read", "read-before-checkpoint"])
def test_a_nan_loss_stops_training_naming_its_step_and_no_spoilt_checkpoint_is_written(tmp_path, monkeypatch, every):
    """``every`` > 1 is the accelerator path (a device-side record, read every few steps), run here on the CPU.

    On an accelerator the generator and the walk do not check their inputs for NaN (a sync per call), so the
    NaN walk runs on until the record is read; with 16 that read comes from the checkpoint at step 10, before
    anything is written.
    """
    if every > 1:
        accelerator_like(monkeypatch)
    torch.manual_seed(0)
    module = WalkModule(DCGAN(latent_dim=8, resolution=16, width=4), LateNaNZoom(start=5))
    module.finite_check_every = every
    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=10, save_last=False)
    trainer = Trainer(max_steps=20, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, num_sanity_val_steps=0, callbacks=[checkpoint])
    with pytest.raises(SteerError, match=r"loss became nan at step 5 \(batch 5\)"):
        trainer.fit(module, LatentDataModule(batch_size=4))
    assert not list(tmp_path.glob("*.ckpt"))


@pytest.mark.slow
def test_the_device_side_record_also_stops_a_run_that_ends_between_two_reads(monkeypatch):
    accelerator_like(monkeypatch)
    torch.manual_seed(0)
    module = WalkModule(DCGAN(latent_dim=8, resolution=16, width=4), LateNaNZoom(start=2))
    module.finite_check_every = 50
    trainer = Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    with pytest.raises(SteerError, match="at step 2"):
        trainer.fit(module, LatentDataModule(batch_size=4))
