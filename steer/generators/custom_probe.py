"""How steer calls a user's model, and which declared option is at fault when the call fails.

A ``CustomGenerator`` declares how its model reads its inputs: ``latent_dim``
and ``latent_shape`` for z, ``num_classes`` and ``class_input`` for y. When
the model raises on steer's probe batch, steer calls it again with one
declared option changed at a time (the other class input, the other latent
shape, no classes, another latent size or class count); the changes with
which it runs name the options at fault. A value that the model's own
constructor arguments hold ranks first (the model was built from them), then
the value closest to the declared one. The search stops after
:data:`SEARCH_SECONDS`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CLASS_INPUTS = ("index", "onehot")
LATENT_SHAPES = ("flat", "image")
SEARCH_SECONDS = 10.0  # longest time spent looking for the option at fault
MAX_TRIED = 1024  # largest latent size / class count tried
MESSAGE_CHARS = 300  # longest part of the model's own error message quoted


@dataclass(frozen=True)
class Inputs:
    """How the model reads its inputs: z of ``latent_dim`` as (N, d) or (N, d, 1, 1); y as indices or one-hot."""

    latent_dim: int
    latent_shape: str
    num_classes: int | None
    class_input: str

    def adapt(self, z: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """steer's (N, d) latents and (N,) class indices in the shapes the model reads."""
        if self.latent_shape == "image":
            z = z[:, :, None, None]
        if y is not None and self.class_input == "onehot":
            y = F.one_hot(y.long(), self.num_classes).to(z.dtype)
        return z, y

    def probe_batch(self, z: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Two latents (``z``, or seeded normal ones) and the first and last class, so that a class count larger
        than the model's fails here, not later in a walk."""
        if z is None:
            z = torch.randn(2, self.latent_dim, generator=torch.Generator().manual_seed(0))
        y = None if self.num_classes is None else torch.tensor([0, self.num_classes - 1])
        return z, y

    def describe(self) -> str:
        """The inputs a probe passes, e.g. ``z (2, 100, 1, 1), y one-hot (2, 10)``."""
        z, y = self.adapt(*self.probe_batch())
        classes = "" if y is None else f", y {'one-hot' if self.class_input == 'onehot' else 'indices'} {tuple(y.shape)}"
        return f"z {tuple(z.shape)}{classes}"


def call(module: nn.Module, inputs: Inputs, z: Tensor, y: Tensor | None) -> Any:
    """``module(z)`` or ``module(z, y)`` with the inputs in the shapes ``inputs`` declares."""
    z, y = inputs.adapt(z, y)
    return module(z) if y is None else module(z, y)


def probe(module: nn.Module, inputs: Inputs, z: Tensor | None = None) -> Any:
    """The model's output for the probe batch, in eval mode and without gradients (its mode is restored)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return call(module, inputs, *inputs.probe_batch(z))
    finally:
        module.train(was_training)


def error_text(error: BaseException) -> str:
    """``Type: first line of the message``, shortened."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


# -- the search for the option at fault ------------------------------------------------
def _integers(value: Any) -> set[int]:
    """Every positive integer in a (nested) constructor-argument value."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value} if 0 < value <= MAX_TRIED else set()
    if isinstance(value, Mapping):
        return set().union(*(_integers(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_integers(v) for v in value))
    return set()


def _values(declared: int | None, hinted: set[int], largest_first: bool = False) -> list[int]:
    """Counts to try instead of ``declared``: those the constructor arguments hold, then the others; each group
    closest first, or ``largest_first`` (class indices: every count up to the model's runs, the largest is its)."""
    centre = declared or 1

    def ordered(values: set[int]) -> list[int]:
        return sorted(values - {declared}, key=(lambda v: -v) if largest_first else (lambda v: (abs(v - centre), v)))

    return ordered(hinted) + ordered(set(range(1, max(2 * centre, 16) + 1)) - hinted)


@dataclass(frozen=True)
class Fix:
    """A change of declared options with which the model runs."""

    inputs: Inputs
    changed: tuple[str, ...]  # option names, e.g. ("num_classes",)
    hinted: bool  # the new value is one of the constructor's arguments (or the other of two choices)
    distance: int

    def text(self, declared: Inputs) -> str:
        parts = []
        for name in self.changed:
            value = getattr(self.inputs, name)
            parts.append(f"{name}={value}" if value is not None else f"{name} left out (the model takes z alone)")
        return " and ".join(parts) if parts else str(declared)

    def rank(self) -> tuple[int, bool, int]:
        return (len(self.changed), not self.hinted, self.distance)


def _changes(declared: Inputs, hinted: set[int]) -> Iterator[tuple[Inputs, tuple[str, ...], bool, int]]:
    """One or two declared options changed, likeliest first within each option."""
    other_input = CLASS_INPUTS[1 - CLASS_INPUTS.index(declared.class_input)]
    other_shape = LATENT_SHAPES[1 - LATENT_SHAPES.index(declared.latent_shape)]
    if declared.num_classes is not None:
        yield replace(declared, class_input=other_input), ("class_input",), True, 1
        yield replace(declared, num_classes=None), ("num_classes",), True, 1
    yield replace(declared, latent_shape=other_shape), ("latent_shape",), True, 1
    for class_input in (declared.class_input, other_input):
        for k in _values(declared.num_classes, hinted, largest_first=class_input == "index"):
            changed = ("num_classes",) + (("class_input",) if class_input != declared.class_input else ())
            yield (replace(declared, num_classes=k, class_input=class_input), changed, k in hinted,
                   abs(k - (declared.num_classes or 0)))
    for shape in (declared.latent_shape, other_shape):
        for d in _values(declared.latent_dim, hinted):
            changed = ("latent_dim",) + (("latent_shape",) if shape != declared.latent_shape else ())
            yield replace(declared, latent_dim=d, latent_shape=shape), changed, d in hinted, abs(d - declared.latent_dim)


def _runs(module: nn.Module, inputs: Inputs) -> bool:
    try:
        out = probe(module, inputs)
    except Exception:  # noqa: BLE001 - any failure of the user's model means "not with these inputs"
        return False
    return isinstance(out, Tensor) and out.dim() == 4 and len(out) == 2


def fixes(module: nn.Module, declared: Inputs, model_args: Mapping[str, Any]) -> list[Fix]:
    """The changes of declared options with which ``module`` runs, likeliest first (one per option set)."""
    hinted, found, deadline = _integers(dict(model_args)), {}, time.monotonic() + SEARCH_SECONDS
    for inputs, changed, is_hinted, distance in _changes(declared, hinted):
        if time.monotonic() > deadline:
            break
        if changed in found or not inputs.latent_dim or (inputs.num_classes is not None and inputs.num_classes < 1):
            continue
        if _runs(module, inputs):
            found[changed] = Fix(inputs, changed, is_hinted, distance)
    return sorted(found.values(), key=Fix.rank)


def probe_failure(owner: str, module: nn.Module, declared: Inputs, model_args: Mapping[str, Any],
                  error: BaseException) -> str:
    """One line: the model failed on the probe batch, why, and the declared option most likely at fault."""
    head = f"{owner} failed on steer's probe batch ({declared.describe()}): {error_text(error)}"
    found = fixes(module, declared, model_args)
    if not found:
        return (f"{head}. No single change of latent_dim, latent_shape, num_classes or class_input makes it run: "
                "check model_args and the model's forward.")
    best = found[0]
    others = [f for f in found[1:] if f.rank()[:2] == best.rank()[:2]][:2]  # as likely, as far as steer can tell
    also = f"; it also runs with {' or '.join(f.text(declared) for f in others)}" if others else ""
    return (f"{head}. Most likely at fault: {' and '.join(best.changed)} (it runs with {best.text(declared)}{also}); "
            "declare what the model was built for.")


def runtime_failure(owner: str, inputs: Inputs, z: Tensor, y: Tensor | None, error: BaseException) -> str:
    """One line for a failure of the model's forward after it passed the probe: what it was given and what
    to change where steer can tell."""
    zz, yy = inputs.adapt(z, y)
    given = f"z {tuple(zz.shape)} {str(zz.dtype).removeprefix('torch.')} on {zz.device}"
    given += "" if yy is None else f", y {tuple(yy.shape)}"
    text = str(error)
    if "same device" in text:
        hint = ("its forward uses a tensor on another device: create tensors inside forward on z.device, or run on "
                "the CPU (--trainer.accelerator cpu, --device cpu)")
    elif "dtype" in text or "scalar type" in text:
        hint = "its forward mixes number types: train in 32-bit (--trainer.precision 32)"
    else:
        hint = "it ran on steer's probe batch when it was built, so the failure depends on this batch (its size or device)"
    return f"{owner} failed on a batch ({given}): {error_text(error)}; {hint}."
