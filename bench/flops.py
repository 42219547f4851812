"""FLOP/s of walk training against the machine's measured fp32 matmul peak.

    .venv/bin/python bench/flops.py --batch-size 16

1. FLOPs per image, counted by ``torch.utils.flop_counter.FlopCounterMode``
   (and analytically from the transposed-convolution shapes, as a check):
   the generator's forward, and one walk-training step = the target forward
   (no grad) + the walked forward + its backward (gradients for the input
   only: the generator is frozen, so no weight gradients are computed).
2. The step's achieved FLOP/s: steer's WalkModule through a Lightning Trainer
   (as in bench/walk_train.py) and, for comparison, the generator's
   forward+backward alone.
3. The machine's fp32 peak as measured here: the best time of a large
   ``torch.matmul`` (on CUDA also with TF32, which cuDNN convolutions use by
   default).
"""

from __future__ import annotations

import argparse

import torch
from common import add_machine_args, machine, median, now, prepare
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from walk_train import steer_runner

from steer.edits import Zoom
from steer.generators import DigiFaceDCGAN
from steer.modules import WalkModule
from steer.walks import LinearWalk


def analytic_forward_flops(net: nn.Sequential, latent_dim: int) -> int:
    """2 · MACs of the transposed convolutions for one image (BatchNorm, ReLU and Tanh left out)."""
    flops, size = 0, 1
    for m in net:
        if isinstance(m, nn.ConvTranspose2d):
            flops += 2 * size * size * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            size = (size - 1) * m.stride[0] - 2 * m.padding[0] + m.kernel_size[0]
    return flops


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, size: int, repeats: int, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of the best of ``repeats`` square matmuls of ``size`` in ``dtype``."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = now(device)
        torch.matmul(a, b)
        best = min(best, now(device) - t0)
    return 2 * size**3 / best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--matmul-size", type=int, default=None, help="default: 2048 on the CPU, 8192 on an accelerator")
    p.add_argument("--compile", action="store_true", help="steer's compile option on")
    p.add_argument("--channels-last", action="store_true", help="steer's channels_last option on")
    add_machine_args(p)
    args = p.parse_args(argv)
    device = prepare(args)
    B = args.batch_size
    print(f"FLOP/s of walk training at batch {B} on {device}: {machine(device)}\n")

    generator = DigiFaceDCGAN().to(device)
    net, z = generator.main, torch.randn(B, 100, device=device)
    forward = counted(lambda: generator(z)) / B
    analytic = analytic_forward_flops(net, 100)

    def fwd_bwd() -> None:
        moved = z.clone().requires_grad_()
        generator(moved).square().mean().backward()

    def step() -> None:
        with torch.no_grad():
            generator(z)
        fwd_bwd()

    per_step_image = counted(step) / B
    print(f"generator forward: {forward / 1e9:.3f} GFLOP/image (FlopCounterMode; "
          f"analytic from the ConvTranspose shapes: {analytic / 1e9:.3f})")
    print(f"walk step (target forward + walked forward + input backward): {per_step_image / 1e9:.3f} GFLOP/image")

    # the generator's forward+backward alone
    for _ in range(args.warmup):
        fwd_bwd()
    times = []
    for _ in range(args.repeats):
        t0 = now(device)
        for _ in range(args.steps):
            fwd_bwd()
        times.append(now(device) - t0)
    gen_rate = (counted(fwd_bwd) * args.steps) / median(times)

    # steer's walk step through Lightning
    w0 = torch.randn(1, 100, generator=torch.Generator().manual_seed(0)) * 0.1
    module = WalkModule(DigiFaceDCGAN(), Zoom(), walk=LinearWalk, compile=args.compile,
                        channels_last=args.channels_last)
    run = steer_runner(module, w0, B, args.warmup, args.steps, 0, device)
    images_per_s = median([run(r) for r in range(args.repeats)])
    step_rate = images_per_s * per_step_image

    size = args.matmul_size or (2048 if device.type == "cpu" else 8192)
    peak = matmul_peak(device, size, 5)
    print(f"fp32 matmul peak ({size}×{size}, best of 5): {peak / 1e9:.1f} GFLOP/s")
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        # cuDNN convolutions run in TF32 by default, matmuls do not: give that peak as well.
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"TF32 matmul peak (what cuDNN convolutions may use): {matmul_peak(device, size, 5) / 1e9:.1f} GFLOP/s")
        torch.backends.cuda.matmul.allow_tf32 = False
    print()
    print(f"generator forward+backward alone (eager): {gen_rate / 1e9:.1f} GFLOP/s = {gen_rate / peak:.1%} of peak")
    options = " + ".join(o for o, on in (("compile", args.compile), ("channels_last", args.channels_last)) if on)
    print(f"steer walk step{f' ({options})' if options else ''}: {images_per_s:.1f} images/s × "
          f"{per_step_image / 1e9:.3f} GFLOP = {step_rate / 1e9:.1f} GFLOP/s = {step_rate / peak:.1%} of peak")


if __name__ == "__main__":
    main()
