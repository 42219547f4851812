"""GANModule: GAN training, and joint generator + walk training with edit augmentation (docs/methods.md §1).

One module covers both (the issue's items 3 and 4): without an ``edit`` it is a
plain GAN; with one it trains D, G and a walk w together as in the
steerability paper's §4.4:

    L_D = adv_D(D(x̃), D(G(z)), D(G(z + αw)))        x̃: real data, edited at random α if ``augment``
    L_G = adv_G(D(G(z))) + adv_G(D(G(z + αw))) + λ · L2_m(G(z + αw), edit(G_eval(z), α))
    L_w = L2_m(G(z + αw), edit(G_eval(z), α))         (w's own optimizer)

per batch in the order D, G, w. With λ = 0 the walk never pulls G, and
with no edit and no augmentation the step is the plain GAN's D, G.

The §4.4 public code (steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py,
docs/PAPER_PRESETS.md) differs in two ways, each an option here:
``walk_adversarial`` μ adds its adversarial term to w's loss,

    L_w = μ · adv_G(D(G(z + αw))) + L2_m(G(z + αw), edit(G_eval(z), α))     (their walk_loss, μ = 1)

(its pass through D, in train mode, also updates D's BatchNorm running
statistics) and ``schedule="DGwGw"`` runs G and w twice per batch (their
order D, G, w, G, w; G's images are drawn anew for the second G step).

Class-conditional GANs (the §4.4 MNIST run): with a discriminator that has
``num_classes`` (a projection discriminator, steer.discriminators), D sees
real images with their labels (``batch["label"]``) and every fake with the
class it was generated for: D(x̃, y_real), D(G(z, y), y), D(G(z + αw, y), y).
The walk is one w shared by all classes (LinearWalk), as the paper's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn

from steer.adversarial import GANLoss, NonSaturating
from steer.edits import Edit
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.losses import MaskedL2
from steer.media import grid, log_image
from steer.modules.distributed import detect_unused_parameters
from steer.modules.recorded import RecordedModule
from steer.modules.walk import WalkFactory
from steer.objective import Pair, repeat_alpha, steer_pair, walked_image
from steer.seeding import rng
from steer.sprites.histograms import AttributeHistograms
from steer.walks import LinearWalk

SCHEDULES = ("DGw", "DGwGw")

# Histogram intersections are torchmetrics states, synced across ranks by compute().
warnings.filterwarnings("ignore", message=r"It is recommended to use `self\.log\('val/(hist_intersection/[^']*|loss)', ")


class GANModule(RecordedModule):
    """Trains ``generator`` against ``discriminator`` on image batches (``batch["image"]`` in [-1, 1]).

    ``augment``: an edit applied to each real image with probability
    ``augment_probability`` at a random α (``augment.sample_alpha``), drawn
    anew every batch (the steerability paper's data augmentation).
    ``edit`` (+ ``walk``, ``steer_weight`` λ): train a walk jointly (see the
    module docstring); ``walk_adversarial`` (μ ≥ 0, default 0) weighs the
    adversarial term of w's own loss and ``schedule`` ("DGw", or the paper
    code's "DGwGw") orders the steps (module docstring, docs/PAPER_PRESETS.md). Latents, α and augmentation come from
    ``rng(seed, "gan", rank, batch index)``, so a resumed run draws what the
    uninterrupted one would.

    Manual optimisation: Lightning's ``global_step`` counts every optimizer
    step, i.e. 2 per batch (D, G), or 3 with a walk (D, G, w), 5 with ``schedule="DGwGw"``
    (:attr:`steps_per_batch`); set ``trainer.max_steps`` accordingly. Under any DDP strategy the module turns
    on DDP's detection of unused parameters itself (each step's backward
    reaches one part); BatchNorm is per rank unless the trainer's
    ``sync_batchnorm`` (docs/JOINT_STEERING.md, "On several GPUs").

    Validation: for every real validation image one generated image
    (fixed latents); the histogram intersection of each measured attribute
    (``attributes``) between the two is logged as ``val/hist_intersection/<name>``,
    and ``val/loss`` = 1 − the smallest of them (what ``best.ckpt`` tracks). A
    grid of samples, and with a walk a strip along the edit's test α, is logged.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: nn.Module,
        adversarial: GANLoss | None = None,
        edit: Edit | None = None,
        walk: WalkFactory = LinearWalk,
        steer_weight: float = 0.0,
        walk_adversarial: float = 0.0,
        schedule: Literal["DGw", "DGwGw"] = "DGw",
        augment: Edit | None = None,
        augment_probability: float = 0.5,
        g_optimizer: OptimizerCallable = torch.optim.Adam,
        d_optimizer: OptimizerCallable = torch.optim.Adam,
        w_optimizer: OptimizerCallable = torch.optim.Adam,
        seed: int = 0,
        attributes: Sequence[str] = ("x", "y", "area", "red", "green", "blue"),
        samples: int = 8,
    ) -> None:
        super().__init__()
        if steer_weight < 0:
            raise SteerError(f"model.steer_weight (λ) must be ≥ 0, got {steer_weight}.")
        if steer_weight > 0 and edit is None:
            raise SteerError("model.steer_weight > 0 needs model.edit: the walk's edit that λ weighs.")
        if not walk_adversarial >= 0:
            raise SteerError(f"model.walk_adversarial (μ) must be ≥ 0, got {walk_adversarial}.")
        if walk_adversarial > 0 and edit is None:
            raise SteerError("model.walk_adversarial > 0 needs model.edit: it weighs the adversarial term of the walk's "
                             "loss, and without an edit there is no walk.")
        if schedule not in SCHEDULES:
            raise SteerError(f"model.schedule must be one of {', '.join(SCHEDULES)} (the order of the optimizer steps "
                             f"per batch), got {schedule!r}.")
        if not 0 <= augment_probability <= 1:
            raise SteerError(f"model.augment_probability must be in [0, 1], got {augment_probability}.")
        self.save_hyperparameters(ignore=["generator", "discriminator", "adversarial", "edit", "walk", "augment",
                                          "g_optimizer", "d_optimizer", "w_optimizer"])
        self.automatic_optimization = False
        self.conditional = bool(getattr(discriminator, "num_classes", None))
        if self.conditional and generator.num_classes != discriminator.num_classes:
            raise SteerError(f"a class-conditional discriminator ({discriminator.num_classes} classes) needs a generator "
                             f"with as many classes, got num_classes={generator.num_classes}; set "
                             "model.generator.init_args.num_classes to the discriminator's.")
        self.generator, self.discriminator = generator, discriminator
        self.adversarial = adversarial if adversarial is not None else NonSaturating()
        self.edit, self.augment = edit, augment
        self.walk = walk(generator.latent_dim, edit.sliders, generator.num_classes) if edit is not None else None
        self.steer_weight, self.augment_probability, self.seed = steer_weight, augment_probability, seed
        self.walk_adversarial, self.schedule = walk_adversarial, schedule
        self.g_optimizer, self.d_optimizer, self.w_optimizer = g_optimizer, d_optimizer, w_optimizer
        self.l2 = MaskedL2()
        self.histograms = AttributeHistograms(attributes)
        self.samples = samples

    @property
    def steps_per_batch(self) -> int:
        """Optimizer steps per batch, which Lightning's ``global_step`` counts: D, then G (and w) once, or twice
        with ``schedule="DGwGw"``."""
        return 1 + (2 if self.schedule == "DGwGw" else 1) * (2 if self.walk is not None else 1)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = [self.d_optimizer(self.discriminator.parameters()), self.g_optimizer(self.generator.parameters())]
        return optimizers + ([self.w_optimizer(self.walk.parameters())] if self.walk is not None else [])

    def setup(self, stage: str) -> None:
        """Under DDP, detection of unused parameters on: each of the D, G and w steps' backwards reaches one part."""
        if stage == "fit":
            detect_unused_parameters(self.trainer.strategy, type(self).__name__)

    # -- training ------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real, labels = batch["image"], self._labels(batch)
        index = int(batch["index"][0]) if "index" in batch else self.trainer.fit_loop.total_batch_idx
        g = rng(self.seed, "gan", self.global_rank, index)
        n, device = len(real), real.device
        z, y = self.generator.sample(n, g, device)
        if self.augment is not None:
            real = self._augment(real, g)
        alpha = self.edit.sample_alpha(n, g).to(device) if self.edit is not None else None
        optimizers = self.optimizers()
        d_opt, g_opt = optimizers[0], optimizers[1]

        # G(z) (and G(z + αw)) once, with G's graph: D's step reads them detached, and since D's update leaves G
        # unchanged they are still G's images for G's step (one generator pass where two ran, and one update of
        # G's BatchNorm running statistics per image). Only G's parameters take part: w gets no gradient here.
        fakes = self._fakes(g_opt, z, alpha, y)

        # D: real against G(z) (and G(z + αw))
        d_loss = self._step(d_opt, lambda: self.adversarial.discriminator(
            self._d(real, labels), *(self._d(f.detach(), y) for f in fakes)))

        # G: adversarial on G(z) (and G(z + αw)), plus λ · masked L2 of the walk against edit(G_eval(z), α)
        target = self.edit(self._eval_source(z, y), alpha) if alpha is not None else None

        def generator_loss() -> Tensor:
            loss = sum(self.adversarial.generator(self._d(f, y)) for f in fakes)
            if target is not None and self.steer_weight > 0:
                loss = loss + self.steer_weight * self.l2(fakes[1], *target)
            return loss

        def walk_loss() -> Tensor:
            # L_w = μ · adv_G(D(G(z + αw))) + L2_m(G(z + αw), edit(G_eval(z), α)); μ = 0 by default
            walked = walked_image(self.generator, self.edit, self.walk, z, alpha, y)
            loss = self.l2(walked, *target)
            if self.walk_adversarial > 0:
                loss = loss + self.walk_adversarial * self.adversarial.generator(self._d(walked, y))
            return loss

        logs = {"train/d_loss": d_loss}
        for repeat in range(2 if self.schedule == "DGwGw" else 1):
            if repeat:  # the paper code's second G, w: G has changed, so its images are drawn anew
                fakes = self._fakes(g_opt, z, alpha, y)
            logs["train/g_loss"] = self._step(g_opt, generator_loss)
            # w: the walk alone against the updated G, same targets
            if target is not None:
                logs["train/walk_loss"] = self._step(optimizers[2], walk_loss)
        self.log_dict(logs, prog_bar=True, batch_size=n)
        self._check_finite(logs, index)

    def _labels(self, batch: dict[str, Tensor]) -> Tensor | None:
        """The real images' classes for a conditional D (None for an unconditional one)."""
        if not self.conditional:
            return None
        if "label" not in batch:
            raise SteerError("a class-conditional discriminator needs the real images' classes under batch['label']; "
                             "use a datamodule with labels (steer.data.MNISTDataModule) or an unconditional "
                             "discriminator (no num_classes).")
        return batch["label"]

    def _d(self, images: Tensor, y: Tensor | None) -> Tensor:
        """D's logits: D(images, y) if D is class-conditional, else D(images)."""
        return self.discriminator(images, y) if self.conditional else self.discriminator(images)

    def _fakes(self, g_opt: torch.optim.Optimizer, z: Tensor, alpha: Tensor | None, y: Tensor | None) -> list[Tensor]:
        """[G(z)] (+ G(z + αw) with a walk), with the graph of G's parameters only."""
        with self._toggled(g_opt):
            fakes = [self.generator(z, y)]
            return fakes + ([walked_image(self.generator, self.edit, self.walk, z, alpha, y)] if alpha is not None else [])

    @contextmanager
    def _toggled(self, optimizer: torch.optim.Optimizer) -> Iterator[None]:
        """Only ``optimizer``'s parameters require gradients inside (Lightning's toggle, undone on leaving)."""
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)

    def _step(self, optimizer: torch.optim.Optimizer, loss: Callable[[], Tensor]) -> Tensor:
        """One optimizer step on ``loss()``, computed while only that optimizer's parameters require gradients
        (so no other part's weight gradients are computed); returns the loss, detached."""
        with self._toggled(optimizer):
            value = loss()
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(value)
            optimizer.step()
        return value.detach()

    def _augment(self, real: Tensor, g: torch.Generator) -> Tensor:
        """Each real image edited at a random α with probability ``augment_probability``; the others untouched."""
        alpha = self.augment.sample_alpha(len(real), g)
        chosen = (torch.rand(len(real), generator=g) < self.augment_probability).nonzero()[:, 0]
        if len(chosen) == 0:
            return real
        augmented = real.clone()
        augmented[chosen.to(real.device)] = self.augment(real[chosen.to(real.device)], alpha[chosen].to(real.device))[0]
        return augmented

    @torch.no_grad()
    def _eval_source(self, z: Tensor, y: Tensor | None) -> Tensor:
        """G_eval(z): the generator in eval mode (running BatchNorm statistics), no gradient."""
        was_training = self.generator.training
        self.generator.eval()
        source = self.generator(z, y)
        self.generator.train(was_training)
        return source

    def _check_finite(self, logs: dict[str, Tensor], index: int) -> None:
        if next(iter(logs.values())).device.type != "cpu":
            return  # on an accelerator a read per step would sync; a NaN shows in the logged losses
        bad = {k: float(v) for k, v in logs.items() if not torch.isfinite(v)}
        if bad:
            raise SteerError(f"GAN training diverged at step {self.global_step} (batch {index}): {bad}. "
                             "Lower the learning rates or use the hinge loss / spectral norm in D.")

    # -- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real = batch["image"]
        g = rng(self.seed, "gan-val", self.global_rank, batch_idx)
        z, y = self.generator.sample(len(real), g, real.device)
        fake = self.generator(z, y)
        self.histograms.update(real, fake)
        if batch_idx == 0 and self.global_rank == 0 and self.logger is not None:
            k = self.samples
            log_image(self.logger, "val/samples", grid([fake[i * k:(i + 1) * k] for i in range(len(fake[:k * k]) // k)]),
                      self.global_step, caption="G(z) for fixed latents")
            if self.walk is not None:
                self._log_walk_strip(z[:k], None if y is None else y[:k])

    def _log_walk_strip(self, z: Tensor, y: Tensor | None) -> None:
        source = self.generator(z, y)
        pairs: list[Pair] = [steer_pair(self.generator, self.edit, self.walk, z, repeat_alpha(a, len(z), z), y, source)
                             for a in self.edit.test_alphas()]
        rows = [torch.stack([p.walked[i] for p in pairs]) for i in range(len(z))]
        labels = " | ".join(self.edit.describe(a) for a in self.edit.test_alphas())
        log_image(self.logger, "val/walk", grid(rows), self.global_step,
                  caption=f"G(z + αw), one latent per row; columns α: {labels}")

    def on_validation_epoch_end(self) -> None:
        hi = self.histograms.compute()
        self.histograms.reset()
        for name, value in hi.items():
            self.log(f"val/hist_intersection/{name}", value)
        self.log("val/loss", 1 - torch.stack(list(hi.values())).min(), prog_bar=True)
