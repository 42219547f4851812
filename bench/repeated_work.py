"""Repeated work removed (issue 16, item 3): each change against the code it replaced, in one run.

    .venv/bin/python bench/repeated_work.py --threads 1

Every section times the old path (reproduced here as a reference, no longer
in the library) and the new one on the same inputs, alternating (A B, B A, …)
over ``--repeats``; the tables show medians, their ratio and a check that both
computed the same thing.

1. attributes: ``steer evaluate steerability`` on a sprites GAN with its walk
   (default: the joint G + walk of checkpoints/sprites/joint_shift_x.ckpt).
   Old: ``measure`` and then ``measure_attributes``, each running every
   G(walk(z, α)). New: ``measure(observe=WalkedAttributes)`` and
   ``attribute_steering`` on the images ``measure`` made.
2. registration: ``SteerabilityMetric.update`` on one batch of the walk's pairs
   at every test α. Old: each α warps G(z) at each of its own 41 candidates
   α'. New: each distinct α' is warped once per batch. Also the whole
   ``measure`` with either update.
3. fit: walk training with validation, as ``steer fit`` runs it. Old: the
   batch index travels to the device and is read there after the transfer,
   torchmetrics reads each validation error for NaN, and the throughput callback
   logs every step and never waits for the device. New: the index stays on
   the host, no NaN read, the callback synchronises on logging steps. On the
   CPU these reads cost next to nothing: this section shows that the change
   costs nothing there; the saving is on CUDA (``--device cuda``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import add_machine_args, interleaved, machine, median, now, prepare, table
from pytorch_lightning import LightningDataModule, Trainer
from torchmetrics.aggregation import MeanMetric

from steer.callbacks import Throughput
from steer.commands.steerability import steered
from steer.data import LatentDataModule
from steer.evaluation.attribute_steering import WalkedAttributes, attribute_steering, measure_attributes
from steer.evaluation.steerability import measure
from steer.losses import MaskedL2
from steer.modules import WalkModule
from steer.objective import steer_grid
from steer.restore import training_factors
from steer.seeding import rng
from steer.steerability_metric import SteerabilityMetric
from steer.walks import LinearWalk

masked_l2 = MaskedL2()


# -- the old paths, as references ----------------------------------------------------------------------------
def one_warp_per_alpha(metric: SteerabilityMetric, pairs: list) -> None:
    """The old ``SteerabilityMetric.update``, called once per α: every α warps G(z) at its own 41 candidates."""
    for index, (walked, target, mask, source) in enumerate(pairs):
        n = len(walked)
        metric.walk_sum[index] += masked_l2(walked, target, mask, "none").sum()
        metric.base_sum[index] += masked_l2(source, target, mask, "none").sum()
        for p, offset in enumerate(metric.offsets):
            candidate = metric.edit.alpha_from_walk(offset * metric.units[index:index + 1])[0].to(source.device)
            moved, moved_mask = metric.edit(source, candidate.to(source.dtype).expand(n, -1).contiguous())
            metric.reg_sum[index, p] += masked_l2(walked, moved, moved_mask, "none").sum()
        metric.count[index] += n


class OldIndexTransfer(LatentDataModule):
    """The index goes to the device with the batch, and ``on_after_batch_transfer`` reads it there."""

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return LightningDataModule.transfer_batch_to_device(self, batch, device, dataloader_idx)


class OldThroughput(Throughput):
    """Logs every step; times the steps as the host sees them (kernel launches on CUDA)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.step_seconds += time.perf_counter() - self._t0
        self.images += len(next(iter(batch.values())))
        pl_module.log("train/images_per_second", self.images_per_second())

    def on_train_end(self, trainer, pl_module):
        pass


# -- the sections ----------------------------------------------------------------------------------------------
def attributes_section(args, device, generator, edit, walk, factors) -> list:
    def old(_):
        t0 = now(device)
        measure(generator, edit, walk, n=args.n, batch_size=args.batch_size, progress=False)
        measure_attributes(generator, edit, walk, factors, n=args.n, batch_size=args.batch_size, progress=False)
        return now(device) - t0

    def new(_):
        t0 = now(device)
        walked = WalkedAttributes()
        result = measure(generator, edit, walk, n=args.n, batch_size=args.batch_size, progress=False, observe=walked)
        attribute_steering(walked, edit, factors, result.alphas, args.n, args.batch_size, device=device)
        return now(device) - t0

    calls, seconds = [], []  # generator calls and the time spent in them, in one untimed run of each

    def before(*_):
        seconds.append(-now(device))

    def after(*_):
        calls.append(1)
        seconds.append(now(device))

    hooks = [generator.register_forward_pre_hook(before), generator.register_forward_hook(after)]
    old(0)
    old_calls, old_g, calls[:], seconds[:] = len(calls), sum(seconds), [], []
    new(0)
    new_calls, new_g = len(calls), sum(seconds)
    for hook in hooks:
        hook.remove()
    alone = measure_attributes(generator, edit, walk, factors, n=args.n, batch_size=args.batch_size, progress=False)
    walked = WalkedAttributes()
    result = measure(generator, edit, walk, n=args.n, batch_size=args.batch_size, progress=False, observe=walked)
    together = attribute_steering(walked, edit, factors, result.alphas, args.n, args.batch_size, device=device)
    same = all(torch.equal(getattr(alone, k), getattr(together, k)) for k in ("model_mean", "data_mean", "intersection"))
    times = interleaved({"old": old, "new": new}, args.repeats)
    o, n = median(times["old"]), median(times["new"])
    return ["attributes + steerability", f"G calls {old_calls} → {new_calls} ({old_g:.2f} → {new_g:.2f} s in G)", f"{o:.2f} s", f"{n:.2f} s",
            f"**{o / n:.2f}×**", "identical" if same else "DIFFERENT", spread(times)]


def registration_section(args, device, generator, edit, walk) -> list[list]:
    alphas = edit.test_alphas().to(device)
    z, y = generator.sample(args.batch_size, rng(0, "evaluate"), device)
    with torch.no_grad():
        pairs = list(steer_grid(generator, edit, walk, z, alphas, y))
    metrics = {name: SteerabilityMetric(edit, alphas.cpu()).to(device) for name in ("old", "new")}
    updates = {"old": lambda m: one_warp_per_alpha(m, pairs), "new": lambda m: m.update(pairs)}

    def timed(name):
        def run(_):
            metrics[name].reset()
            t0 = now(device)
            with torch.no_grad():
                updates[name](metrics[name])
            return now(device) - t0
        return run

    times = interleaved({name: timed(name) for name in updates}, args.repeats)
    diff = (metrics["old"].reg_sum - metrics["new"].reg_sum).abs().max() / metrics["old"].reg_sum.abs().max()
    warps = f"warps {len(alphas) * len(metrics['new'].offsets)} → {len(metrics['new'].candidates)}"
    o, n = median(times["old"]), median(times["new"])
    rows = [["registration (one batch's update)", warps, f"{o * 1e3:.0f} ms", f"{n * 1e3:.0f} ms", f"**{o / n:.2f}×**",
             f"rel. {float(diff):.0e}", spread(times)]]

    update = SteerabilityMetric.update

    def whole(name):
        def run(_):
            SteerabilityMetric.update = update if name == "new" else one_warp_per_alpha
            try:
                t0 = now(device)
                measure(generator, edit, walk, n=args.n, batch_size=args.batch_size, progress=False)
                return now(device) - t0
            finally:
                SteerabilityMetric.update = update
        return run

    times = interleaved({name: whole(name) for name in ("old", "new")}, args.repeats)
    o, n = median(times["old"]), median(times["new"])
    rows.append(["registration (whole `measure`)", warps, f"{o:.2f} s", f"{n:.2f} s", f"**{o / n:.2f}×**", "",
                 spread(times)])
    return rows


def fit_section(args, device, generator, edit) -> list:
    accelerator, devices = ("cpu", 1) if device.type == "cpu" else ("gpu", [device.index or 0])

    def run(name):
        def fit(_):
            torch.manual_seed(0)
            module = WalkModule(generator, edit, walk=LinearWalk)
            data = (OldIndexTransfer if name == "old" else LatentDataModule)(batch_size=args.batch_size, val_size=64)
            if name == "old":
                module.val_walk = torch.nn.ModuleList(MeanMetric() for _ in module.test_alphas)
                module.val_base = torch.nn.ModuleList(MeanMetric() for _ in module.test_alphas)
            trainer = Trainer(max_steps=args.steps, val_check_interval=args.steps // 2, log_every_n_steps=10,
                              logger=False, enable_checkpointing=False, enable_progress_bar=False,
                              enable_model_summary=False, num_sanity_val_steps=0, accelerator=accelerator,
                              devices=devices, callbacks=[(OldThroughput if name == "old" else Throughput)()])
            t0 = now(device)
            trainer.fit(module, data)
            return now(device) - t0
        return fit

    times = interleaved({name: run(name) for name in ("old", "new")}, args.repeats)
    o, n = median(times["old"]), median(times["new"])
    return [f"fit ({args.steps} steps + 2 validations)", "syncs per step 1 (+18 per val. step) → 0",
            f"{o:.2f} s", f"{n:.2f} s", f"**{o / n:.2f}×**", "", spread(times)]


def spread(times: dict[str, list[float]]) -> str:
    return "; ".join(f"{k} {min(v):.3g}–{max(v):.3g}" for k, v in times.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/sprites/joint_shift_x.ckpt",
                        help="a sprites run with a generator, a walk and its edit")
    parser.add_argument("--n", type=int, default=200, help="latents per evaluation")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--steps", type=int, default=40, help="training steps per fit")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--sections", nargs="+", default=["attributes", "registration", "fit"],
                        choices=["attributes", "registration", "fit"])
    add_machine_args(parser)
    args = parser.parse_args()
    device = prepare(args)
    generator, edit, walk, record = steered(args.checkpoint, None, None, None)
    generator.to(device).eval()
    walk.to(device).eval()
    factors = training_factors(record, generator, None, args.checkpoint)
    print(f"{machine(device)}; {Path(args.checkpoint).name}: {type(generator).__name__} "
          f"{generator.resolution} px, {edit!r}, n={args.n}, batch {args.batch_size}, {args.repeats} repeats")
    rows = []
    if "attributes" in args.sections:
        rows.append(attributes_section(args, device, generator, edit, walk, factors))
    if "registration" in args.sections:
        rows += registration_section(args, device, generator, edit, walk)
    if "fit" in args.sections:
        rows.append(fit_section(args, device, generator, edit))
    print(table(["what", "work", "old", "new", "old / new", "same result", "spread (min–max)"], rows))


if __name__ == "__main__":
    main()
