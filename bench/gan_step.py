"""GAN training step: GANModule's one generator pass vs. the two passes it ran before (issue 16, item 3).

    .venv/bin/python bench/gan_step.py --modes plain augment joint --batches 12 --repeats 5

Until this change, ``GANModule.training_step`` ran G(z) (and G(z + αw)) once
under ``torch.no_grad`` for D's step and again with gradients for G's; now one
pass with G's graph serves both (D reads the images detached; D's update leaves
G, hence the images, unchanged). ``TwoPass`` below reproduces the old step as
the reference. Both run as GANModules in the same Lightning harness on the
configs/sprites sizes (DCGAN latent 16, 32 px, width 16; batch-normed D; batch
64; ShiftX(8) edit and augmentation), from the same initial weights and data.

Timed: the wall time inside ``training_step`` (data rendering excluded) of the
steps after ``--warmup``; images/s = batch × timed steps / time. Runs alternate
(old, new, new, old, …); figures are medians over the repeats, with the spread.

Check: after the same batches, the parameters of the two must be equal for
the plain GAN and with augmentation (the same images reach D and G; the
batch statistics, not the running ones, normalise in training mode), while
G's BatchNorm running statistics differ (updated once per image now, twice
before). With a walk, G's target edit(G_eval(z), α) reads those running
statistics, so the joint run drifts slightly; the table prints the largest
parameter difference of each mode.

``--quality N`` instead trains the plain GAN of configs/sprites/gan_biased_x.yaml
(its data, batch 64, Adam 1e-3, β = (0.5, 0.999)) for N batches (N < 1000,
one epoch) with each step, and prints the histogram intersections of the
validation at the end, in eval mode, where the running statistics count.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import add_machine_args, interleaved, lightning_accelerator, machine, median, prepare, table
from pytorch_lightning import Trainer
from torch import Tensor

from steer.discriminators import DCGANDiscriminator
from steer.edits import ShiftX
from steer.generators import DCGAN
from steer.modules import GANModule
from steer.objective import steer_pair, walked_image
from steer.seeding import rng
from steer.sprites import SpriteFactors, SpritesDataModule
from steer.sprites.factors import Fixed, Normal, Uniform

MODES = {  # name: GANModule options besides generator and discriminator
    "plain": {},
    "augment": {"augment": ShiftX(8)},
    "joint": {"augment": ShiftX(8), "edit": ShiftX(8), "steer_weight": 1.0},
}


class TwoPass(GANModule):
    """The step as it was: G(z) (and G(z + αw)) under no_grad for D, again with gradients for G."""

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real = batch["image"]
        g = rng(self.seed, "gan", self.global_rank, int(batch["index"][0]))
        n, device = len(real), real.device
        z, y = self.generator.sample(n, g, device)
        if self.augment is not None:
            real = self._augment(real, g)
        alpha = self.edit.sample_alpha(n, g).to(device) if self.edit is not None else None
        optimizers = self.optimizers()
        with torch.no_grad():
            fakes = [self.generator(z, y)]
            fakes += [walked_image(self.generator, self.edit, self.walk, z, alpha, y)] if alpha is not None else []
        d_loss = self.adversarial.discriminator(self.discriminator(real), *(self.discriminator(f) for f in fakes))
        self._old_step(optimizers[0], d_loss)
        g_loss = self.adversarial.generator(self.discriminator(self.generator(z, y)))
        if alpha is not None:
            pair = steer_pair(self.generator, self.edit, self.walk, z, alpha, y, source=self._eval_source(z, y))
            g_loss = g_loss + self.adversarial.generator(self.discriminator(pair.walked))
            g_loss = g_loss + self.steer_weight * self.l2(pair.walked, pair.target, pair.mask)
            self._old_step(optimizers[1], g_loss)
            walked = steer_pair(self.generator, self.edit, self.walk, z, alpha, y, source=pair.source).walked
            self._old_step(optimizers[2], self.l2(walked, pair.target, pair.mask))
        else:
            self._old_step(optimizers[1], g_loss)

    def _old_step(self, optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
        self.toggle_optimizer(optimizer)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self.untoggle_optimizer(optimizer)


def build(cls: type[GANModule], mode: str) -> GANModule:
    torch.manual_seed(0)
    return cls(DCGAN(latent_dim=16, resolution=32, width=16), DCGANDiscriminator(32, 16, norm="batch"), **MODES[mode])


def timed_fit(module: GANModule, batches: int, warmup: int, batch: int, device: torch.device) -> float:
    """Seconds spent inside training_step over the batches after ``warmup``."""
    spent: list[float] = []
    step = module.training_step

    def timing(b: dict, batch_idx: int) -> None:
        if device.type != "cpu":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        step(b, batch_idx)
        if device.type != "cpu":
            torch.cuda.synchronize(device)
        spent.append(time.perf_counter() - t0)

    module.training_step = timing
    accelerator, devices = lightning_accelerator(device)
    per_batch = 3 if module.walk is not None else 2
    trainer = Trainer(max_steps=batches * per_batch, accelerator=accelerator, devices=devices, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    trainer.fit(module, datamodule=SpritesDataModule(SpriteFactors(32), batch_size=batch, n_val=batch, samples=2))
    return sum(spent[warmup:])


def run(cls: type[GANModule], mode: str, name: str, last: dict[str, GANModule], args: argparse.Namespace,
        device: torch.device) -> float:
    """Images/s of one fresh module of ``cls`` in ``mode``; the module is kept in ``last[name]``."""
    last[name] = module = build(cls, mode)
    seconds = timed_fit(module, args.batches, args.warmup, args.batch_size, device)
    return args.batch_size * (args.batches - args.warmup) / seconds


def largest_difference(a: GANModule, b: GANModule, buffers: bool) -> float:
    names = {n for n, _ in a.named_buffers()} if buffers else {n for n, _ in a.named_parameters()}
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[n].float() - sb[n].float()).abs().max()) for n in names if sa[n].is_floating_point())


def quality(batches: int) -> None:
    """Histogram intersections after ``batches`` batches of gan_biased_x with the old and the new step."""
    factors = SpriteFactors(32, x=Normal(16, 1, 13, 19), y=Uniform(10, 22), scale=Uniform(0.2, 0.3), rotation=Fixed(0))

    def adam(parameters):
        return torch.optim.Adam(parameters, lr=1e-3, betas=(0.5, 0.999))

    for cls in (TwoPass, GANModule):
        torch.manual_seed(0)
        module = cls(DCGAN(latent_dim=16, resolution=32, width=16), DCGANDiscriminator(32, 16, norm="batch"),
                     g_optimizer=adam, d_optimizer=adam)
        trainer = Trainer(max_steps=2 * batches, val_check_interval=batches, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, datamodule=SpritesDataModule(factors, batch_size=64, n_val=512, samples=2))
        hi = {k.rsplit("/", 1)[-1]: round(float(v), 3) for k, v in trainer.callback_metrics.items()
              if k.startswith("val/hist_intersection/")}
        print(f"{cls.__name__:9s} after {batches} batches: {hi}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--batches", type=int, default=12, help="training batches per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches at the start of each run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quality", type=int, default=0, help="train the plain GAN this many batches with each step")
    add_machine_args(parser)
    args = parser.parse_args()
    device = prepare(args)
    if args.quality:
        return quality(args.quality)
    print(f"{machine(device)}; batch {args.batch_size}, {args.batches - args.warmup} timed batches, "
          f"{args.repeats} repeats alternating")
    rows = []
    for mode in args.modes:
        last: dict[str, GANModule] = {}
        rates = interleaved({"two passes (before)": lambda r, m=mode, d=last: run(TwoPass, m, "old", d, args, device),
                             "one pass (now)": lambda r, m=mode, d=last: run(GANModule, m, "new", d, args, device)},
                            args.repeats)
        old, new = rates["two passes (before)"], rates["one pass (now)"]
        ratios = [b / a for a, b in zip(old, new)]
        rows.append([mode, f"{median(old):.0f} ({min(old):.0f}–{max(old):.0f})",
                     f"{median(new):.0f} ({min(new):.0f}–{max(new):.0f})",
                     f"{median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})",
                     f"{largest_difference(last['old'], last['new'], buffers=False):.1e}",
                     f"{largest_difference(last['old'], last['new'], buffers=True):.1e}"])
        print(table(["mode", "before, images/s", "now, images/s", "now / before (per repeat)",
                     "max |Δ parameter|", "max |Δ BN buffer|"], rows), flush=True)  # so far


if __name__ == "__main__":
    main()
