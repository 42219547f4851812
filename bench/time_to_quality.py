"""Time to quality: how long steer and a plain PyTorch loop take to reach the same validation walk error.

    .venv/bin/python bench/time_to_quality.py --alphas-per-latent 2 4 --compile --channels-last

Both sides learn a LinearWalk for the Zoom edit on the pretrained DigiFace
DCGAN (frozen) with Adam at the same learning rate, from the same initial walk,
with batches drawn from the same seeds (``steer.seeding.rng(seed, "train", 0, i)``,
latents then α, as in bench/walk_train.py):

(i)  plain: the algorithm as a ``for`` loop (walk_train.plain_loss), one α per
     latent, eager: the target G(z) under ``no_grad``, the walked G(z + log α · w)
     and its backward, 3 generator passes per training pair;
(ii) steer: ``WalkModule`` + ``LatentDataModule`` in a Lightning ``Trainer``
     with the options given (``--alphas-per-latent`` K: K α per latent sharing
     one target pass, 2 + 1/K passes per pair; ``--compile``; ``--channels-last``).

Both take ``--batch`` training pairs per step (with K α per latent steer draws
batch / K latents): the same pairs per step, memory and learning rate, so that
only the cost of a pair and how much a pair teaches differ.

The target is the plain loop's validation error after ``--target-steps`` steps
(run once, untimed, with ``--seed``). Each side then trains until its error
first reaches the target (at most ``--max-steps``); the time to quality is the
wall time of the training steps up to that point. Validation runs every
``--val-every`` steps on ``--val-latents`` fixed latents (``rng(seed, "val")``)
at the edit's test α other than the identity, the same eager code for both
sides (steer's ``steer_grid`` and masked L2: steer's ``val/loss``); its time is
**excluded** for both (the clock stops while it runs). Warm-up (compilation,
oneDNN's first calls) happens before the clock starts, on the shapes the
training uses; Trainer setup is not timed either.

Repeat r = 1, 2, … uses seed ``--seed + r`` for both sides (not the target's
seed, where the plain loop would meet the target exactly); runs alternate (plain,
steer…, steer…, plain, …). Printed: per side the time to the target (median,
min–max), steps to it, training images/s over the timed steps; and the ratio
plain time / steer time per repeat (median, min–max). Figures:
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from common import add_machine_args, interleaved, lightning_accelerator, machine, now, prepare, table
from pytorch_lightning import Callback, Trainer
from torch import Tensor
from walk_train import plain_loss, plain_net

from steer.data import LatentDataModule
from steer.edits import Zoom
from steer.generators import DigiFaceDCGAN
from steer.losses import MaskedL2
from steer.modules import WalkModule
from steer.objective import steer_grid
from steer.seeding import rng
from steer.walks import LinearWalk


@dataclass
class Outcome:
    """One run: the validation errors seen, and when (timed seconds, steps) the target was first reached."""

    errors: list[tuple[int, float, float]] = field(default_factory=list)  # (step, timed seconds, error)
    reached: tuple[int, float] | None = None  # (step, timed seconds)

    @property
    def seconds(self) -> float:
        return self.reached[1] if self.reached else math.inf

    @property
    def steps(self) -> int | None:
        return self.reached[0] if self.reached else None


class Validator:
    """The validation walk error of a direction w: mean masked L2 over fixed latents and the non-identity test α
    inside the training range (the grid's α beyond it are for limits, not for training quality)."""

    def __init__(self, n: int, seed: int, device: torch.device) -> None:
        self.generator = DigiFaceDCGAN().to(device)
        self.edit = Zoom()
        self.walk = LinearWalk(self.generator.latent_dim).to(device)
        self.z = self.generator.sample_latent(n, rng(seed, "val")).to(device)
        alphas = self.edit.test_alphas()
        self.alphas = alphas[~(alphas == self.edit.identity).all(dim=1) & self.edit.in_training_range(alphas)].to(device)

    @torch.no_grad()
    def __call__(self, w: Tensor) -> float:
        self.walk.w.copy_(w)
        errors = [MaskedL2()(p.walked, p.target, p.mask)
                  for p in steer_grid(self.generator, self.edit, self.walk, self.z, self.alphas)]
        return float(torch.stack(errors).mean())


class Clock:
    """Times training steps, stopped while validation runs; ``tick(step, w)`` validates every ``every`` steps and
    says whether the target is reached."""

    def __init__(self, validate: Validator, target: float, every: int, device: torch.device, verbose: bool) -> None:
        self.validate, self.target, self.every, self.device, self.verbose = validate, target, every, device, verbose
        self.outcome, self.spent, self.mark = Outcome(), 0.0, 0.0

    def start(self) -> None:
        self.mark = now(self.device)

    def tick(self, step: int, w: Tensor) -> bool:
        if step % self.every:
            return False
        self.spent += now(self.device) - self.mark
        error = self.validate(w.detach())
        self.outcome.errors.append((step, self.spent, error))
        if self.verbose or (error <= self.target and self.outcome.reached is None):
            print(f"    step {step}: {self.spent:.1f} s, walk error {error:.5f}", file=sys.stderr)
        if error <= self.target and self.outcome.reached is None:
            self.outcome.reached = (step, self.spent)
        self.mark = now(self.device)
        return self.outcome.reached is not None


class ClockCallback(Callback):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            self.clock.start()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if self.clock.tick(batch_idx + 1, module.walk.w):
            trainer.should_stop = True


def warm_up(net: Callable[[Tensor], Tensor], latents: int, pairs: int, device: torch.device) -> None:
    """Compile and prime the generator on the training shapes: the target pass (no grad) and walked pass + backward."""
    for _ in range(2):
        with torch.no_grad():
            net(torch.randn(latents, 100, device=device))
        net(torch.randn(pairs, 100, device=device, requires_grad=True)).sum().backward()


@dataclass
class Setup:
    w0: Tensor
    lr: float
    batch: int
    max_steps: int
    seed: int
    device: torch.device
    validate: Validator
    every: int
    verbose: bool


def plain_runner(s: Setup, steps: int | None = None, target: float = -math.inf) -> Callable[[int], Outcome]:
    """The algorithm as a plain loop (one α per latent, eager); trains until the target or ``steps``."""
    generator, edit = DigiFaceDCGAN(), Zoom()
    net = plain_net(generator, s.device, compile=False, channels_last=False)
    warm_up(lambda z: net(z[:, :, None, None]), s.batch, s.batch, s.device)

    def run(r: int) -> Outcome:
        clock = Clock(s.validate, target, s.every, s.device, s.verbose)
        w = s.w0.clone().to(s.device).requires_grad_()
        opt = torch.optim.Adam([w], lr=s.lr)
        clock.start()
        for i in range(steps or s.max_steps):
            g = rng(s.seed + r, "train", 0, i)
            z = generator.sample_latent(s.batch, g).to(s.device, non_blocking=True)
            alpha = edit.sample_alpha(s.batch, g).to(s.device, non_blocking=True)
            loss = plain_loss(net, z, alpha, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if clock.tick(i + 1, w):
                break
        return clock.outcome

    return run


def steer_runner(s: Setup, target: float, alphas_per_latent: int, compile: bool,
                 channels_last: bool) -> Callable[[int], Outcome]:
    module = WalkModule(DigiFaceDCGAN(), Zoom(), walk=LinearWalk,
                        optimizer=lambda params: torch.optim.Adam(params, lr=s.lr),
                        compile=compile, channels_last=channels_last).to(s.device)
    warm_up(module.generator, s.batch // alphas_per_latent, s.batch, s.device)
    accelerator, devices = lightning_accelerator(s.device)

    def run(r: int) -> Outcome:
        with torch.no_grad():
            module.walk.w.copy_(s.w0)
        clock = Clock(s.validate, target, s.every, s.device, s.verbose)
        trainer = Trainer(accelerator=accelerator, devices=devices, max_steps=s.max_steps, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                          limit_val_batches=0, num_sanity_val_steps=0, callbacks=[ClockCallback(clock)])
        trainer.fit(module, LatentDataModule(batch_size=s.batch, seed=s.seed + r, alphas_per_latent=alphas_per_latent))
        return clock.outcome

    return run


def spread(values: list[float], fmt: str = ".1f") -> str:
    """median (min–max); a run that never reached the target counts as ∞ (its ratio as ∞ too)."""
    if not values:
        return "not reached"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16, help="training pairs (z, α) per step, both sides")
    p.add_argument("--alphas-per-latent", type=int, nargs="+", default=[4],
                   help="steer's K α per latent; one steer side per value")
    p.add_argument("--compile", action="store_true", help="steer's compile option")
    p.add_argument("--channels-last", action="store_true", help="steer's channels_last option")
    p.add_argument("--target-steps", type=int, default=40, help="the target: the plain loop's error after these steps")
    p.add_argument("--max-steps", type=int, default=None, help="give up after these steps (default 3 × target-steps)")
    p.add_argument("--val-every", type=int, default=4)
    p.add_argument("--val-latents", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.003,
                   help="0.003: the error falls steadily over the first 100 steps (at 0.01 it bottoms out by step 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="print every validation point")
    add_machine_args(p)
    args = p.parse_args(argv)
    device = prepare(args)
    if any(args.batch % k for k in args.alphas_per_latent):
        p.error(f"--batch {args.batch} must be a multiple of every --alphas-per-latent")
    if args.target_steps % args.val_every:
        p.error("--target-steps must be a multiple of --val-every")
    options = " + ".join(o for o, on in (("compile", args.compile), ("channels_last", args.channels_last)) if on)
    print(f"time to quality, DigiFace DCGAN + Zoom + LinearWalk, batch {args.batch} pairs, lr {args.lr}, "
          f"on {device}: {machine(device)}")
    w0 = torch.randn(1, 100, generator=torch.Generator().manual_seed(args.seed)) * 0.1
    s = Setup(w0, args.lr, args.batch, args.max_steps or 3 * args.target_steps, args.seed, device,
              Validator(args.val_latents, args.seed, device), args.val_every, args.verbose)
    reference = plain_runner(s, steps=args.target_steps)(0)
    target = reference.errors[-1][2]
    print(f"target: walk error {target:.5f} = the plain loop's after {args.target_steps} steps "
          f"(initial {s.validate(w0.to(device)):.5f}); validation every {args.val_every} steps on "
          f"{args.val_latents} latents, its time excluded; median (min–max) of {args.repeats} alternating repeats\n")

    runs = {"plain": plain_runner(s, target=target)}
    for k in args.alphas_per_latent:
        runs[f"steer K={k}" + (f" + {options}" if options else "")] = steer_runner(
            s, target, k, args.compile, args.channels_last)
    outcomes = interleaved({name: lambda r, run=run: run(r + 1) for name, run in runs.items()}, args.repeats)

    plain = [o.seconds for o in outcomes["plain"]]
    rows = []
    for name, results in outcomes.items():
        seconds = [o.seconds for o in results]
        rates = [o.steps * args.batch / o.seconds for o in results if o.reached]
        ratio = [q / t if math.isfinite(t) else math.inf for q, t in zip(plain, seconds)]
        rows.append([name, spread(seconds), " ".join(str(o.steps) for o in results), spread(rates),
                     "–" if name == "plain" else spread(ratio, ".2f")])
    print(table(["side", "time to target s", "steps to target", "train img/s", "plain time / this time"], rows))


if __name__ == "__main__":
    main()
