"""What several commands need: the device, and the generator they work on."""

from __future__ import annotations

import torch

from steer.errors import SteerError
from steer.generators.base import Generator
from steer.restore import load_generator


def resolve_device(name: str) -> torch.device:
    """``name`` as a torch device that this machine has; one clear error otherwise."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise SteerError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:N (mps on a Mac).") from None
    if device.type == "meta":
        raise SteerError("--device meta holds no data; use cpu, cuda or cuda:N.")
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None) if device.type != "mps" else torch.backends.mps
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise SteerError(f"--device {name} was requested, but this machine has no usable {device.type.upper()} "
                         f"device (torch.{device.type}.is_available() is False); use --device cpu.")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise SteerError(f"--device {name}: this machine has {count} {device.type.upper()} device(s), "
                         f"{device.type}:0 … {device.type}:{count - 1}.")
    return device


def generator_on(device: torch.device, checkpoint: str | None, generator: dict | None) -> Generator:
    """The frozen generator of ``checkpoint`` (a trained run) or built from the spec ``generator``, on ``device``
    (default: the pretrained DigiFace DCGAN)."""
    return load_generator(checkpoint, generator).to(device)

