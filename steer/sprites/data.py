"""Sprite batches for training: a seeded, resumable, rank-aware stream of rendered sprites with their factors.

Batch i of rank r is drawn from ``rng(seed, "sprites", r, i)`` alone: the
number of DataLoader workers never changes the stream, ranks never repeat
each other, and a resumed run continues from the saved batch index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from steer.errors import SteerError
from steer.seeding import rng
from steer.sprites.factors import SpriteFactors
from steer.sprites.rendering import render_factors

T = TypeVar("T")
Batch = dict  # {"image": (B, 3, H, W), "factors": {name: (B,)}, "index": (B,) on training batches}


class SpritesDataset(IterableDataset):
    """Batches i = start, start+1, … up to the next multiple of ``batches_per_epoch``.

    Batch i is ``factors.sample(batch_size, rng(seed, "sprites", rank, i))``
    rendered, so its content depends only on (seed, rank, i). Worker w of W
    makes batches start+w, start+w+W, …, which the DataLoader's round robin over
    workers puts back into order. Ending each pass on an epoch boundary keeps
    epochs aligned with batch indices when a run resumes mid-epoch.
    """

    def __init__(
        self,
        factors: SpriteFactors,
        batch_size: int,
        seed: int,
        rank: int = 0,
        start: int = 0,
        batches_per_epoch: int = 1000,
        samples: int = 4,
    ) -> None:
        if batch_size <= 0 or batches_per_epoch <= 0 or start < 0:
            raise SteerError(f"SpritesDataset needs batch_size > 0, batches_per_epoch > 0 and start ≥ 0, got "
                             f"{batch_size}, {batches_per_epoch}, {start}.")
        self.factors, self.batch_size, self.seed, self.rank = factors, batch_size, seed, rank
        self.start, self.batches_per_epoch, self.samples = start, batches_per_epoch, samples

    def batch(self, index: int) -> Batch:
        """Training batch ``index`` of this rank."""
        factors = self.factors.sample(self.batch_size, rng(self.seed, "sprites", self.rank, index))
        image = render_factors(factors, self.factors.size, self.samples)
        return {"image": image, "factors": factors, "index": torch.full((self.batch_size,), index)}

    def __iter__(self) -> Iterator[Batch]:
        return self._stream(self.start)

    def _stream(self, start: int) -> Iterator[Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        end = (start // self.batches_per_epoch + 1) * self.batches_per_epoch
        for index in range(start + worker, end, workers):
            yield self.batch(index)


class SpritesDataModule(LightningDataModule):
    """Sprite batches for training and a fixed validation set, resumable and rank-aware.

    ``factors`` (default ``SpriteFactors()``) sets the size and every factor's
    distribution; in YAML it is a mapping of SpriteFactors' arguments.
    ``samples``: anti-aliasing, samples × samples sub-pixels per pixel (the
    rendering cost grows as samples²; 2 is plenty for training at 32 px).
    Training: ``SpritesDataset`` from batch ``position``, which advances as
    batches reach the model (``on_after_batch_transfer``) and is saved in the
    checkpoint (``state_dict``). Validation: ``n_val`` sprites drawn once from
    ``rng(seed, "sprites-val")``; rank r of W takes items r::W, as ready-made
    batches (iterable, so that Lightning adds no DistributedSampler that would
    split the rank's share once more).
    """

    def __init__(
        self,
        factors: SpriteFactors | None = None,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
        n_val: int = 512,
        batches_per_epoch: int = 1000,
        samples: int = 4,
    ) -> None:
        super().__init__()
        for name, value, least in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                                   ("n_val", n_val, 0), ("batches_per_epoch", batches_per_epoch, 1),
                                   ("samples", samples, 1)):
            if value < least:
                raise SteerError(f"data.{name} must be ≥ {least}, got {value}.")
        self.factors = factors if factors is not None else SpriteFactors()
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.n_val, self.batches_per_epoch, self.samples = n_val, batches_per_epoch, samples
        self.position = 0  # index of the next training batch
        self.train_set: SpritesDataset | None = None
        self.val_set: list[Batch] | None = None

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def setup(self, stage: str | None = None) -> None:
        rank, world = self._ranks()
        self.train_set = SpritesDataset(self.factors, self.batch_size, self.seed, rank, self.position,
                                        self.batches_per_epoch, self.samples)
        factors = {k: v[rank::world] for k, v in self.factors.sample(self.n_val, rng(self.seed, "sprites-val")).items()}
        image = render_factors(factors, self.factors.size, self.samples)
        self.val_set = [{"image": image[i:i + self.batch_size], "factors": {k: v[i:i + self.batch_size]
                                                                           for k, v in factors.items()}}
                        for i in range(0, len(image), self.batch_size)]

    def train_dataloader(self) -> DataLoader:
        # workers are not persistent: each pass copies the dataset, with its current start, to fresh workers
        return DataLoader(self._ready(self.train_set), batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        from steer.data.latents import Batches  # imported here: steer.data imports this module

        return DataLoader(Batches(self._ready(self.val_set)), batch_size=None)

    def _ready(self, data: T | None) -> T:
        if data is None:
            raise SteerError("SpritesDataModule.setup() must run before its dataloaders are requested.")
        return data

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        """Everything but ``index``, which stays on the host: reading it (below, in GANModule's step) costs no
        host-device sync."""
        moved = super().transfer_batch_to_device({k: v for k, v in batch.items() if k != "index"}, device,
                                                 dataloader_idx)
        return {**moved, "index": batch["index"]} if "index" in batch else moved

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        if "index" in batch:  # training batches only
            self._move_to(int(batch["index"][0]) + 1)
        return batch

    def _move_to(self, position: int) -> None:
        # the next pass over the training set (next epoch, or a restored run) starts here
        self.position = position
        if self.train_set is not None:
            self.train_set.start = position

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state_dict: dict) -> None:
        self._move_to(int(state_dict["position"]))
