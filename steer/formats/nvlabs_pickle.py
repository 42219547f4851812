"""NVlabs network snapshots (stylegan2-ada-pytorch, stylegan3 ``.pkl``), read without running their code.

An NVlabs snapshot is a plain pickle of a dict (``G``, ``D``, ``G_ema``,
``augment_pipe``, ``training_set_kwargs`` …) whose networks are *persistent
objects*: each is pickled as a call of ``torch_utils.persistence.
_reconstruct_persistent_obj(meta)`` where ``meta`` holds the source code of
the network's Python module (``module_src``), the class name, the
constructor arguments and the object's ``__dict__`` (``state``). NVlabs' own
loader executes that source. :class:`SnapshotUnpickler` instead turns each
one into a :class:`PersistentObject` record and never imports or runs the
source; only the globals needed to rebuild tensors, numpy values and plain
containers are allowed, and tensor storages (stored as nested ``torch.save``
bytes) are rebuilt with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from steer.errors import SteerError

RECONSTRUCT = "torch_utils.persistence._reconstruct_persistent_obj"
PERSISTENCE_VERSION = 6  # torch_utils.persistence._version of both NVlabs repositories
GENERATORS = ("G_ema", "G")  # snapshot keys that hold a generator


@dataclass
class PersistentObject:
    """One NVlabs persistent network object, as data: nothing of its source is run.

    ``module`` is the NVlabs module the stored source is (recognised from the
    text, see :func:`module_of`), ``state`` the object's ``__dict__``
    (``_parameters``, ``_buffers``, ``_modules`` and plain attributes).
    """

    class_name: str
    module: str
    init_args: tuple = ()
    init_kwargs: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.class_name}"

    def child(self, name: str) -> PersistentObject:
        """The submodule ``name`` (e.g. ``mapping``), which must itself be a persistent object."""
        sub = self.state.get("_modules", {}).get(name)
        if not isinstance(sub, PersistentObject):
            raise SteerError(f"NVlabs {self.qualified_name} has no '{name}' network in its state.")
        return sub

    def state_dict(self, prefix: str = "") -> dict[str, Tensor]:
        """Parameters and persistent buffers of this object and its submodules, under torch-style dotted names."""
        out: dict[str, Tensor] = {}
        skip = self.state.get("_non_persistent_buffers_set") or set()
        for kind in ("_parameters", "_buffers"):
            for name, value in (self.state.get(kind) or {}).items():
                if value is None or name in skip:
                    continue
                if not isinstance(value, Tensor):
                    raise SteerError(f"NVlabs {self.qualified_name}: {name} is not a tensor; the file is damaged.")
                out[prefix + name] = value.detach()
        for name, sub in (self.state.get("_modules") or {}).items():
            if isinstance(sub, PersistentObject):
                out.update(sub.state_dict(f"{prefix}{name}."))
            elif sub is not None:
                raise SteerError(f"NVlabs {self.qualified_name}.{name} is a {type(sub).__name__}, not a network record.")
        return out


# Each NVlabs network module is recognised by a class only it defines; the text is searched, never run.
MODULE_MARKERS: tuple[tuple[str, str], ...] = (
    ("training.networks_stylegan3", "class SynthesisInput("),
    ("training.networks_stylegan2", "fused_modconv_default"),
    ("training.networks", "class SynthesisBlock("),
    ("training.augment", "class AugmentPipe("),
)


def module_of(module_src: str) -> str:
    """Which NVlabs module ``module_src`` is the source of (by text only), or ``"unknown"``."""
    return next((name for name, marker in MODULE_MARKERS if marker in module_src), "unknown")


def _persistent_object(meta: Any) -> PersistentObject:
    """What ``_reconstruct_persistent_obj(meta)`` stands for, as a record."""
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise SteerError("holds an NVlabs persistent object without state; the file is damaged.")
    if meta.get("type") != "class" or meta.get("version") != PERSISTENCE_VERSION:
        raise SteerError(
            f"holds an NVlabs persistent object of type {meta.get('type')!r}, version {meta.get('version')!r}; steer "
            f"reads version {PERSISTENCE_VERSION} (stylegan2-ada-pytorch, stylegan3)."
        )
    state = dict(meta["state"])
    kwargs = state.pop("_init_kwargs", None) or {}
    return PersistentObject(
        class_name=str(meta.get("class_name")),
        module=module_of(str(meta.get("module_src", ""))),
        init_args=tuple(state.pop("_init_args", None) or ()),
        init_kwargs=dict(kwargs),
        state=state,
    )


def _storage_from_bytes(data: bytes) -> Any:
    """A tensor storage pickled as nested ``torch.save`` bytes, rebuilt without running code (weights_only)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _numpy_array(subtype: Any, shape: Any, dtype: Any) -> Any:
    """numpy's array reconstructor, for plain ndarrays only."""
    if subtype is not np.ndarray:
        raise SteerError(f"rebuilds an array of type {subtype!r}; only plain numpy arrays are allowed.")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_globals() -> dict[str, Any]:
    """numpy's names for dtypes, arrays and scalars, under numpy 1 and numpy 2 module paths."""
    out: dict[str, Any] = {"numpy.dtype": np.dtype, "numpy.ndarray": np.ndarray}
    scalar = np.float32(0).__reduce__()[0]  # numpy's scalar reconstructor, taken from how numpy pickles one
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[f"{core}.scalar"] = scalar
        out[f"{core}._reconstruct"] = _numpy_array
    return out


ALLOWED: dict[str, Any] = {
    RECONSTRUCT: _persistent_object,
    "torch.storage._load_from_bytes": _storage_from_bytes,
    "torch._utils._rebuild_tensor": torch._utils._rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "collections.OrderedDict": collections.OrderedDict,
    "dnnlib.util.EasyDict": dict,
    "_codecs.encode": codecs.encode,  # bytes under pickle protocol 2 (torch's weights_only unpickler allows it too)
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    **_numpy_globals(),
}


class SnapshotUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that builds only allowlisted globals (:data:`ALLOWED`); anything else is refused."""

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        module = "builtins" if module == "__builtin__" else module  # protocol 2 writes Python 2's name
        found = ALLOWED.get(f"{module}.{name}")
        if found is not None:
            return found
        hint = (
            " It is a TensorFlow-era StyleGAN pickle: convert it with NVlabs' legacy.py first."
            if module.startswith("dnnlib.tflib")
            else " steer reads NVlabs stylegan2-ada-pytorch / stylegan3 snapshots, which hold only networks, tensors "
            "and plain values; it never runs code named in a file."
        )
        raise SteerError(f"asks to build the Python global {module}.{name}, which steer refuses.{hint}")


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """The snapshot dict of an NVlabs ``.pkl``, its networks as :class:`PersistentObject` records."""
    path = Path(path)
    what = f"NVlabs pickle {path}"
    if not path.is_file():
        raise SteerError(
            f"{what} does not exist. steer never downloads at run time: put a stylegan2-ada-pytorch or stylegan3 "
            "network pickle there (docs/generators.md says where NVlabs publishes them)."
        )
    with path.open("rb") as f:
        try:
            data = SnapshotUnpickler(f).load()
        except SteerError as e:
            raise SteerError(f"{what} {e}") from None
        except RecursionError:
            raise SteerError(f"{what} nests objects too deeply to be a network snapshot; use another file.") from None
        except Exception as e:  # noqa: BLE001 - a damaged pickle fails with assorted types
            detail = re.sub(r"\s+", " ", str(e)).strip()[:120]
            raise SteerError(
                f"{what} is truncated, corrupted or not a pickle ({type(e).__name__}: {detail}); use another copy."
            ) from None
    if not isinstance(data, dict) or not any(isinstance(data.get(k), PersistentObject) for k in GENERATORS):
        found = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise SteerError(
            f"{what} is not an NVlabs network snapshot: it has no G_ema or G network (found: {found}). steer reads "
            "the .pkl files that stylegan2-ada-pytorch and stylegan3 write (train.py snapshots, published models)."
        )
    return data


def generator_record(snapshot: dict[str, Any], network: str, source: str) -> PersistentObject:
    """The generator ``network`` (``G_ema`` or ``G``) of a loaded snapshot."""
    if network not in GENERATORS:
        raise SteerError(f"network must be one of {', '.join(GENERATORS)} (the snapshot's generators), got {network!r}.")
    record = snapshot.get(network)
    if not isinstance(record, PersistentObject):
        have = [k for k in GENERATORS if isinstance(snapshot.get(k), PersistentObject)]
        raise SteerError(f"{source} has no {network} network; it has {', '.join(have)}. Set network accordingly.")
    return record

