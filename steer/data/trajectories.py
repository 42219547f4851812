"""Batches of trajectory records for the factor regressor (steer.modules.FactorRegressor).

Reads a records file (``steer discover trajectories ... --out DIR`` writes
DIR/records.pt), drops the worst decile by inversion loss, and splits the
rest by start latent (all records of one z0 on the same side) into training
and validation sets. The split and the shuffling come from ``seed``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from steer.errors import SteerError
from steer.formats.trajectories import Records, load_records
from steer.seeding import rng


class RecordSet(Dataset):
    """Rows {z0, z_t, delta} of records."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        r = self.records
        return {"z0": r.z0[i], "z_t": r.z_t[i], "delta": r.delta[i]}


class TrajectoryDataModule(LightningDataModule):
    """Training and validation batches from a records file.

    Args:
        records: path of a records.pt written by ``steer discover trajectories``.
        batch_size: records per batch.
        keep: fraction of records kept, lowest inversion loss first (0.9 drops the worst decile).
        val_fraction: fraction of start latents held out for validation (at least one).
        seed: seed of the split and of the shuffling.
        num_workers: DataLoader workers.
    """

    def __init__(self, records: str, batch_size: int = 256, keep: float = 0.9, val_fraction: float = 0.1,
                 seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        if batch_size < 1 or not 0 < val_fraction < 1 or num_workers < 0:
            raise SteerError(f"data needs batch_size ≥ 1, 0 < val_fraction < 1 and num_workers ≥ 0; got "
                             f"{batch_size}, {val_fraction}, {num_workers}.")
        self.path, self.batch_size, self.keep = Path(records), batch_size, keep
        self.val_fraction, self.seed, self.num_workers = val_fraction, seed, num_workers
        self.train_set: RecordSet | None = None
        self.val_set: RecordSet | None = None

    def setup(self, stage: str | None = None) -> None:
        records = load_records(self.path).best(self.keep)  # drop the worst decile before training
        module = self.trainer.lightning_module if self.trainer is not None else None
        d = getattr(module, "latent_dim", records.z0.shape[1])
        if records.z0.shape[1] != d:
            raise SteerError(f"{self.path} holds {records.z0.shape[1]}-d latents but model.latent_dim is {d}; "
                             f"set model.init_args.latent_dim: {records.z0.shape[1]}.")
        starts = records.start.unique()
        if len(starts) < 2:
            raise SteerError(f"{self.path} has records of {len(starts)} start latent(s); at least 2 are needed "
                             "to hold some out for validation (run trajectories with a larger --n).")
        order = starts[torch.randperm(len(starts), generator=rng(self.seed, "trajectories", "split"))]
        held_out = torch.isin(records.start, order[: max(1, math.floor(self.val_fraction * len(starts)))])
        self.train_set, self.val_set = RecordSet(records.select(~held_out)), RecordSet(records.select(held_out))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                          generator=rng(self.seed, "trajectories", "shuffle"))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)
