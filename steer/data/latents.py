"""A seeded, resumable stream of (z, y, α) batches for walk training.

Batch ``i`` of rank ``r`` is drawn from ``rng(seed, "train", r, i)``: its content
depends only on (seed, rank, i). Ranks never repeat each other's latents, the
number of DataLoader workers does not change the stream (worker ``w`` of ``W``
makes batches start+w, start+w+W, …, which the DataLoader interleaves back
into order), and a resumed run continues from the saved batch index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from steer.errors import SteerError
from steer.seeding import rng

Batch = dict[str, Tensor]
Sampler = Callable[[int, torch.Generator], Batch]
LatentSampler = Callable[[int, torch.Generator], tuple[Tensor, Tensor | None]]  # Generator.sample


def evaluation_latents(sample: LatentSampler, n: int, batch_size: int,
                       seed: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    """The evaluation's ``n`` latents and classes on the CPU: batches of ``batch_size`` drawn in turn from
    ``rng(seed, "evaluate")`` by ``sample`` (a generator's ``sample``). The steerability measure and the test
    loop both evaluate these."""
    g = rng(seed, "evaluate")
    for start in range(0, n, batch_size):
        yield sample(min(batch_size, n - start), g)


class LatentStream(IterableDataset):
    """Endless batches ``sample(batch_size, rng(seed, "train", rank, i))`` for i = start, start+1, …"""

    def __init__(self, sample: Sampler, batch_size: int, seed: int, rank: int = 0, start: int = 0) -> None:
        self.sample, self.batch_size, self.seed, self.rank, self.start = sample, batch_size, seed, rank, start

    def batch(self, index: int) -> Batch:
        out = self.sample(self.batch_size, rng(self.seed, "train", self.rank, index))
        out["index"] = torch.full((len(out["z"]),), index, dtype=torch.long)
        return out

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        index = self.start + (info.id if info else 0)
        stride = info.num_workers if info else 1
        while True:
            yield self.batch(index)
            index += stride


class Batches(IterableDataset):
    """Ready-made batches of one rank, in order. Iterable, so that Lightning adds no DistributedSampler that would
    split the rank's share of a fixed set once more."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class LatentDataModule(LightningDataModule):
    """Streams (z, y, α) for the attached LightningModule's generator and edit.

    The module must have ``generator`` (Generator contract) and ``edit`` (Edit
    contract); ``setup`` reads them from the trainer, so one config section
    (model) names them once. Validation is a fixed set of ``val_size`` latents,
    the test (steerability) set the ``test_size`` evaluation latents
    (:func:`evaluation_latents`, as ``steer evaluate steerability`` draws them) and
    prediction a fixed set of ``predict_size``; each set is split disjointly
    across ranks (latent i goes to rank i mod world size), and the module
    evaluates each latent on the edit's test α grid.

    ``batch_size`` is the number of training pairs (z, α) per step. With
    ``alphas_per_latent`` K > 1 a training batch holds batch_size / K latents,
    each with K strengths: ``z`` (B/K, d) and ``alpha`` (B, sliders), latent i's
    α in rows iK … iK + K − 1. The walk module then computes each target G(z)
    once for its K pairs (docs/PERFORMANCE.md, "Several strengths per latent").
    K = 1 draws exactly the stream it always drew.

    ``alpha_per_batch``: every pair of a training batch gets one α, drawn once
    per batch, as the steerability code does for its zoom, shift and rotate
    walks (utils/transforms.py ``get_train_alpha``: one α times
    ``np.ones((batch_size, …))``; docs/PAPER_PRESETS.md). Default: one α per pair.
    """

    def __init__(self, batch_size: int = 16, seed: int = 0, val_size: int = 64, num_workers: int = 0,
                 test_size: int = 500, predict_size: int = 8, alphas_per_latent: int = 1,
                 alpha_per_batch: bool = False) -> None:
        super().__init__()
        for name, value, least in (("batch_size", batch_size, 1), ("val_size", val_size, 1),
                                   ("num_workers", num_workers, 0), ("test_size", test_size, 1),
                                   ("predict_size", predict_size, 1), ("alphas_per_latent", alphas_per_latent, 1)):
            if value < least:
                raise SteerError(f"data.{name} must be ≥ {least}, got {value}.")
        if batch_size % alphas_per_latent:
            raise SteerError(f"data.batch_size ({batch_size}) must be a multiple of data.alphas_per_latent "
                             f"({alphas_per_latent}): a batch holds batch_size / alphas_per_latent latents, "
                             "each with alphas_per_latent strengths.")
        if alpha_per_batch and alphas_per_latent > 1:
            raise SteerError(f"data.alpha_per_batch gives every pair of a batch the same α, so data.alphas_per_latent "
                             f"({alphas_per_latent}) would repeat each pair; use one of them.")
        self.alphas_per_latent, self.alpha_per_batch = alphas_per_latent, alpha_per_batch
        self.batch_size, self.seed, self.val_size, self.num_workers = batch_size, seed, val_size, num_workers
        self.test_size, self.predict_size = test_size, predict_size
        self.position = 0  # index of the next training batch
        self.stream: LatentStream | None = None

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _sampler(self, alphas_per_latent: int = 1, per_batch: bool = False) -> Sampler:
        """``sample(n, g)``: n / alphas_per_latent latents (and classes) with n strengths α (``per_batch``: one α
        repeated n times)."""
        module = self.trainer.lightning_module
        generator, edit = module.generator, module.edit

        def sample(n: int, g: torch.Generator) -> Batch:
            latents = n // alphas_per_latent
            z = generator.sample_latent(latents, g)
            alpha = edit.sample_alpha(1, g).expand(n, -1).clone() if per_batch else edit.sample_alpha(n, g)
            batch = {"z": z, "alpha": alpha}
            y = generator.sample_class(latents, g)
            if y is not None:
                batch["y"] = y
            return batch

        return sample

    def train_dataloader(self) -> DataLoader:
        rank, _ = self._ranks()
        self.stream = LatentStream(self._sampler(self.alphas_per_latent, self.alpha_per_batch), self.batch_size, self.seed, rank, self.position)
        # Workers are not persistent: each new pass (epoch) copies the stream with its current start.
        return DataLoader(self.stream, batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._fixed_set("val_size", self._sampler()(self.val_size, rng(self.seed, "val")))

    def test_dataloader(self) -> DataLoader:
        generator = self.trainer.lightning_module.generator
        batches = list(evaluation_latents(generator.sample, self.test_size, self.batch_size, self.seed))
        full = {"z": torch.cat([z for z, _ in batches])}
        if batches[0][1] is not None:
            full["y"] = torch.cat([y for _, y in batches])
        return self._fixed_set("test_size", full)

    def predict_dataloader(self) -> DataLoader:
        return self._fixed_set("predict_size", self._sampler()(self.predict_size, rng(self.seed, "predict")))

    def _fixed_set(self, option: str, full: Batch) -> DataLoader:
        """This rank's share of a fixed set of latents (latent i on rank i mod world), in batches, with indices."""
        rank, world = self._ranks()
        size = len(full["z"])
        if size < world:  # a rank without batches would leave the others waiting to sync
            raise SteerError(f"data.{option} ({size}) must be at least the number of ranks ({world}), "
                             "so that every rank evaluates a share of the fixed set of latents.")
        full["index"] = torch.arange(size)
        shard = {k: v[rank::world] for k, v in full.items()}
        chunks = [{k: v[i : i + self.batch_size] for k, v in shard.items()}
                  for i in range(0, len(shard["z"]), self.batch_size)]
        return DataLoader(Batches(chunks), batch_size=None)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        """Everything but ``index``, which stays on the host: reading it (below, in the module's step) costs no
        host-device sync."""
        moved = super().transfer_batch_to_device({k: v for k, v in batch.items() if k != "index"}, device,
                                                 dataloader_idx)
        return {**moved, "index": batch["index"]} if "index" in batch else moved

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        trainer = self.trainer
        if trainer is not None and trainer.training:
            self.position = int(batch["index"][0]) + 1
            if self.stream is not None:
                self.stream.start = self.position
        return batch

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state_dict: dict) -> None:
        self.position = int(state_dict["position"])
