"""One provenance record for every artifact steer writes (checkpoint, direction file, report).

    {"version": …, "command": [argv …], "config": {resolved config of the command},
     "generator": {"spec": {class_path, init_args} or {"checkpoint": path}, "weights_sha256": …}}

A walk checkpoint's generator entry also says whether it references the weights files or embeds the
weights (steer.generators.reference).
"""

from __future__ import annotations

import hashlib
import sys

import torch
from torch import nn

from steer.version import __version__


def weights_sha256(module: nn.Module) -> str:
    """sha256 of a module's state dict (names, dtypes, shapes and bytes in key order): the same weights, the same hash."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def frozen(module: nn.Module | None) -> bool:
    """True for a module with parameters none of which trains (a pretrained generator a walk steers)."""
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    return bool(params) and not any(p.requires_grad for p in params)


def generator_spec(generator: nn.Module) -> dict:
    """What a generator is: the checkpoint it came from, or its class path (its options are in the config)."""
    checkpoint = getattr(generator, "checkpoint", None)
    if isinstance(checkpoint, str):
        return {"checkpoint": checkpoint}
    return {"class_path": f"{type(generator).__module__}.{type(generator).__qualname__}"}


def provenance(config: dict | None = None, generator: nn.Module | None = None,
               spec: dict | None = None) -> dict:
    """The record of what is making an artifact now: steer version, command line, resolved config, generator."""
    record: dict = {"version": __version__, "command": list(sys.argv), "config": config or {}}
    if generator is not None:
        record["generator"] = {"spec": spec or generator_spec(generator), "weights_sha256": weights_sha256(generator)}
    return record


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes (e.g. the checkpoint a report measured)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
