"""The direction-file format: latent directions found by any discovery method, with what made them.

A direction file is a plain dict of tensors, strings and numbers (it loads
with ``weights_only=True``): unit directions (k, latent_dim), one score per
direction (eigenvalue, explained variance, …), the method and its settings,
the generator they steer (class_path + init_args, or the checkpoint it came
from) and the steer version and command that made it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from steer.checkpoint import PathLike, load, save
from steer.errors import SteerError
from steer.formats import peer_directions as peer
from steer.formats.peer_directions import numpy_kind
from steer.formats.provenance import provenance

FORMAT_KEY = "steer_directions"
FORMAT_VERSION = 1


def fix_signs(directions: Tensor) -> Tensor:
    """Each row with its sign chosen so that its largest-magnitude coordinate is positive (repeatable results)."""
    peak = directions.abs().argmax(dim=1, keepdim=True)
    return directions * directions.gather(1, peak).sign()


@dataclass
class Directions:
    """k unit latent directions, best first, and where they came from."""

    directions: Tensor  # (k, latent_dim), unit rows
    scores: Tensor  # (k,), the method's measure of each direction, descending
    method: str
    generator: dict  # {"class_path", "init_args"} or {"checkpoint": path}
    score_name: str = "score"  # what the scores measure, e.g. "eigenvalue"
    params: dict = field(default_factory=dict)  # the method's settings (layer, n, seed, …)
    made_by: dict = field(default_factory=provenance)

    def __post_init__(self) -> None:
        fields = {"directions": (self.directions, torch.Tensor), "scores": (self.scores, torch.Tensor),
                  "method": (self.method, str), "generator": (self.generator, dict), "score_name": (self.score_name, str),
                  "params": (self.params, dict), "made_by": (self.made_by, dict)}
        wrong = [name for name, (value, kind) in fields.items() if not isinstance(value, kind)]
        if wrong:
            raise SteerError(f"a direction record needs {', '.join(f'{n}: {fields[n][1].__name__}' for n in wrong)}; "
                             f"got {', '.join(type(fields[n][0]).__name__ for n in wrong)}.")
        if self.directions.dim() != 2 or self.scores.shape != self.directions.shape[:1]:
            raise SteerError(
                f"directions must be (k, latent_dim) with one score each, got {tuple(self.directions.shape)} "
                f"and scores {tuple(self.scores.shape)}."
            )
        norms = self.directions.detach().float().norm(dim=1)
        if not norms.isfinite().all() or (norms == 0).any():
            raise SteerError("directions must be finite and non-zero; "
                             f"direction(s) {(~norms.isfinite() | (norms == 0)).nonzero()[:, 0].tolist()} are not.")
        self.directions = torch.nn.functional.normalize(self.directions.detach().float().cpu(), dim=1)
        self.scores = self.scores.detach().float().cpu()

    @property
    def latent_dim(self) -> int:
        return self.directions.shape[1]

    def __len__(self) -> int:
        return len(self.directions)


def save_directions(path: PathLike, d: Directions) -> Path:
    """Write ``d`` to ``path`` atomically, as a file that loads without running code."""
    return save({FORMAT_KEY: FORMAT_VERSION, **asdict(d)}, path)


def read_direction_fields(path: PathLike, what: str = "direction file") -> dict | None:
    """The fields of the direction record in ``path`` (steer's own direction file, or another tool's: see
    :mod:`steer.formats.peer_directions`), without checking them; None when ``path`` holds no directions (a
    checkpoint, say). ``what`` names the file in messages."""
    kind = numpy_kind(path) if Path(path).is_file() and Path(path).stat().st_size else None
    if kind is not None:
        return peer.read_numpy(path, kind)
    obj = load(path, what)
    if isinstance(obj, dict) and FORMAT_KEY in obj:
        if not isinstance(obj[FORMAT_KEY], int):
            raise SteerError(f"{path} is a damaged direction file (its format is {obj[FORMAT_KEY]!r}, not a number); "
                             "recompute it.")
        if obj[FORMAT_KEY] != FORMAT_VERSION:
            raise SteerError(f"{path} is a direction file of format {obj[FORMAT_KEY]}; this steer reads format "
                             f"{FORMAT_VERSION}. Recompute it with this version of steer.")
        return {k: v for k, v in obj.items() if k != FORMAT_KEY}
    return peer.read_torch(obj, path)


def is_direction_file(path: PathLike, what: str = "direction file") -> bool:
    """True when ``path`` holds directions: steer's direction file or a peer tool's (told apart from checkpoints by
    content); ``what`` names the file in messages."""
    return read_direction_fields(path, what) is not None


def load_directions(path: PathLike, latent_dim: int | None = None) -> Directions:
    """The direction file at ``path`` (steer's, or a GANSpace .npz, an InterFaceGAN .npy, a rosinality factor.pt);
    with ``latent_dim``, it must steer latents of that size."""
    fields = read_direction_fields(path)
    if fields is None:
        raise SteerError(
            f"{path} is not a direction file; give the directions.pt written by `steer discover sefa|pca`, or a "
            "GANSpace components .npz, an InterFaceGAN boundary .npy or a rosinality factor.pt."
        )
    try:
        d = Directions(**fields)
    except (TypeError, AttributeError):
        raise SteerError(f"{path} is a damaged direction file (missing or wrong fields); recompute it.") from None
    except SteerError as e:
        raise SteerError(f"{path} is a damaged direction file: {e} Recompute it.") from None
    if latent_dim is not None and d.latent_dim != latent_dim:
        if "imported_from" in d.params:
            raise SteerError(
                f"{path} holds {peer.describe(d.params)}: its directions have {d.latent_dim} coordinates, but the "
                f"generator's latent_dim is {latent_dim}; give the generator (and latent space, e.g. StyleGAN2's "
                f"latent_space: w) the file was made on."
            )
        raise SteerError(
            f"{path} holds directions in a {d.latent_dim}-d latent, but the generator's latent size is {latent_dim}; "
            f"use directions found on this generator (they were found on {describe_generator(d.generator)})."
        )
    return d


def describe_generator(spec: dict) -> str:
    """A generator record in a few words: its class or the checkpoint it came from."""
    if not spec:
        return "a generator the file does not record"
    if "checkpoint" in spec:
        return f"the generator of {spec['checkpoint']}"
    return str(spec.get("class_path", "an unrecorded generator"))
