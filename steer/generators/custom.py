"""Any PyTorch generator a user brings: an ``nn.Module`` named by import path, adapted to the contract."""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch
import yaml
from torch import Tensor, nn

from steer.checkpoint import is_state_dict, load, load_matching_state, load_weights
from steer.errors import SteerError
from steer.generators.base import Generator
from steer.generators.custom_probe import (
    CLASS_INPUTS,
    LATENT_SHAPES,
    Inputs,
    call,
    error_text,
    probe,
    probe_failure,
    runtime_failure,
)

PROBE_TOLERANCE = 1e-3  # slack on the declared output range (float rounding), as a share of its width


def output_range_of(value: Any) -> tuple[float, float]:
    """``[low, high]`` (a pair, or the same written as a string, e.g. ``"[0,1]"``) as two floats, low < high."""
    pair = yaml.safe_load(value) if isinstance(value, str) else value
    try:
        lo, hi = (float(v) for v in pair)
        ok = math.isfinite(lo) and math.isfinite(hi) and lo < hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SteerError(f"CustomGenerator output_range must be two numbers [low, high] with low < high, e.g. [0, 1] "
                         f"for a sigmoid output or [-1, 1] for tanh; got {value!r}.")
    return lo, hi


# -- import by path ------------------------------------------------------------------
def import_class(model_class: str) -> type:
    """The class named ``package.module.ClassName``, with one clear error per failure."""
    module_name, _, class_name = model_class.rpartition(".")
    if not module_name:
        raise SteerError(f"model_class {model_class!r} must be a full import path like 'mypackage.models.Generator'.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise SteerError(
                f"cannot import {module_name!r} (from model_class {model_class!r}): no module {e.name!r}. "
                "Install the package or add its folder to PYTHONPATH."
            ) from None
        raise SteerError(f"importing {module_name!r} failed: it needs {e.name!r}, which is not installed. Install it, "
                         "or copy the model's class into a module of your own (docs/generators/custom.md).") from None
    except Exception as e:  # noqa: BLE001 - a module's top level may raise anything (a missing CUDA library, …)
        raise SteerError(f"importing {module_name!r} (model_class {model_class!r}) raised {error_text(e)}; fix the "
                         "module, or copy the model's class into a module of your own that imports on this machine "
                         "(docs/generators/custom.md).") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SteerError(f"module {module_name!r} has no {class_name!r} (model_class {model_class!r}). Check the name.")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise SteerError(f"model_class {model_class!r} names {cls!r}, which is not a torch.nn.Module subclass.")
    return cls


def build(cls: type, model_args: Mapping[str, Any]) -> nn.Module:
    """``cls(**model_args)`` after checking the arguments against its signature; its own failure is one line."""
    try:
        inspect.signature(cls).bind(**model_args)
    except TypeError as e:
        params = ", ".join(inspect.signature(cls).parameters)
        raise SteerError(
            f"model_args {dict(model_args)} do not fit {cls.__name__}({params}): {e}. Fix model_args."
        ) from None
    try:
        return cls(**model_args)
    except (torch.OutOfMemoryError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - the user's constructor may raise anything
        raise SteerError(f"{cls.__module__}.{cls.__qualname__}(**model_args) raised {error_text(e)}; model_args "
                         f"{dict(model_args)} are most likely at fault: give the values the model was built with."
                         ) from None


# -- the generator ------------------------------------------------------------------
class CustomGenerator(Generator):
    """A user's ``nn.Module`` seen through the Generator contract.

    The module is ``model_class(**model_args)`` with the state dict in
    ``weights`` (loaded with ``weights_only=True``; ``state_dict_key`` picks an
    entry of a bigger file). Its forward is called as ``module(z)`` or
    ``module(z, y)``: z is (N, d) for ``latent_shape="flat"`` or (N, d, 1, 1)
    for ``"image"``; y is class indices (``class_input="index"``) or one-hot
    rows (``"onehot"``). Its output must be (N, C, resolution, resolution)
    in ``output_range`` [lo, hi], mapped to [-1, 1] by x ↦ 2(x − lo)/(hi − lo) − 1. One
    probe batch checks shape and range when the generator is built; if the
    model raises on it, steer names the declared option most likely at fault.

    ``first_layer`` names the Linear or ConvTranspose2d submodule that first
    sees z (z must be its first ``latent_dim`` inputs), for SeFa.

    (``model_class``/``model_args`` were called ``class_path``/``init_args``
    before; those names are the config parser's own, so they could not be set
    on the command line.)
    """

    def __init__(
        self,
        model_class: str,
        latent_dim: int,
        resolution: int,
        model_args: dict[str, Any] | None = None,
        weights: str | None = None,
        state_dict_key: str | None = None,
        num_classes: int | None = None,
        class_input: str = "index",
        latent_shape: str = "flat",
        output_range: tuple[float, float] | str = (-1.0, 1.0),
        first_layer: str | None = None,
        truncation: float | None = None,
        freeze: bool = True,
    ) -> None:
        super().__init__(latent_dim, resolution, num_classes, truncation)
        for name, value, allowed in (
            ("class_input", class_input, CLASS_INPUTS),
            ("latent_shape", latent_shape, LATENT_SHAPES),
        ):
            if value not in allowed:
                raise SteerError(f"CustomGenerator {name} must be one of {', '.join(allowed)}; got {value!r}.")
        self.model_class = model_class
        self.inputs = Inputs(latent_dim, latent_shape, num_classes, class_input)
        self.output_range = output_range_of(output_range)
        self.first_layer = first_layer
        self.module = build(import_class(model_class), model_args or {})
        self.weights = weights
        if weights is not None:
            self._load(weights, state_dict_key)
        if first_layer is not None:
            self._first_layer()  # fail now, not at discovery time
        self._probe(model_args or {})
        if freeze:
            self.freeze()

    @property
    def class_input(self) -> str:
        return self.inputs.class_input

    @property
    def latent_shape(self) -> str:
        return self.inputs.latent_shape

    weights_option = "weights"

    @property
    def weights_files(self) -> tuple[str, ...]:
        return () if self.weights is None else (self.weights,)

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
            f"Check that model_class and model_args describe the model these weights were saved from "
            f"({self.model_class})."
        )
        load_matching_state(self.module, state, f"{what} {weights}", hint)

    # -- adapting inputs and outputs -----------------------------------------------
    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        try:
            x = call(self.module, self.inputs, z, y)
        except (SteerError, torch.OutOfMemoryError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - the user's forward may raise anything; say what it was given
            raise SteerError(runtime_failure(self.model_class, self.inputs, z, y, e)) from e
        lo, hi = self.output_range
        return x if (lo, hi) == (-1.0, 1.0) else (x - lo) * (2 / (hi - lo)) - 1  # x ↦ 2(x − lo)/(hi − lo) − 1

    def _probe(self, model_args: Mapping[str, Any]) -> None:
        """Run two latents once (in eval mode, no grad) and check shape and range; a failure names its cause."""
        try:
            x = probe(self.module, self.inputs, self.sample_latent(2, torch.Generator().manual_seed(0)))
        except (torch.OutOfMemoryError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - the user's forward may raise anything
            raise SteerError(probe_failure(self.model_class, self.module, self.inputs, model_args, e)) from None
        if not isinstance(x, Tensor):
            raise SteerError(f"{self.model_class} returned {type(x).__name__}, not an image tensor.")
        r = self.resolution
        if x.dim() != 4 or x.shape[0] != 2 or x.shape[2:] != (r, r):
            raise SteerError(
                f"{self.model_class} returned shape {tuple(x.shape)} for 2 latents; expected (2, C, {r}, {r}). "
                "Check resolution and latent_shape."
            )
        lo, hi = self.output_range
        slack = PROBE_TOLERANCE * (hi - lo)
        if not torch.isfinite(x).all() or x.min() < lo - slack or x.max() > hi + slack:
            raise SteerError(
                f"{self.model_class} output spans [{x.min():.3g}, {x.max():.3g}], outside the declared "
                f"output_range [{lo:g}, {hi:g}]. Declare the right range or end the model with tanh/sigmoid."
            )

    # -- SeFa ---------------------------------------------------------------------
    def _first_layer(self) -> nn.Module:
        try:
            layer = self.module.get_submodule(self.first_layer)
        except AttributeError:
            candidates = [n for n, m in self.module.named_modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
            raise SteerError(
                f"{self.model_class} has no submodule {self.first_layer!r}; Linear/ConvTranspose2d ones: "
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
