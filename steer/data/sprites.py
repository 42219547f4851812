"""Procedural dSprites-like sprites with known factors, rendered in pure torch.

A sprite is one flat-coloured shape (square, ellipse, heart) on a black
background. Its factors: ``x``, ``y`` (centroid, pixels), ``scale`` (width of
the unrotated shape as a fraction of the image side), ``rotation`` (degrees,
counter-clockwise as seen, like ``steer.edits.Rotate2D``), ``red``, ``green``,
``blue`` (colour in [0, 1]) and ``shape`` (index into ``SHAPES``).

Coordinates: pixel (row i, column j) covers [j, j+1) × [i, i+1), so the image
centre is (size/2, size/2) and y grows downwards. Every factor is drawn from
a configurable distribution (``Fixed``, ``Uniform``, ``Normal``), so biased
data sets (e.g. x ~ Normal(32, 2)) are one config line away.

Batch i of rank r is drawn from ``rng(seed, "sprites", r, i)`` alone: the
number of DataLoader workers never changes the stream, ranks never repeat
each other, and a resumed run continues from the saved batch index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from steer.errors import SteerError
from steer.seeding import rng

SHAPES = ("square", "ellipse", "heart")
FACTORS = ("shape", "x", "y", "scale", "rotation", "red", "green", "blue")
ELLIPSE_ASPECT = 0.5  # minor / major axis of the ellipse
_CHUNK_SAMPLES = 1 << 22  # sub-pixel samples rendered at once (16 MiB per float tensor)

Batch = dict  # {"image": (B, 3, H, W), "factors": {name: (B,)}, "index": (B,) on training batches}

# The heart: a square of side a turned 45° (|u| + |v| ≤ a/√2) with two discs of
# diameter a centred on the midpoints of its upper edges, (±a/(2√2), a/(2√2)).
# The inner half of each disc lies in the square, so  area = a² (1 + π/4).
# Width = a (1 + 1/√2). Each outer half-disc has its centroid 4r/(3π) beyond its
# edge (r = a/2), so the centroid sits above the square's centre by
#   c = 2 (π a²/8) (a/(2√2) + 2a/(3π√2)) / (a² (1 + π/4)) = a (π/8 + 1/6) / (√2 (1 + π/4)).
_HEART_WIDTH = 1 + 1 / math.sqrt(2)
_HEART_CENTROID = (math.pi / 8 + 1 / 6) / (math.sqrt(2) * (1 + math.pi / 4))


# -- factor distributions ------------------------------------------------------
class Distribution:
    """A distribution of one real factor: ``sample(n, generator)`` → (n,) float32."""

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        raise NotImplementedError

    @property
    def support(self) -> tuple[float, float]:
        """The smallest interval that holds every draw (bounds may be ±inf)."""
        raise NotImplementedError


@dataclass
class Fixed(Distribution):
    """Always ``value``."""

    value: float

    def __post_init__(self) -> None:
        _check_finite(self, value=self.value)

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        return torch.full((n,), float(self.value))

    @property
    def support(self) -> tuple[float, float]:
        return (self.value, self.value)


@dataclass
class Uniform(Distribution):
    """U(low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_finite(self, low=self.low, high=self.high)
        _check_order(self, self.low, self.high)

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        return self.low + (self.high - self.low) * torch.rand(n, generator=generator)

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass
class Normal(Distribution):
    """N(mean, std²), truncated to [low, high] where either bound is given (None: unbounded).

    Truncation by the inverse CDF: x = mean + std Φ⁻¹(U(Φ(a), Φ(b))),
    a = (low − mean)/std, b = (high − mean)/std, so no draw is wasted or clipped
    onto a bound (except far in the tails, where float64 runs out of precision).
    """

    mean: float
    std: float
    low: Optional[float] = None
    high: Optional[float] = None

    def __post_init__(self) -> None:
        _check_finite(self, mean=self.mean, std=self.std)
        if self.std < 0:
            raise SteerError(f"Normal std must be ≥ 0, got {self.std}; use Fixed for a constant factor.")
        _check_order(self, *self.support)

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        low, high = self.support
        if self.std == 0:
            return torch.full((n,), min(max(float(self.mean), low), high))
        cdf_low, cdf_high = (0.5 * (1 + math.erf((b - self.mean) / (self.std * math.sqrt(2)))) for b in (low, high))
        u = torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(torch.finfo(torch.float64).tiny)
        x = self.mean + self.std * torch.special.ndtri(cdf_low + u * (cdf_high - cdf_low))
        return x.clamp(low, high).float()

    @property
    def support(self) -> tuple[float, float]:
        return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)


def _check_finite(dist: Distribution, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise SteerError(f"{type(dist).__name__} {name} must be a finite number, got {value}.")


def _check_order(dist: Distribution, low: float, high: float) -> None:
    if low > high:
        raise SteerError(f"{type(dist).__name__} needs low ≤ high, got low={low}, high={high}; swap them.")


# -- rendering -----------------------------------------------------------------
def _square(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # max(|u|, |v|) ≤ w/2
    return torch.maximum(u.abs(), v.abs()) <= width / 2


def _ellipse(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # (u/A)² + (v/B)² ≤ 1, semi-axes A = w/2 (along u at rotation 0), B = ELLIPSE_ASPECT · A
    major = width / 2
    return (u / major) ** 2 + (v / (ELLIPSE_ASPECT * major)) ** 2 <= 1


def _heart(u: Tensor, v: Tensor, width: Tensor) -> Tensor:
    # the union described at _HEART_CENTROID, shifted so its centroid is at (0, 0)
    a = width / _HEART_WIDTH
    v = v + _HEART_CENTROID * a
    h = a / (2 * math.sqrt(2))  # disc centres (±h, h)
    in_square = u.abs() + v.abs() <= 2 * h
    in_discs = (u.abs() - h) ** 2 + (v - h) ** 2 <= (a / 2) ** 2
    return in_square | in_discs


_INSIDE = (_square, _ellipse, _heart)  # in SHAPES order


def shape_area(shape: Tensor, scale: Tensor, size: int) -> Tensor:
    """Exact area in pixels of each sprite (ignoring what falls outside the image)."""
    width = scale.float() * size
    square = width**2
    ellipse = math.pi * ELLIPSE_ASPECT * width**2 / 4  # π A B
    heart = (width / _HEART_WIDTH) ** 2 * (1 + math.pi / 4)  # a² (1 + π/4)
    return torch.stack([square, ellipse, heart])[shape.long(), torch.arange(len(shape), device=shape.device)]


def render(
    shape: Tensor,
    x: Tensor,
    y: Tensor,
    scale: Tensor,
    rotation: Tensor,
    colour: Tensor,
    size: int,
    samples: int = 4,
) -> Tensor:
    """Images (N, 3, size, size) in [-1, 1] of N sprites, on the device of ``x``.

    ``shape`` (N,) indexes ``SHAPES``; ``x``, ``y``, ``scale``, ``rotation`` are (N,)
    in the module's units; ``colour`` is (N, 3) RGB in [0, 1]. Anti-aliased by
    supersampling: each pixel's coverage is the fraction of its samples × samples
    sub-pixel grid inside the shape, and pixel = coverage · colour.
    """
    n = _check_render_args(shape, x, y, scale, rotation, colour, size, samples)
    device = x.device
    shape, x, y, scale, rotation, colour = (t.to(device) for t in (shape, x, y, scale, rotation, colour))
    per_chunk = max(1, _CHUNK_SAMPLES // (size * samples) ** 2)  # bounds memory for large batches
    chunks = [_coverage(shape[rows], x[rows], y[rows], scale[rows] * size, rotation[rows], size, samples)
              for rows in torch.arange(n, device=device).split(per_chunk)]
    coverage = torch.cat([torch.zeros(0, size, size, device=device), *chunks])
    return coverage[:, None] * colour.float()[:, :, None, None] * 2 - 1


def _coverage(shape: Tensor, x: Tensor, y: Tensor, width: Tensor, rotation: Tensor, size: int, samples: int) -> Tensor:
    """(N, size, size) fraction of each pixel's sub-pixel samples inside the sprite."""
    sub = (torch.arange(size * samples, device=x.device, dtype=torch.float32) + 0.5) / samples  # sample positions
    rad = torch.deg2rad(rotation.float())[:, None, None]
    # offset from the centroid with y up, then into the shape's frame: (u, v) = R(−θ)(dx, dy)
    dx = sub[None, None, :] - x.float()[:, None, None]
    dy = y.float()[:, None, None] - sub[None, :, None]
    u, v = rad.cos() * dx + rad.sin() * dy, rad.cos() * dy - rad.sin() * dx
    width = width.float()[:, None, None]
    inside = torch.zeros(u.shape, dtype=torch.bool, device=x.device)
    for s, test in enumerate(_INSIDE):
        idx = (shape == s).nonzero()[:, 0]
        if len(idx):
            inside[idx] = test(u[idx], v[idx], width[idx])
    return inside.float().view(len(x), size, samples, size, samples).mean(dim=(2, 4))


def _check_render_args(
    shape: Tensor, x: Tensor, y: Tensor, scale: Tensor, rotation: Tensor, colour: Tensor, size: int, samples: int
) -> int:
    if size <= 0 or samples <= 0:
        raise SteerError(f"render needs size > 0 and samples > 0, got size={size}, samples={samples}.")
    if x.dim() != 1:
        raise SteerError(f"render takes one value of x per sprite, shape (N,), got {tuple(x.shape)}.")
    n = len(x)
    named = {"shape": shape, "x": x, "y": y, "scale": scale, "rotation": rotation}
    bad = [f"{k} {tuple(t.shape)}" for k, t in named.items() if t.shape != (n,)]
    bad += [f"colour {tuple(colour.shape)}"] if colour.shape != (n, 3) else []
    if bad:
        raise SteerError(f"render needs (N,) factors and an (N, 3) colour, with N={n} from x; got {', '.join(bad)}.")
    if n and (shape.min() < 0 or shape.max() >= len(SHAPES)):
        raise SteerError(f"shape indices must be in 0..{len(SHAPES) - 1} ({', '.join(SHAPES)}), "
                         f"got values from {shape.min().item()} to {shape.max().item()}.")
    return n


def render_factors(factors: dict[str, Tensor], size: int, samples: int = 4) -> Tensor:
    """``render`` for a factor dict as ``SpriteFactors.sample`` returns."""
    colour = torch.stack([factors["red"], factors["green"], factors["blue"]], dim=1)
    return render(factors["shape"], factors["x"], factors["y"], factors["scale"], factors["rotation"], colour, size,
                  samples)


# -- the joint distribution of factors -------------------------------------------
class SpriteFactors:
    """Independent draws of every factor; ``shapes`` maps shape names to probabilities.

    Defaults (None): every shape equally likely, x, y ~ U(0.3, 0.7)·size, scale ~
    U(0.2, 0.4), rotation ~ U(0, 360), each colour channel ~ U(0.5, 1), which keeps
    every sprite inside the image and bright against the background.
    """

    def __init__(
        self,
        size: int = 64,
        shapes: Optional[dict[str, float]] = None,
        x: Optional[Distribution] = None,
        y: Optional[Distribution] = None,
        scale: Optional[Distribution] = None,
        rotation: Optional[Distribution] = None,
        red: Optional[Distribution] = None,
        green: Optional[Distribution] = None,
        blue: Optional[Distribution] = None,
    ) -> None:
        if size <= 0:
            raise SteerError(f"sprite size must be a positive number of pixels, got {size}.")
        self.size = size
        self.shape_probs = _shape_probs(shapes)
        given = {"x": x, "y": y, "scale": scale, "rotation": rotation, "red": red, "green": green, "blue": blue}
        defaults = {"x": Uniform(0.3 * size, 0.7 * size), "y": Uniform(0.3 * size, 0.7 * size),
                    "scale": Uniform(0.2, 0.4), "rotation": Uniform(0.0, 360.0),
                    "red": Uniform(0.5, 1.0), "green": Uniform(0.5, 1.0), "blue": Uniform(0.5, 1.0)}
        self.dists = {name: defaults[name] if dist is None else dist for name, dist in given.items()}
        for name, dist in self.dists.items():
            if not isinstance(dist, Distribution):
                raise SteerError(f"sprite factor {name} needs a Fixed, Uniform or Normal distribution, got {dist!r}.")
        low, _ = self.dists["scale"].support
        if low <= 0:
            raise SteerError(f"sprite scale must stay > 0, but {self.dists['scale']} can draw {low}; "
                             "set a low bound > 0.")
        for c in ("red", "green", "blue"):
            low, high = self.dists[c].support
            if low < 0 or high > 1:
                raise SteerError(f"sprite {c} must stay in [0, 1], but {self.dists[c]} spans [{low}, {high}]; "
                                 "set low/high bounds inside [0, 1].")

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> dict[str, Tensor]:
        """``n`` draws of every factor in ``FACTORS`` order, all from ``generator``."""
        out = {"shape": torch.multinomial(self.shape_probs, n, replacement=True, generator=generator)}
        out.update({name: dist.sample(n, generator) for name, dist in self.dists.items()})
        return out

    def __repr__(self) -> str:
        shapes = {s: round(p, 4) for s, p in zip(SHAPES, self.shape_probs.tolist()) if p}
        dists = ", ".join(f"{k}={v}" for k, v in self.dists.items())
        return f"SpriteFactors(size={self.size}, shapes={shapes}, {dists})"


def _shape_probs(shapes: Optional[dict[str, float]]) -> Tensor:
    if shapes is None:
        return torch.ones(len(SHAPES)) / len(SHAPES)
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        raise SteerError(f"unknown sprite shape(s) {unknown}; choose from {list(SHAPES)}.")
    probs = torch.tensor([float(shapes.get(s, 0.0)) for s in SHAPES])
    if not torch.isfinite(probs).all() or (probs < 0).any() or probs.sum() <= 0:
        raise SteerError(f"sprite shape probabilities must be ≥ 0 with a positive sum, got {shapes}.")
    return probs / probs.sum()


# -- data ------------------------------------------------------------------------
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


class _Items(Dataset):
    """Fixed images and factors, one item per index (for the validation set)."""

    def __init__(self, image: Tensor, factors: dict[str, Tensor]) -> None:
        self.image, self.factors = image, factors

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> Batch:
        return {"image": self.image[i], "factors": {k: v[i] for k, v in self.factors.items()}}


class SpritesDataModule(LightningDataModule):
    """Sprite batches for training and a fixed validation set, resumable and rank-aware.

    ``factors`` (default ``SpriteFactors()``) sets the size and every factor's
    distribution; in YAML it is a mapping of SpriteFactors' arguments.
    ``samples``: anti-aliasing, samples × samples sub-pixels per pixel (the
    rendering cost grows as samples²; 2 is plenty for training at 32 px).
    Training: ``SpritesDataset`` from batch ``position``, which advances as
    batches reach the model (``on_after_batch_transfer``) and is saved in the
    checkpoint (``state_dict``). Validation: ``n_val`` sprites drawn once from
    ``rng(seed, "sprites-val")``; rank r of W takes items r::W.
    """

    def __init__(
        self,
        factors: Optional[SpriteFactors] = None,
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
        self.train_set: Optional[SpritesDataset] = None
        self.val_set: Optional[_Items] = None

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def setup(self, stage: Optional[str] = None) -> None:
        rank, world = self._ranks()
        self.train_set = SpritesDataset(self.factors, self.batch_size, self.seed, rank, self.position,
                                        self.batches_per_epoch, self.samples)
        factors = {k: v[rank::world] for k, v in self.factors.sample(self.n_val, rng(self.seed, "sprites-val")).items()}
        self.val_set = _Items(render_factors(factors, self.factors.size, self.samples), factors)

    def train_dataloader(self) -> DataLoader:
        # workers are not persistent: each pass copies the dataset, with its current start, to fresh workers
        return DataLoader(self._ready(self.train_set), batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._ready(self.val_set), batch_size=self.batch_size, num_workers=0)

    def _ready(self, data: Optional[Dataset]) -> Dataset:
        if data is None:
            raise SteerError("SpritesDataModule.setup() must run before its dataloaders are requested.")
        return data

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
