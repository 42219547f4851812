"""bf16 autocast (``--trainer.precision bf16-mixed``): the generator runs in bf16, losses and metrics in fp32."""

import pytest
import torch
from pytorch_lightning import Callback, Trainer

from steer.data import LatentDataModule
from steer.edits import Zoom
from steer.generators import DCGAN
from steer.modules import WalkModule


class Dtypes(Callback):
    def __init__(self) -> None:
        self.losses: list[torch.dtype] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].dtype)


@pytest.mark.slow
def test_bf16_mixed_runs_the_generator_in_bf16_and_the_loss_and_validation_in_fp32():
    torch.manual_seed(0)
    module = WalkModule(DCGAN(latent_dim=8, resolution=16, width=4), Zoom())
    images, forward = [], module.generator.forward
    module.generator.forward = lambda z, y=None: images.append(forward(z, y).dtype) or forward(z, y)
    dtypes = Dtypes()
    trainer = Trainer(precision="bf16-mixed", max_steps=2, limit_val_batches=1, val_check_interval=2, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=[dtypes])
    trainer.fit(module, LatentDataModule(batch_size=4, val_size=4, alphas_per_latent=2))
    assert set(images) == {torch.bfloat16}
    assert dtypes.losses == [torch.float32, torch.float32]
    assert trainer.callback_metrics["val/loss"].dtype == torch.float32
    assert module.walk.w.dtype == torch.float32 and torch.isfinite(module.walk.w).all()
