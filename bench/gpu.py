"""Walk training on a GPU: images/s fp32 vs bf16, with and without compile, FLOP/s against the bf16 matmul peak.

    python bench/gpu.py                 # on a CUDA machine: the figures, then the test suite on CUDA
    python bench/gpu.py --dry           # anywhere, in seconds: tiny sizes, no compile, no tests

For two generators, the pretrained DigiFace DCGAN (64 px) and a 256-px
StyleGAN2 of the official config-f shape (random weights, written to a
temporary checkpoint; steered in w), it trains a LinearWalk for the Zoom edit
with steer's WalkModule in a Lightning Trainer (bench/walk_train.py's
``steer_runner``) at each batch size, in fp32 (``32-true``) and bf16 autocast
(``bf16-mixed``, the loss in fp32), eager and compiled (``compile=True``,
``channels_last=True``). Per row: training images/s (median of ``--repeats``),
the FLOPs of one walk step per image counted by
``torch.utils.flop_counter.FlopCounterMode`` (target forward + walked forward +
input backward; convolutions and matmuls), the achieved FLOP/s, and its
fraction of the GPU's bf16 matmul peak measured in the same run (and of the
fp32/TF32 peak for the fp32 rows). Then, unless ``--tests none``, it runs the
test suite (``pytest``) with CUDA visible.

``--dry`` swaps in tiny networks (8 px DCGAN, 16 px StyleGAN2), batch 4, one
step, a 64×64 matmul, no compile and no tests, so that the script's code runs on
the CPU in seconds (tests/test_bench_gpu.py). Its figures mean nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from common import add_machine_args, machine, median, prepare, table
from flops import counted, matmul_peak
from walk_train import steer_runner, tiny_dcgan

from steer.edits import Zoom
from steer.generators import DigiFaceDCGAN, Generator, StyleGAN2
from steer.generators.stylegan2 import StyleGAN2Network, default_channels
from steer.modules import WalkModule
from steer.walks import LinearWalk

PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}


def stylegan2_maker(folder: Path, size: int, style_dim: int, n_mlp: int,
                    channels: dict[int, int] | None) -> Callable[[], Generator]:
    """A StyleGAN2 of this shape with random weights (seed 0), saved once as a rosinality checkpoint in ``folder``."""
    path = folder / f"stylegan2_{size}.pt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = StyleGAN2Network(size, style_dim, n_mlp, channels or default_channels(size))
    torch.save({"g_ema": net.state_dict()}, path)
    return lambda: StyleGAN2(str(path), size=size, style_dim=style_dim, n_mlp=n_mlp, channels=channels)


def step_flops(generator: Generator, batch: int, device: torch.device) -> float:
    """FLOPs per image of one walk step: target forward (no grad) + walked forward + its input backward."""
    generator = generator.to(device)
    z = generator.sample_latent(batch, torch.Generator().manual_seed(0)).to(device)

    def step() -> None:
        with torch.no_grad():
            generator(z)
        moved = z.clone().requires_grad_()
        generator(moved).square().mean().backward()

    return counted(step) / batch


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 512])
    p.add_argument("--networks", nargs="+", default=["digiface", "stylegan2"], choices=["digiface", "stylegan2"])
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    p.add_argument("--compile", nargs="+", default=["eager", "compile"], choices=["eager", "compile"],
                   help="compile: WalkModule(compile=True, channels_last=True)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them (compilation happens here)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tests", default="all", choices=["all", "fast", "none"],
                   help="after the figures, run the test suite (all, or -m 'not slow') with CUDA visible")
    p.add_argument("--dry", action="store_true", help="tiny sizes on any device, no compile, no tests: a code check")
    add_machine_args(p)
    args = p.parse_args(argv)
    if args.dry:
        args.batch_sizes, args.compile, args.steps, args.warmup, args.repeats, args.tests = [4], ["eager"], 1, 1, 1, "none"
    device = prepare(args)
    if device.type != "cuda" and not args.dry:
        p.error(f"no CUDA device here ({device}); run with --dry for a code check on the CPU")
    print(f"walk training on {device}: {machine(device)}" + (" (dry run: tiny sizes, figures meaningless)"
                                                              if args.dry else ""))

    size = 64 if args.dry else 8192
    bf16_peak = matmul_peak(device, size, 5, torch.bfloat16)
    fp32_peak = matmul_peak(device, size, 5)
    if device.type == "cuda":  # cuDNN convolutions use TF32 by default; matmuls do not
        torch.backends.cuda.matmul.allow_tf32 = True
        fp32_peak = matmul_peak(device, size, 5)
        torch.backends.cuda.matmul.allow_tf32 = False
    print(f"matmul peak ({size}×{size}, best of 5): bf16 {bf16_peak / 1e12:.1f} TFLOP/s, "
          f"fp32{' (TF32)' if device.type == 'cuda' else ''} {fp32_peak / 1e12:.1f} TFLOP/s\n")

    with tempfile.TemporaryDirectory() as folder:
        makers: dict[str, Callable[[], Generator]] = {
            "digiface": tiny_dcgan if args.dry else DigiFaceDCGAN,
            "stylegan2": stylegan2_maker(Path(folder), 16, 8, 2, {4: 8, 8: 8, 16: 4}) if args.dry
            else stylegan2_maker(Path(folder), 256, 512, 8, None),
        }
        rows = []
        for name in args.networks:
            make = makers[name]
            flops = step_flops(make(), min(args.batch_sizes), device)
            label = f"{name} ({make().resolution} px)"
            print(f"{label}: {flops / 1e9:.3f} GFLOP per image per walk step", file=sys.stderr)
            for batch in args.batch_sizes:
                for mode in args.compile:
                    for precision in args.precisions:
                        fast = mode == "compile"
                        generator = make()
                        module = WalkModule(generator, Zoom(), walk=LinearWalk, compile=fast, channels_last=fast)
                        w0 = torch.zeros(1, generator.latent_dim)
                        run = steer_runner(module, w0, batch, args.warmup, args.steps, 0, device,
                                           precision=PRECISIONS[precision])
                        rate = median([run(r) for r in range(args.repeats)])
                        achieved = rate * flops
                        peak = fp32_peak if precision == "fp32" else bf16_peak
                        rows.append([label, batch, mode, precision, f"{rate:.1f}", f"{achieved / 1e12:.2f}",
                                     f"{achieved / bf16_peak:.1%}", f"{achieved / peak:.1%}"])
                        print(f"  batch {batch}, {mode}, {precision}: {rate:.1f} images/s", file=sys.stderr)
    print(table(["network", "batch", "mode", "precision", "images/s", "TFLOP/s", "of bf16 peak",
                 "of own precision's peak"], rows))

    if args.tests != "none":
        root = Path(__file__).resolve().parent.parent
        print(f"\nthe test suite ({args.tests}) with {device} visible:", flush=True)
        extra = ["-m", "not slow"] if args.tests == "fast" else []
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", *extra], cwd=root)
        print(f"pytest exit code {code}")
        sys.exit(code)


if __name__ == "__main__":
    main()
