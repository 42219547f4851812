"""Walk-training throughput: steer's WalkModule through Lightning vs. a plain PyTorch loop.

    .venv/bin/python bench/walk_train.py --batch-sizes 16 64 --variants eager compile

Both sides run the same algorithm on the same data: the pretrained DigiFace
DCGAN (frozen), the Zoom edit, a LinearWalk, Adam; batch ``i`` is drawn from
``steer.seeding.rng(seed, "train", 0, i)`` (latents, then α) exactly as
steer's LatentDataModule draws it; the target G(z) is computed under
``torch.no_grad``; the loss is the masked L2. Both start from the same walk,
so after the same steps they must hold the same walk (the table prints the
largest difference as a check that the two are one algorithm).

(i)  steer: ``WalkModule`` + ``LatentDataModule`` in a Lightning ``Trainer``
     (no logger, no checkpointing, no validation, no progress bar);
(ii) plain: a ``for`` loop over the same batches calling the DCGAN's
     ``nn.Sequential`` directly, with the Zoom warp and the loss written inline.

Timing is the same for both: the wall time from the start of the first step
after the warm-up to the end of the last step (the device queue drained at
both ends), data drawing of the timed steps included. The warm-up steps (and
with it any compilation) are not timed. Runs alternate (steer, plain, plain,
steer, …) and every figure is the median over the repeats.

``--variants`` turns steer's speed options on (``compile``, ``channels_last``)
and the matching change on the plain loop (``torch.compile`` of its
``nn.Sequential``, channels-last weights); the plain eager loop always runs as
well, as the reference of the "steer / plain eager" column. ``--generator
tiny`` swaps in an 8 px DCGAN whose step is nearly free, which shows the
per-step overhead in ms. Figures and commands: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import add_machine_args, interleaved, lightning_accelerator, machine, median, now, prepare, table
from pytorch_lightning import Callback, Trainer
from torch import Tensor, nn

from steer.data import LatentDataModule
from steer.edits import Zoom
from steer.generators import DCGAN, DigiFaceDCGAN
from steer.modules import WalkModule
from steer.seeding import rng
from steer.walks import LinearWalk


def tiny_dcgan() -> DCGAN:
    """An 8 px, width-4 DCGAN (random, seeded): its step costs next to nothing, so the gap is the overhead."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return DCGAN(latent_dim=100, resolution=8, width=4).freeze()


GENERATORS = {"digiface": DigiFaceDCGAN, "tiny": tiny_dcgan}

VARIANTS = {  # name: (torch.compile, channels_last)
    "eager": (False, False),
    "compile": (True, False),
    "channels_last": (False, True),
    "compile+channels_last": (True, True),
}


class StepTimer(Callback):
    """Wall time from the start of step ``first`` to the end of step ``last`` (0-based)."""

    def __init__(self, first: int, last: int, device: torch.device) -> None:
        self.first, self.last, self.device = first, last, device
        self.t0 = self.t1 = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        if batch_idx == self.first:
            self.t0 = now(self.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.last:
            self.t1 = now(self.device)


def steer_runner(module: WalkModule, w0: Tensor, batch: int, warmup: int, steps: int, seed: int,
                 device: torch.device, precision: str = "32-true", alphas_per_latent: int = 1) -> Callable[[int], float]:
    """Training images/s (pairs) of ``module`` in a Trainer at ``precision`` (e.g. bf16-mixed)."""
    accelerator, devices = lightning_accelerator(device)

    def run(_: int) -> float:
        with torch.no_grad():
            module.walk.w.copy_(w0)
        timer = StepTimer(warmup, warmup + steps - 1, device)
        trainer = Trainer(accelerator=accelerator, devices=devices, max_steps=warmup + steps, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                          limit_val_batches=0, num_sanity_val_steps=0, callbacks=[timer], precision=precision)
        trainer.fit(module, LatentDataModule(batch_size=batch, seed=seed, alphas_per_latent=alphas_per_latent))
        return steps * batch / (timer.t1 - timer.t0)

    return run


def plain_net(generator: DigiFaceDCGAN, device: torch.device, compile: bool, channels_last: bool) -> nn.Module:
    """The DCGAN's bare nn.Sequential on ``device``, channels-last and compiled if asked."""
    net: nn.Module = generator.main.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return torch.compile(net, dynamic=False) if compile else net


def plain_loss(net: nn.Module, z: Tensor, alpha: Tensor, w: Tensor) -> Tensor:
    """The walk loss written inline: masked L2 between G(z + log α · w) and the zoom of G(z) (no grad)."""
    with torch.no_grad():
        source = net(z[:, :, None, None])
    theta = torch.eye(2, 3, device=z.device).repeat(len(z), 1, 1)
    theta[:, :, :2] /= alpha[:, :, None]
    grid = F.affine_grid(theta, list(source.shape), align_corners=False)
    target = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = (grid.abs() <= 1 + 1e-6).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(source.dtype)
    walked = net((z + alpha.log() @ w)[:, :, None, None])
    mask = mask.expand_as(walked)
    return (mask * (walked - target) ** 2).sum() / mask.sum().clamp_min(1e-8)


def plain_runner(generator: DigiFaceDCGAN, w0: Tensor, lr: float, batch: int, warmup: int, steps: int, seed: int,
                 device: torch.device, compile: bool, channels_last: bool, result: dict) -> Callable[[int], float]:
    """The same algorithm without steer: a loop, the DCGAN's nn.Sequential, the warp and loss inline."""
    edit = Zoom()  # only for drawing α the way the data module does
    net = plain_net(generator, device, compile, channels_last)

    def run(_: int) -> float:
        w = w0.clone().to(device).requires_grad_()
        opt = torch.optim.Adam([w], lr=lr)
        t0 = t1 = 0.0
        for i in range(warmup + steps):
            g = rng(seed, "train", 0, i)
            z = generator.sample_latent(batch, g).to(device, non_blocking=True)
            alpha = edit.sample_alpha(batch, g).to(device, non_blocking=True)
            if i == warmup:
                t0 = now(device)
            loss = plain_loss(net, z, alpha, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        t1 = now(device)
        result["w"] = w.detach().cpu()
        return steps * batch / (t1 - t0)

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    p.add_argument("--variants", nargs="+", default=["eager", "compile"], choices=list(VARIANTS),
                   help="steer and the plain loop with these options; the plain eager loop always runs as well")
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before them (compilation happens here)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side, alternating; the median is shown")
    p.add_argument("--generator", default="digiface", choices=list(GENERATORS),
                   help="tiny: an 8 px DCGAN whose step is almost free, to show the per-step overhead in ms")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    add_machine_args(p)
    args = p.parse_args(argv)
    device = prepare(args)
    make = GENERATORS[args.generator]
    print(f"walk training, {args.generator} DCGAN + Zoom + LinearWalk on {device}: {machine(device)}")
    print(f"{args.steps} timed steps after {args.warmup} warm-up steps, median of {args.repeats} alternating runs\n")

    rows = []
    for batch in args.batch_sizes:
        w0 = torch.randn(1, make().latent_dim, generator=torch.Generator().manual_seed(args.seed)) * 0.1
        runs, modules, plain_w = {}, {}, {}
        for variant in dict.fromkeys(["eager", *args.variants]):  # the plain eager loop is always the reference
            compile, channels_last = VARIANTS[variant]
            if variant in args.variants:
                modules[variant] = WalkModule(make(), Zoom(), walk=LinearWalk,
                                              optimizer=lambda params: torch.optim.Adam(params, lr=args.lr),
                                              compile=compile, channels_last=channels_last)
                runs[f"steer {variant}"] = steer_runner(modules[variant], w0, batch, args.warmup, args.steps,
                                                        args.seed, device)
            plain_w[variant] = {}
            runs[f"plain {variant}"] = plain_runner(make(), w0, args.lr, batch, args.warmup, args.steps,
                                                    args.seed, device, compile, channels_last, plain_w[variant])
        speeds = interleaved(runs, args.repeats)
        reference = median(speeds["plain eager"])
        for variant in args.variants:
            s, q = median(speeds[f"steer {variant}"]), median(speeds[f"plain {variant}"])
            diff = (modules[variant].walk.w.detach().cpu() - plain_w[variant]["w"]).abs().max().item()
            rows.append([batch, variant, f"{s:.1f}", f"{q:.1f}", f"{s / q:.3f}", f"{s / reference:.3f}", f"{diff:.1e}",
                         " ".join(f"{x:.1f}" for x in speeds[f"steer {variant}"]),
                         " ".join(f"{x:.1f}" for x in speeds[f"plain {variant}"])])
            print(f"  batch {batch}, {variant}: steer {s:.1f} images/s ({batch / s * 1e3:.2f} ms/step), "
                  f"plain {q:.1f} images/s ({batch / q * 1e3:.2f} ms/step)", file=sys.stderr)

    print(table(["batch", "variant", "steer img/s", "plain img/s", "steer / plain", "steer / plain eager",
                 "max |Δw|", "steer runs", "plain runs"], rows))


if __name__ == "__main__":
    main()
