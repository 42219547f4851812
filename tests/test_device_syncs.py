"""No host-device sync per training or validation step, and a throughput figure that waits for the device.

On CUDA, reading a value of a tensor that lives on the device (``int``,
``item``, ``bool``, ``tolist``, ``cpu``) makes the host wait for every queued
kernel. There is no GPU here, so the check is structural: the batch fields
as they come out of the host-device transfer are spies that raise on any
such read, also through their views (``batch["index"][0]``). Values the step
computes from them are plain tensors (on the CPU, steer's CPU-only checks
read those, as they should); so this catches a read of a transferred batch
field, not every sync a step could make.
"""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback, Trainer
from pytorch_lightning.core.hooks import DataHooks
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor

from steer import callbacks
from steer.callbacks import Throughput, synchronize
from steer.data import LatentDataModule
from steer.discriminators import DCGANDiscriminator
from steer.edits import ShiftX, Zoom
from steer.generators import DCGAN
from steer.modules import GANModule, WalkModule
from steer.sprites import SpriteFactors, SpritesDataModule
from tests.support.known_direction import ZoomingGenerator

_VIEWS = {Tensor.__getitem__, Tensor.select, Tensor.narrow, Tensor.view, Tensor.reshape, Tensor.flatten,
          Tensor.squeeze, Tensor.unsqueeze, Tensor.expand, Tensor.contiguous, Tensor.detach, Tensor.to}


class OnDevice(Tensor):
    """A batch field after the transfer: reading its values on the host raises; views stay spies."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **(kwargs or {}))
        return out.as_subclass(cls) if func in _VIEWS and isinstance(out, Tensor) else out

    def _read(self, *args, **kwargs):
        raise AssertionError("a transferred batch field was read on the host (a device sync on CUDA)")

    item = tolist = cpu = numpy = __int__ = __float__ = __bool__ = __index__ = _read


def transfer_as_spies(self, batch, device, dataloader_idx):
    moved = move_data_to_device(batch, device)
    return {k: v.as_subclass(OnDevice) if isinstance(v, Tensor) else v for k, v in moved.items()}


def trainer(steps: int, **options) -> Trainer:
    return Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, **options)


def test_the_spy_catches_a_read_of_the_batch_index_after_the_transfer():
    batch = transfer_as_spies(None, {"index": torch.full((4,), 7)}, torch.device("cpu"), 0)
    with pytest.raises(AssertionError, match="read on the host"):
        int(batch["index"][0])
    assert len(batch["index"] + 1) == 4  # computing with it is no read


@pytest.mark.slow
def test_walk_training_and_validation_steps_never_read_a_transferred_batch_field(monkeypatch):
    monkeypatch.setattr(DataHooks, "transfer_batch_to_device", transfer_as_spies)
    module = WalkModule(ZoomingGenerator(), Zoom())
    module.finite_check_every = 2  # the accelerator's path: the loss check stays on the device
    data = LatentDataModule(batch_size=4, val_size=4)
    trainer(4, val_check_interval=2).fit(module, data)
    assert data.position == 4  # the stream still advanced, from the index read on the host


@pytest.mark.slow
def test_gan_training_steps_never_read_a_transferred_batch_field(monkeypatch):
    monkeypatch.setattr(DataHooks, "transfer_batch_to_device", transfer_as_spies)
    torch.manual_seed(0)
    gan = GANModule(DCGAN(latent_dim=8, resolution=16, width=4), DCGANDiscriminator(16, 4), edit=ShiftX(2),
                    augment=ShiftX(2))
    data = SpritesDataModule(SpriteFactors(16), batch_size=4, n_val=4)
    trainer(6, limit_val_batches=0).fit(gan, datamodule=data)
    assert data.position == 2


def test_synchronize_waits_for_cuda_devices_only(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    synchronize(torch.device("cpu"))
    synchronize(torch.device("cuda", 1))
    assert waited == [torch.device("cuda", 1)]


class RecordStep(Callback):
    def __init__(self):
        self.step = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.step += 1


@pytest.mark.slow
def test_throughput_synchronises_the_device_on_logging_steps_and_at_the_end_only(monkeypatch):
    steps = RecordStep()
    synced = []
    monkeypatch.setattr(callbacks, "synchronize", lambda device: synced.append((steps.step, device.type)))
    logged = []
    throughput = Throughput()
    module = WalkModule(ZoomingGenerator(), Zoom())
    original = module.log
    monkeypatch.setattr(module, "log", lambda name, value, **kw: (
        logged.append(steps.step) if name == "train/images_per_second" else None, original(name, value, **kw))[1])
    trainer(7, log_every_n_steps=3, limit_val_batches=0, callbacks=[steps, throughput]).fit(
        module, LatentDataModule(batch_size=4, val_size=4))
    assert synced == [(3, "cpu"), (6, "cpu"), (7, "cpu")]  # steps 3 and 6 log; 7: the end of training
    assert logged == [3, 6]
    assert throughput.images == 28 and throughput.images_per_second() > 0


def test_validation_errors_are_not_read_back_for_nan_so_a_nan_error_gives_a_nan_mean():
    module = WalkModule(ZoomingGenerator(), Zoom())
    module.val_walk[0].update(torch.tensor([1.0, float("nan")]))  # torchmetrics' NaN check would read it back
    assert module.val_walk[0].compute().isnan()
