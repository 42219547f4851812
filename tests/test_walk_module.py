"""WalkModule inside a Lightning Trainer: what is frozen, what learns."""

import pytest
import torch
from pytorch_lightning import Callback, Trainer

from steer.data import LatentDataModule
from steer.edits import Zoom
from steer.modules import WalkModule
from steer.walks import LinearWalk
from tests.support.known_direction import ZoomingGenerator


class WatchGenerator(Callback):
    def __init__(self):
        self.modes = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.modes.append(any(m.training for m in module.generator.modules()))


def fit(module, steps, batch_size=8, callbacks=()):
    trainer = Trainer(max_steps=steps, val_check_interval=steps, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=list(callbacks))
    trainer.fit(module, LatentDataModule(batch_size=batch_size, val_size=8))
    return trainer


@pytest.mark.slow
def test_generator_stays_frozen_in_eval_mode_and_outside_the_optimizer():
    module = WalkModule(ZoomingGenerator(), Zoom())
    before = {k: v.clone() for k, v in module.generator.state_dict().items()}  # BatchNorm running stats too
    watch = WatchGenerator()
    trainer = fit(module, steps=3, callbacks=[watch])
    assert watch.modes == [False, False, False]
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in module.walk.parameters()}
    after = module.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_linear_walk_learns_the_generators_known_zoom_direction():
    torch.manual_seed(0)
    module = WalkModule(ZoomingGenerator(), Zoom(min_scale=0.5, max_scale=2.0),
                        walk=lambda d, s, c: LinearWalk(d, s, c, init_std=0.01),
                        optimizer=lambda params: torch.optim.Adam(params, lr=0.05))
    fit(module, steps=60, batch_size=32)
    w = module.walk.w.detach()[0]
    assert w[-1].item() == pytest.approx(1.0, abs=0.15)  # z + log(s)·e_last zooms by exactly s
    assert w[-1].abs() > 3 * w[:-1].norm()
    metrics = module.trainer.callback_metrics
    assert metrics["val/loss"] < 0.2 * metrics["val/baseline_error/×2.00"]
    edit, grid = module.edit, module.edit.test_alphas()
    inside = [edit.describe(a) for a in grid[edit.in_training_range(grid)] if a.item() != 1]  # ×0.50 … ×2.00
    assert len(inside) < len(grid) - 1 and f"val/walk_error/{edit.describe(grid[-1])}" in metrics  # ×8.00 logged too
    mean_inside = torch.stack([metrics[f"val/walk_error/{label}"] for label in inside]).mean()
    assert metrics["val/loss"] == pytest.approx(mean_inside.item(), rel=1e-5)  # val/loss: the training range only


@pytest.mark.slow
def test_per_class_walk_on_a_conditional_generator_gets_labels_and_learns_per_class():
    from steer.generators import DCGAN
    from steer.walks import ClassLinearWalk

    module = WalkModule(DCGAN(latent_dim=8, resolution=16, width=4, num_classes=3), Zoom(), walk=ClassLinearWalk,
                        optimizer=lambda params: torch.optim.Adam(params, lr=0.05))
    before = module.walk.w.detach().clone()
    fit(module, steps=6, batch_size=12)
    moved = (module.walk.w.detach() - before).flatten(1).norm(dim=1)
    assert module.walk.w.shape == (3, 1, 8) and bool((moved > 0).all())
