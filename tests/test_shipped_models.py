"""The models steer ships (checkpoints/sprites) load as generators, and their configs rebuild them."""

from pathlib import Path

import pytest
import torch
import yaml
from pytorch_lightning import LightningModule

from steer.restore import build, load_generator

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "checkpoints" / "sprites").glob("*.ckpt"))


def test_the_sprites_models_are_shipped():
    assert {p.stem for p in SHIPPED} >= {"gan_biased_x", "gan_augmented_x", "joint_shift_x", "gan_white",
                                         "gan_white_z4", "vae_beta1", "vae_beta4"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_checkpoint_generates_sprites_and_its_config_rebuilds_the_same_model(path):
    generator = load_generator(str(path))
    images = generator(generator.sample_latent(4, torch.Generator().manual_seed(0)))
    assert images.shape == (4, 3, 32, 32) and images.isfinite().all() and images.abs().max() <= 1

    command = torch.load(path, weights_only=True)["steer"]["command"]
    config = ROOT / command[command.index("--config") + 1]
    assert config.is_file(), f"{path.name} was made by {config}, which the repository must hold"
    rebuilt = build(yaml.safe_load(config.read_text())["model"], LightningModule, "model").state_dict()
    shipped = torch.load(path, weights_only=True)["state_dict"]
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in shipped.items()}
