"""The β-VAE: its objective, its training through train.py, and its decoder as a steerable Generator."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from steer.discovery.sefa import sefa
from steer.errors import SteerError
from steer.generators import VAEDecoder
from steer.modules import BetaVAE
from steer.modules.vae import bernoulli_nll, gaussian_kl
from steer.restore import load_generator
from steer.seeding import rng
from steer.sprites import Fixed, SpriteFactors, Uniform, render_factors
from tests.support import wandb_offline
from tests.support.scripts import run_script

TINY_VAE_YAML = """
seed_everything: 0
model:
  class_path: steer.modules.BetaVAE
  init_args:
    beta: 4.0
    generator:
      class_path: steer.generators.VAEDecoder
      init_args: {latent_dim: 4, resolution: 16, channels: 3, width: 4, hidden: 16}
data:
  class_path: steer.data.sprites.SpritesDataModule
  init_args:
    batch_size: 8
    n_val: 16
    factors: {size: 16}
trainer:
  max_steps: 4
  val_check_interval: 2
  log_every_n_steps: 1
  enable_progress_bar: false
  enable_model_summary: false
"""


def white_sprites(n: int, size: int = 8) -> torch.Tensor:
    factors = SpriteFactors(size, x=Uniform(0.3 * size, 0.7 * size), y=Uniform(0.3 * size, 0.7 * size),
                            rotation=Fixed(0.0), red=Fixed(1.0), green=Fixed(1.0), blue=Fixed(1.0))
    return render_factors(factors.sample(n, rng(0, "test-vae-sprites")), size)


def test_kl_matches_the_closed_form_on_a_toy_posterior():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # ½(μ² + σ² − log σ² − 1): ½(1 + 1 − 0 − 1) = 0.5 and ½(0 + 4 − log 4 − 1)
    expected = torch.tensor([[0.5, 0.5 * (3 - math.log(4.0))]])
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_loss_is_reconstruction_plus_beta_times_kl_of_the_encoders_posterior():
    torch.manual_seed(0)
    vae = BetaVAE(VAEDecoder(latent_dim=3, resolution=8, width=4, hidden=8), beta=3.0)
    images = white_sprites(5)
    t = vae.terms(images, rng(0, "test-noise"))
    torch.testing.assert_close(t.loss, t.recon + 3.0 * t.kl)
    mu, logvar = vae.encoder(images)
    closed = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(t.kl_per_latent, closed)
    torch.testing.assert_close(t.kl, closed.sum(1).mean())
    # recon: −Σ [p log σ(l) + (1 − p) log(1 − σ(l))] per image, p = (x + 1)/2
    p = (images + 1) / 2
    nll = -(p * torch.nn.functional.logsigmoid(t.logits) + (1 - p) * torch.nn.functional.logsigmoid(-t.logits))
    torch.testing.assert_close(t.recon, nll.flatten(1).sum(1).mean())
    torch.testing.assert_close(bernoulli_nll(t.logits, images), nll.flatten(1).sum(1))


def test_the_same_noise_stream_gives_the_same_loss():
    vae = BetaVAE(VAEDecoder(latent_dim=3, resolution=8, width=4, hidden=8))
    images = white_sprites(4)
    a, b = (vae.terms(images, rng(0, "vae-posterior", 0, 7)).loss for _ in range(2))
    assert a == b != vae.terms(images, rng(0, "vae-posterior", 0, 8)).loss


def test_loss_decreases_on_a_tiny_fixed_dataset():
    torch.manual_seed(0)
    vae = BetaVAE(VAEDecoder(latent_dim=4, resolution=8, width=8, hidden=32), beta=1.0)
    images = white_sprites(32)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for step in range(60):
        t = vae.terms(images, rng(0, "test-train", step))
        optimizer.zero_grad()
        t.loss.backward()
        optimizer.step()
        losses.append(t.loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)


@pytest.mark.slow
def test_tiny_vae_trains_through_train_py_and_its_checkpoint_loads_as_a_frozen_steerable_decoder(tmp_path):
    config = tmp_path / "tiny_vae.yaml"
    config.write_text(TINY_VAE_YAML)
    result = run_script("train.py", "fit", "--config", str(config), "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = next((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert list(run.glob("files/media/images/val/reconstructions_*.png")), "no reconstruction grid was logged"
    history = wandb_offline.history(run)
    val = [row for row in history if "val/active_latents" in row]
    assert val and all(f"val/kl_per_latent/{j}" in val[-1] for j in range(4))
    assert 0 <= val[-1]["val/active_latents"] <= 4 and val[-1]["val/recon"] > 0
    assert any("train/loss" in row for row in history)

    decoder = load_generator(str(tmp_path / "ckpt" / "last.ckpt"))
    assert isinstance(decoder, VAEDecoder) and decoder.frozen and not decoder.training
    assert not any(p.requires_grad for p in decoder.parameters())
    trained = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["state_dict"]
    torch.testing.assert_close(decoder.main[0].weight, trained["generator.main.0.weight"])
    assert decoder.first_projection().shape == (16, 4)
    directions, _ = sefa(decoder, 2)
    assert directions.shape == (2, 4)
    z = decoder.sample_latent(3, rng(0, "test-z"))
    assert decoder.features(z, "main.1").shape == (3, 16) and decoder.features(z, "main.6").shape == (3, 4, 8, 8)
    images = decoder(z)
    assert images.shape == (3, 3, 16, 16) and images.min() >= -1 and images.max() <= 1


@pytest.mark.parametrize("build, message", [
    (lambda: BetaVAE(VAEDecoder(latent_dim=2, resolution=8), beta=-1.0), "model.beta weighs the KL term and must be ≥ 0"),
    (lambda: VAEDecoder(latent_dim=0, resolution=8), "latent_dim and resolution must be positive"),
    (lambda: VAEDecoder(latent_dim=2, resolution=24), "resolution must be a power of two ≥ 8"),
    (lambda: VAEDecoder(latent_dim=2, resolution=4), "resolution must be a power of two ≥ 8"),
    (lambda: VAEDecoder(latent_dim=2, resolution=8).features(torch.zeros(1, 2), "99"), "VAEDecoder has no layer '99'; layers are module paths"),
    (lambda: BetaVAE(VAEDecoder(latent_dim=2, resolution=16)).terms(white_sprites(2, size=8), rng(0)),
     "the data's images have shape (2, 3, 8, 8), but the VAE is built for (N, 3, 16, 16)"),
], ids=["negative-beta", "zero-latent-dim", "resolution-24", "resolution-4", "unknown-layer", "data-size-mismatch"])
def test_bad_vae_settings_raise_one_clear_line(build, message):
    with pytest.raises(SteerError) as error:
        build()
    assert message in str(error.value) and "\n" not in str(error.value)

