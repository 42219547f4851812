"""GANModule: a plain GAN, and D, G and a walk trained jointly with edit augmentation (docs/methods.md §1)."""

import json

import pytest
import torch
from pytorch_lightning import Trainer

from steer.adversarial import Hinge, NonSaturating
from steer.discriminators import DCGANDiscriminator
from steer.edits import ShiftX
from steer.errors import SteerError
from steer.generators import DCGAN
from steer.modules import GANModule
from steer.sprites import SpriteFactors, SpritesDataModule
from tests.support import wandb_offline
from tests.support.scripts import run_script


def module(**options) -> GANModule:
    torch.manual_seed(0)
    return GANModule(DCGAN(latent_dim=8, resolution=16, width=4), DCGANDiscriminator(16, 4), **options)


def fit(gan: GANModule, batches: int = 1) -> list[str]:
    """Train ``batches`` batches; returns the order in which the optimizers stepped."""
    order = []
    trainer = Trainer(max_steps=batches * gan.steps_per_batch, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    names = {id(p): name for name in ("discriminator", "generator", "walk")
             for p in (getattr(gan, name).parameters() if getattr(gan, name) is not None else [])}
    original = gan.configure_optimizers

    def watched():
        optimizers = original()
        for opt in optimizers:
            opt.register_step_post_hook(lambda o, *_: order.append(names[id(o.param_groups[0]["params"][0])]))
        return optimizers

    gan.configure_optimizers = watched
    trainer.fit(gan, datamodule=SpritesDataModule(SpriteFactors(16), batch_size=4, n_val=4))
    return order


def snapshot(gan: GANModule) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in gan.state_dict().items()}


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


@pytest.mark.slow
def test_without_an_edit_it_is_a_plain_gan_stepping_d_then_g():
    gan = module()
    before = snapshot(gan)
    assert fit(gan, batches=2) == ["discriminator", "generator"] * 2
    after = snapshot(gan)
    assert gan.walk is None and changed(before, after, "discriminator.") and changed(before, after, "generator.")


@pytest.mark.slow
def test_joint_training_steps_d_g_then_w_and_moves_all_three():
    gan = module(edit=ShiftX(3), steer_weight=1.0, augment=ShiftX(3))
    before = snapshot(gan)
    assert fit(gan) == ["discriminator", "generator", "walk"]
    after = snapshot(gan)
    assert all(changed(before, after, p) for p in ("discriminator.", "generator.", "walk."))


def test_augmentation_edits_each_real_image_with_the_given_probability():
    images = SpritesDataModule(SpriteFactors(16), n_val=8).factors.sample(8, torch.Generator().manual_seed(0))
    from steer.sprites import render_factors
    real = render_factors(images, 16)
    always, never = module(augment=ShiftX(3), augment_probability=1.0), module(augment=ShiftX(3), augment_probability=0.0)
    assert torch.equal(never._augment(real, torch.Generator().manual_seed(1)), real)
    shifted = always._augment(real, torch.Generator().manual_seed(1))
    assert all(not torch.equal(a, b) for a, b in zip(shifted, real))


@pytest.mark.parametrize("loss", [NonSaturating(), Hinge()])
def test_gan_losses_prefer_a_discriminator_that_tells_real_from_fake(loss):
    sure, unsure = torch.full((4,), 3.0), torch.zeros(4)
    assert loss.discriminator(sure, -sure) < loss.discriminator(unsure, unsure)
    assert loss.generator(sure) < loss.generator(-sure)  # G gains when D calls its images real


@pytest.mark.parametrize("options, words", [
    ({"steer_weight": -1.0}, "steer_weight"),
    ({"steer_weight": 1.0}, "needs model.edit"),
    ({"augment_probability": 2.0}, "augment_probability"),
])
def test_bad_options_are_refused_in_one_line(options, words):
    with pytest.raises(SteerError, match=words):
        module(**options)


TINY = """
seed_everything: 0
model:
  class_path: steer.modules.GANModule
  init_args:
    generator: {class_path: steer.generators.DCGAN, init_args: {latent_dim: 8, resolution: 16, width: 4}}
    discriminator: {class_path: steer.discriminators.DCGANDiscriminator, init_args: {resolution: 16, width: 4}}
    edit: {class_path: steer.edits.ShiftX, init_args: {max_shift: 3}}
    steer_weight: 1.0
    augment: {class_path: steer.edits.ShiftX, init_args: {max_shift: 3}}
data:
  class_path: steer.data.SpritesDataModule
  init_args: {batch_size: 8, n_val: 16, samples: 2, factors: {size: 16}}
trainer: {max_steps: 6, val_check_interval: 2, log_every_n_steps: 1, enable_progress_bar: false}
"""


@pytest.mark.slow
def test_joint_run_from_yaml_logs_histograms_and_its_walk_is_evaluated_on_sprite_attributes(tmp_path):
    (tmp_path / "joint.yaml").write_text(TINY)
    trained = run_script("train.py", "fit", "--config", "joint.yaml", "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run = next((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    history = wandb_offline.history(run)
    assert any("val/hist_intersection/x" in row for row in history) and any("train/walk_loss" in row for row in history)
    assert list(run.glob("files/media/images/val/samples_*.png")) and list(run.glob("files/media/images/val/walk_*.png"))
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert any(k.startswith("discriminator.") for k in ckpt["state_dict"]) and ckpt["global_step"] == 6

    evaluated = run_script("evaluate.py", "steerability", "--checkpoint", "ckpt/last.ckpt", "--out", "report", "--n", "8",
                           "--batch_size", "8", "--wandb", "false", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["attributes"]["attributes"]["x"]["hist_intersection"] and (tmp_path / "report" / "attributes.png").is_file()

    # a walk on the trained generator, named by its checkpoint, finds the sprites data through it
    walk = ("model:\n  class_path: steer.modules.WalkModule\n  init_args:\n"
            "    generator: {class_path: steer.generators.TrainedGenerator, init_args: {checkpoint: ckpt/last.ckpt}}\n"
            "    edit: {class_path: steer.edits.ShiftX, init_args: {max_shift: 3}}\n"
            "data: {class_path: steer.data.LatentDataModule, init_args: {batch_size: 4, val_size: 4}}\n"
            "trainer: {max_steps: 2, val_check_interval: 2, enable_progress_bar: false}\n")
    (tmp_path / "walk.yaml").write_text(walk)
    trained = run_script("train.py", "fit", "--config", "walk.yaml", "--checkpoint.dirpath", "walk", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    evaluated = run_script("evaluate.py", "steerability", "--checkpoint", "walk/last.ckpt", "--out", "walk_report",
                           "--n", "8", "--batch_size", "8", "--wandb", "false", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "attributes" in json.loads((tmp_path / "walk_report" / "metrics.json").read_text())
