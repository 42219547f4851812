"""Evaluation throughput: steer's ``steerability.measure`` vs. a plain PyTorch loop.

    .venv/bin/python bench/evaluate.py --n 100 --batch-size 50

Both compute the same quantities over the same latents (drawn from
``steer.seeding.rng(seed, "evaluate")``) on the pretrained DigiFace DCGAN with
the Zoom edit and a LinearWalk (a fixed random direction: the speed does not
depend on what the walk learnt): at each α of the edit's test grid the walk
error and the baseline error (masked L2 against edit(G(z), α)), and for
registration the masked L2 of the walked image against edit(G(z), α') at
every α' of the registration line. The plain loop writes the DCGAN call, the
warp and the loss inline. Images/s counts latents × test α per second (one
walked image each); the table also prints the largest difference of the
errors, as a check that both computed the same thing.

Timing: the whole call (wall time, device queue drained), after one untimed
warm-up call of each; runs alternate and the median is shown.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import add_machine_args, interleaved, machine, median, now, prepare, table
from torch import Tensor

from steer.edits import Zoom
from steer.evaluation.steerability import measure
from steer.generators import DigiFaceDCGAN
from steer.seeding import rng
from steer.walks import LinearWalk


def plain_measure(net: torch.nn.Module, w: Tensor, alphas: Tensor, n: int, batch_size: int, seed: int,
                  points: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Sums over the latents of walk error, baseline error (A,) and registration error (A, P)."""

    def warp(images: Tensor, scale: Tensor) -> tuple[Tensor, Tensor]:  # zoom by ``scale`` (N,)
        theta = torch.eye(2, 3, device=images.device).repeat(len(images), 1, 1)
        theta[:, :, :2] /= scale[:, None, None]
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return out, (grid.abs() <= 1 + 1e-6).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(images.dtype)

    def l2(a: Tensor, b: Tensor, mask: Tensor) -> Tensor:  # summed per-image masked means
        mask = mask.expand_as(a)
        return ((mask * (a - b) ** 2).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1e-8)).sum()

    log_alpha = alphas[:, 0].log()
    reach = 1.5 * log_alpha.abs().max().clamp_min(1e-6)
    offsets = torch.linspace(-1, 1, points) * reach
    units = log_alpha / log_alpha.abs().clamp_min(1e-12)
    A = len(alphas)
    walk_sum = torch.zeros(A, device=device)
    base_sum = torch.zeros(A, device=device)
    reg_sum = torch.zeros(A, points, device=device)
    g = rng(seed, "evaluate")
    done = 0
    with torch.no_grad():
        while done < n:
            b = min(batch_size, n - done)
            z = torch.randn(b, w.shape[1], generator=g).to(device)
            source = net(z[:, :, None, None])
            for a in range(A):
                target, mask = warp(source, alphas[a, 0].to(device).expand(b))
                walked = net((z + log_alpha[a].to(device) * w)[:, :, None, None])
                walk_sum[a] += l2(walked, target, mask)
                base_sum[a] += l2(source, target, mask)
                for p in range(points):
                    moved, m = warp(source, (offsets[p] * units[a]).exp().to(device).expand(b))
                    reg_sum[a, p] += l2(walked, moved, m)
            done += b
    return walk_sum.cpu() / n, base_sum.cpu() / n, reg_sum.cpu()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="latents per run")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--points", type=int, default=41, help="registration points (measure's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    add_machine_args(p)
    args = p.parse_args(argv)
    device = prepare(args)
    generator, edit = DigiFaceDCGAN().to(device), Zoom()
    walk = LinearWalk(100).to(device)
    alphas = edit.test_alphas()
    print(f"evaluation, DigiFace DCGAN + Zoom + LinearWalk on {device}: {machine(device)}")
    print(f"{args.n} latents × {len(alphas)} test α, batch {args.batch_size}, {args.points} registration points; "
          f"median of {args.repeats} alternating runs after a warm-up\n")

    out: dict = {}

    def steer_run(_: int) -> float:
        t0 = now(device)
        out["steer"] = measure(generator, edit, walk, n=args.n, batch_size=args.batch_size, seed=args.seed,
                               registration_points=args.points, progress=False)
        return args.n * len(alphas) / (now(device) - t0)

    def plain_run(_: int) -> float:
        t0 = now(device)
        out["plain"] = plain_measure(generator.main, walk.w.detach(), alphas, args.n, args.batch_size, args.seed,
                                     args.points, device)
        return args.n * len(alphas) / (now(device) - t0)

    measure(generator, edit, walk, n=args.batch_size, batch_size=args.batch_size, registration_points=args.points,
            progress=False)
    plain_measure(generator.main, walk.w.detach(), alphas, args.batch_size, args.batch_size, args.seed, args.points,
                  device)
    speeds = interleaved({"steer": steer_run, "plain": plain_run}, args.repeats)
    s, q = median(speeds["steer"]), median(speeds["plain"])
    result, (walk_err, base_err, _) = out["steer"], out["plain"]
    diff = max((result.walk_error - walk_err).abs().max().item(), (result.baseline_error - base_err).abs().max().item())
    print(table(["batch", "steer img/s", "plain img/s", "steer / plain", "max |Δ error|", "steer runs", "plain runs"],
                [[args.batch_size, f"{s:.1f}", f"{q:.1f}", f"{s / q:.3f}", f"{diff:.1e}",
                  " ".join(f"{x:.1f}" for x in speeds["steer"]), " ".join(f"{x:.1f}" for x in speeds["plain"])]]))


if __name__ == "__main__":
    main()
