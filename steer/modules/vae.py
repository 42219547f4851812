"""BetaVAE: a β-VAE (Higgins et al., ICLR 2017) whose decoder is a steerable Generator."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from steer.errors import SteerError
from steer.generators.vae import VAEDecoder, doublings
from steer.media import grid, log_image
from steer.modules.recorded import RecordedModule
from steer.seeding import rng

#: A latent whose mean KL(q(z_j|x) ‖ N(0, 1)) over the validation set exceeds this (nats) is "active".
ACTIVE_KL = 0.1


class Terms(NamedTuple):
    """The β-VAE objective on a batch: ``loss`` = ``recon`` + β · ``kl``, all means over the batch."""

    loss: Tensor
    recon: Tensor  # (), nats per image
    kl: Tensor  # (), nats per image
    kl_per_latent: Tensor  # (N, latent_dim), per image and latent
    mu: Tensor  # (N, latent_dim)
    logits: Tensor  # (N, C, H, W) of the sampled z


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per coordinate, same shape as ``mu``."""
    # KL_j = ½ (μ_j² + σ_j² − log σ_j² − 1)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


def bernoulli_nll(logits: Tensor, images: Tensor) -> Tensor:
    """−log p(x|z) per image (N,), summed over channels and pixels; ``images`` in [-1, 1].

    The pixel intensities p = (x + 1)/2 ∈ [0, 1] are the Bernoulli targets:
    −log p(x|z) = −Σ_i [p_i log σ(l_i) + (1 − p_i) log(1 − σ(l_i))]. For the
    anti-aliased edge pixels (0 < p < 1) its minimum is their entropy, not 0.
    """
    targets = (images + 1) / 2
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).sum(1)


class Encoder(nn.Module):
    """q(z|x): the decoder's layout mirrored, images → (μ, log σ²), each (N, latent_dim)."""

    def __init__(self, decoder: VAEDecoder) -> None:
        super().__init__()
        c, w = decoder.channels, decoder.width
        layers: list[nn.Module] = [nn.Conv2d(c, w, 4, 2, 1), nn.ReLU()]
        for _ in range(doublings(decoder.resolution) - 1):
            layers += [nn.Conv2d(w, w, 4, 2, 1), nn.ReLU()]
        layers += [nn.Flatten(), nn.Linear(w * 4 * 4, decoder.hidden), nn.ReLU(),
                   nn.Linear(decoder.hidden, 2 * decoder.latent_dim)]
        self.main = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.main(images).chunk(2, dim=1)
        return mu, logvar


class BetaVAE(RecordedModule):
    """Trains an encoder and ``generator`` (the decoder) to maximise the β-VAE objective.

    Per image, with q(z|x) = N(μ(x), diag σ²(x)) and p(x|z) Bernoulli per pixel:

        L(x) = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ N(0, I))

    (``bernoulli_nll`` summed over pixels, ``gaussian_kl`` summed over latents;
    one reparameterised sample z = μ + σ ε per image). β = 1 is the plain VAE;
    β > 1 presses the posterior towards the prior and favours disentangled
    latents. The reconstruction term sums over every channel, so with C equal
    channels (white sprites) β weighs C times less against it than on 1-channel
    dSprites.

    Batches are dicts with ``image`` in [-1, 1] (``SpritesDataModule``). The
    noise ε of training step s on rank r comes from ``rng(seed, "vae-posterior",
    r, s)``. Validation logs ``val/loss``, ``val/recon``, ``val/kl``,
    ``val/kl_per_latent/j``, ``val/active_latents`` (latents with KL >
    ``ACTIVE_KL`` nats) and a grid of inputs, reconstructions and prior samples.
    After training, ``generator`` is the decoder that ``steer.restore.load_generator``
    returns from the checkpoint.
    """

    def __init__(
        self,
        generator: VAEDecoder,
        beta: float = 1.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        seed: int = 0,
        strip_images: int = 8,
    ) -> None:
        super().__init__()
        if not beta >= 0:
            raise SteerError(f"model.beta weighs the KL term and must be ≥ 0 (1: plain VAE), got {beta}.")
        if not isinstance(generator, VAEDecoder):
            raise SteerError(f"BetaVAE's generator must be a steer.generators.VAEDecoder, got {type(generator).__name__}.")
        self.save_hyperparameters(ignore=["generator", "optimizer"])
        self.generator = generator
        self.encoder = Encoder(generator)
        self.beta, self.seed, self.strip_images = beta, seed, strip_images
        self.optimizer = optimizer
        self.val_recon, self.val_kl = MeanMetric(), MeanMetric()
        self.val_kl_latent = nn.ModuleList(MeanMetric() for _ in range(generator.latent_dim))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.parameters())

    def terms(self, images: Tensor, noise: torch.Generator) -> Terms:
        """The objective on ``images`` (N, C, H, W) in [-1, 1], with ε drawn from ``noise``."""
        self._check_images(images)
        mu, logvar = self.encoder(images)
        eps = torch.randn(mu.shape, generator=noise).to(mu)
        z = mu + (0.5 * logvar).exp() * eps  # z = μ + σ ε
        logits = self.generator.logits(z)
        recon = bernoulli_nll(logits, images).mean()
        kl_per_latent = gaussian_kl(mu, logvar)
        kl = kl_per_latent.sum(1).mean()
        return Terms(recon + self.beta * kl, recon, kl, kl_per_latent, mu, logits)  # L = recon + β · KL

    def _check_images(self, images: Tensor) -> None:
        g = self.generator
        want = (g.channels, g.resolution, g.resolution)
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            raise SteerError(f"the data's images have shape {tuple(images.shape)}, but the VAE is built for (N, "
                             f"{', '.join(map(str, want))}); set the generator's channels/resolution to the data's "
                             "(sprites: channels 3, resolution = factors.size).")

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        t = self.terms(batch["image"], rng(self.seed, "vae-posterior", self.global_rank, self.global_step))
        n = len(batch["image"])
        self.log("train/loss", t.loss, prog_bar=True, batch_size=n)
        self.log_dict({"train/recon": t.recon, "train/kl": t.kl}, batch_size=n)
        return t.loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        images = batch["image"]
        t = self.terms(images, rng(self.seed, "vae-val", self.global_rank, batch_idx))
        self.val_recon.update(t.recon, len(images))
        self.val_kl.update(t.kl, len(images))
        for j, metric in enumerate(self.val_kl_latent):
            metric.update(t.kl_per_latent[:, j])
        if batch_idx == 0 and self.global_rank == 0 and self.logger is not None:
            k = min(self.strip_images, len(images))
            prior = self.generator.sample_latent(k, rng(self.seed, "vae-val-samples")).to(images)
            rows = [images[:k], self.generator(t.mu[:k]), self.generator(prior)]
            log_image(self.logger, "val/reconstructions", grid(rows), self.global_step,
                      caption="rows: inputs, reconstructions from μ(x), samples from the prior")

    def on_validation_epoch_end(self) -> None:
        recon, kl = self.val_recon.compute(), self.val_kl.compute()
        per_latent = torch.stack([m.compute() for m in self.val_kl_latent])
        self.log_dict({"val/loss": recon + self.beta * kl, "val/recon": recon, "val/kl": kl,
                       "val/active_latents": (per_latent > ACTIVE_KL).sum().float()})
        self.log_dict({f"val/kl_per_latent/{j}": v for j, v in enumerate(per_latent)})
        for metric in (self.val_recon, self.val_kl, *self.val_kl_latent):
            metric.reset()
