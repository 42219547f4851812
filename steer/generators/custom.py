"""Any PyTorch generator a user brings: an ``nn.Module`` named by import path, adapted to the contract."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.checkpoint import is_state_dict, load, load_matching_state, load_weights
from steer.errors import SteerError
from steer.generators.base import Generator

CLASS_INPUTS = ("index", "onehot")
LATENT_SHAPES = ("flat", "image")
OUTPUT_RANGES = ("[-1,1]", "[0,1]")
PROBE_TOLERANCE = 1e-3  # slack on the declared output range (float rounding)


# -- import by path ------------------------------------------------------------------
def import_class(class_path: str) -> type:
    """The class named ``package.module.ClassName``, with one clear error per failure."""
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name:
        raise SteerError(f"class_path {class_path!r} must be a full import path like 'mypackage.models.Generator'.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise SteerError(
                f"cannot import {module_name!r} (from class_path {class_path!r}): no module {e.name!r}. "
                "Install the package or add its folder to PYTHONPATH."
            ) from None
        raise SteerError(f"importing {module_name!r} failed: it needs {e.name!r}, which is not installed.") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SteerError(f"module {module_name!r} has no {class_name!r} (class_path {class_path!r}). Check the name.")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise SteerError(f"class_path {class_path!r} names {cls!r}, which is not a torch.nn.Module subclass.")
    return cls


def build(cls: type, init_args: Mapping[str, Any]) -> nn.Module:
    """``cls(**init_args)`` after checking the arguments against its signature."""
    try:
        inspect.signature(cls).bind(**init_args)
    except TypeError as e:
        params = ", ".join(inspect.signature(cls).parameters)
        raise SteerError(
            f"init_args {dict(init_args)} do not fit {cls.__name__}({params}): {e}. Fix init_args."
        ) from None
    return cls(**init_args)


# -- the generator ------------------------------------------------------------------
class CustomGenerator(Generator):
    """A user's ``nn.Module`` seen through the Generator contract.

    The module is ``class_path(**init_args)`` with the state dict in
    ``weights`` (loaded with ``weights_only=True``; ``state_dict_key`` picks an
    entry of a bigger file). Its forward is called as ``module(z)`` or
    ``module(z, y)``: z is (N, d) for ``latent_shape="flat"`` or (N, d, 1, 1)
    for ``"image"``; y is class indices (``class_input="index"``) or one-hot
    rows (``"onehot"``). Its output must be (N, C, resolution, resolution)
    in ``output_range``; ``"[0,1]"`` is mapped to [-1, 1] by x ↦ 2x − 1. One
    probe batch checks shape and range when the generator is built.

    ``first_layer`` names the Linear or ConvTranspose2d submodule that first
    sees z (z must be its first ``latent_dim`` inputs), for SeFa.
    """

    def __init__(
        self,
        class_path: str,
        latent_dim: int,
        resolution: int,
        init_args: dict[str, Any] | None = None,
        weights: str | None = None,
        state_dict_key: str | None = None,
        num_classes: int | None = None,
        class_input: str = "index",
        latent_shape: str = "flat",
        output_range: str = "[-1,1]",
        first_layer: str | None = None,
        truncation: float | None = None,
        freeze: bool = True,
    ) -> None:
        super().__init__(latent_dim, resolution, num_classes, truncation)
        for name, value, allowed in (
            ("class_input", class_input, CLASS_INPUTS),
            ("latent_shape", latent_shape, LATENT_SHAPES),
            ("output_range", output_range, OUTPUT_RANGES),
        ):
            if value not in allowed:
                raise SteerError(f"CustomGenerator {name} must be one of {', '.join(allowed)}; got {value!r}.")
        self.class_path = class_path
        self.class_input = class_input
        self.latent_shape = latent_shape
        self.output_range = output_range
        self.first_layer = first_layer
        self.module = build(import_class(class_path), init_args or {})
        if weights is not None:
            self._load(weights, state_dict_key)
        if first_layer is not None:
            self._first_layer()  # fail now, not at discovery time
        self._probe()
        if freeze:
            self.freeze()

    def _load(self, weights: str, key: str | None) -> None:
        what = "generator weights"
        state = load_weights(weights, key, what) if key else load(weights, what)
        if not is_state_dict(state):
            found = sorted(state)[:8] if isinstance(state, Mapping) else type(state).__name__
            raise SteerError(
                f"{what} {weights} is not a state dict of tensors (found: {found}); set state_dict_key to the entry "
                "that holds the weights, or save module.state_dict()."
            )
        hint = (
            f"Check that class_path and init_args describe the model these weights were saved from ({self.class_path})."
        )
        load_matching_state(self.module, state, f"{what} {weights}", hint)

    # -- adapting inputs and outputs -----------------------------------------------
    def _call(self, z: Tensor, y: Tensor | None) -> Tensor:
        if self.latent_shape == "image":
            z = z[:, :, None, None]
        if y is None:
            return self.module(z)
        if self.class_input == "onehot":
            y = F.one_hot(y.long(), self.num_classes).to(z.dtype)
        return self.module(z, y)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        x = self._call(z, y)
        return x * 2 - 1 if self.output_range == "[0,1]" else x

    def _probe(self) -> None:
        """Run two latents once (in eval mode, no grad) and check shape and range."""
        seeded = torch.Generator().manual_seed(0)
        z, y = self.sample_latent(2, seeded), self.sample_class(2, seeded)
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                x = self._call(z, y)
        finally:
            self.module.train(was_training)
        if not isinstance(x, Tensor):
            raise SteerError(f"{self.class_path} returned {type(x).__name__}, not an image tensor.")
        r = self.resolution
        if x.dim() != 4 or x.shape[0] != 2 or x.shape[2:] != (r, r):
            raise SteerError(
                f"{self.class_path} returned shape {tuple(x.shape)} for 2 latents; expected (2, C, {r}, {r}). "
                "Check resolution and latent_shape."
            )
        lo, hi = (0.0, 1.0) if self.output_range == "[0,1]" else (-1.0, 1.0)
        if not torch.isfinite(x).all() or x.min() < lo - PROBE_TOLERANCE or x.max() > hi + PROBE_TOLERANCE:
            raise SteerError(
                f"{self.class_path} output spans [{x.min():.3g}, {x.max():.3g}], outside the declared "
                f"output_range {self.output_range}. Declare the right range or end the model with tanh/sigmoid."
            )

    # -- SeFa ---------------------------------------------------------------------
    def _first_layer(self) -> nn.Module:
        try:
            layer = self.module.get_submodule(self.first_layer)
        except AttributeError:
            candidates = [n for n, m in self.module.named_modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
            raise SteerError(
                f"{self.class_path} has no submodule {self.first_layer!r}; Linear/ConvTranspose2d ones: "
                f"{', '.join(candidates) or 'none'}."
            ) from None
        if isinstance(layer, nn.Linear):
            inputs = layer.in_features
        elif isinstance(layer, nn.ConvTranspose2d):
            inputs = layer.in_channels
        else:
            raise SteerError(
                f"first_layer {self.first_layer!r} is a {type(layer).__name__}; name a Linear or ConvTranspose2d."
            )
        if inputs < self.latent_dim:
            raise SteerError(
                f"first_layer {self.first_layer!r} takes {inputs} inputs, fewer than latent_dim={self.latent_dim}: "
                "it is not the layer that reads z."
            )
        return layer

    def first_projection(self) -> Tensor:
        """A (out × latent_dim): the z columns of ``first_layer``'s weight.

        Linear: weight (out, in)[:, :d]. ConvTranspose2d: weight (in, C, k, k)[:d]
        reshaped to (C·k·k) × d, as for DCGAN (docs/methods.md §4).
        """
        if self.first_layer is None:
            return super().first_projection()
        layer, d = self._first_layer(), self.latent_dim
        if isinstance(layer, nn.Linear):
            return layer.weight[:, :d].detach()
        return layer.weight[:d].reshape(d, -1).T.detach()
