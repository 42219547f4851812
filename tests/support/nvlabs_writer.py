"""Write NVlabs-format network pickles (stylegan2-ada-pytorch / stylegan3 snapshots) from steer's own networks.

The file has NVlabs' structure: a snapshot dict (G, D, G_ema, augment_pipe,
training_set_kwargs) whose networks are pickled as calls of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, meta holding
a stand-in module source, the NVlabs class name, the constructor arguments
and the object's ``__dict__``. No NVlabs code is involved: the two NVlabs
names the file refers to are stand-ins registered only while writing.
"""

from __future__ import annotations

import pickle
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from steer.generators.nvlabs_layers import MappingNetwork, StyleGAN3MappingNetwork
from steer.generators.stylegan2_ada import StyleGAN2ADASynthesis, StyleGAN2Synthesis
from steer.generators.stylegan3 import StyleGAN3Synthesis

# Stand-in module sources: text only, carrying the class definition line steer recognises each module by.
SOURCES = {
    "training.networks": "# stand-in for stylegan2-ada-pytorch training/networks.py\nclass SynthesisBlock(Module): ...\n",
    "training.networks_stylegan2": "# stand-in for stylegan3 training/networks_stylegan2.py\n"
                                   "class SynthesisBlock(Module): fused_modconv_default = True\n",
    "training.networks_stylegan3": "# stand-in for stylegan3 training/networks_stylegan3.py\nclass SynthesisInput(Module): ...\n",
}
SYNTHESIS = {"training.networks": StyleGAN2ADASynthesis, "training.networks_stylegan2": StyleGAN2Synthesis,
             "training.networks_stylegan3": StyleGAN3Synthesis}
MAPPING = {"training.networks_stylegan3": StyleGAN3MappingNetwork}  # others: MappingNetwork
NVLABS_CLASS = {StyleGAN2ADASynthesis: "SynthesisNetwork", StyleGAN2Synthesis: "SynthesisNetwork",
                StyleGAN3Synthesis: "SynthesisNetwork", StyleGAN3MappingNetwork: "MappingNetwork"}
TINY = dict(z_dim=8, w_dim=8, img_resolution=8, channel_base=64, channel_max=8, num_layers=2)
#: What NVlabs' train.py stores for its StyleGAN3 configs (--cfg stylegan3-t / -r), channel counts shrunk, 16 px.
STYLEGAN3_T = dict(img_resolution=16, channel_base=256, channel_max=32, magnitude_ema_beta=0.999, num_fp16_res=4)
STYLEGAN3_R = dict(STYLEGAN3_T, conv_kernel=1, use_radial_filters=True, channel_base=512, channel_max=64)


class Persistent:
    """A network as NVlabs pickles it: ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self) -> tuple:
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


def persistent(module: nn.Module, source: str, init: dict[nn.Module, dict], class_name: str | None = None
               ) -> Persistent:
    """``module`` and its submodules as NVlabs persistent objects; ``init``: constructor kwargs by module."""
    state = {k: v for k, v in vars(module).items() if not k.startswith("_") or k in (
        "_parameters", "_buffers", "_non_persistent_buffers_set")}
    state["training"] = False
    state["_modules"] = {name: persistent(sub, source, init) for name, sub in module._modules.items()}
    state["_init_args"], state["_init_kwargs"] = (), dict(init.get(module, {}))
    name = class_name or NVLABS_CLASS.get(type(module), type(module).__name__)
    return Persistent(dict(type="class", version=6, module_src=source, class_name=name, state=state))


@contextmanager
def nvlabs_names() -> Iterator[None]:
    """Stand-ins for ``torch_utils.persistence._reconstruct_persistent_obj`` and ``dnnlib.util.EasyDict`` while pickling."""
    made = {}
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        made[name] = sys.modules.setdefault(name, types.ModuleType(name))

    def _reconstruct_persistent_obj(meta: dict) -> None:
        raise AssertionError("stand-in: never called")

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    _reconstruct_persistent_obj.__qualname__, EasyDict.__qualname__ = "_reconstruct_persistent_obj", "EasyDict"
    made["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    made["dnnlib.util"].EasyDict = EasyDict
    try:
        yield
    finally:
        for name in made:
            sys.modules.pop(name, None)


def tiny_networks(family: str = "training.networks", c_dim: int = 0, seed: int = 0, **options: Any
                  ) -> tuple[MappingNetwork, nn.Module, dict]:
    """A random (mapping, synthesis, Generator kwargs) of ``family`` with non-trivial biases, noise and w_avg."""
    o = {**TINY, **(STYLEGAN3_T if family == "training.networks_stylegan3" else {}), **options}
    torch.manual_seed(seed)
    synthesis_kwargs = {k: v for k, v in o.items() if k not in ("z_dim", "w_dim", "img_resolution", "num_layers")}
    synthesis_kwargs["conv_clamp"] = 256
    synthesis = SYNTHESIS[family](w_dim=o["w_dim"], img_resolution=o["img_resolution"], img_channels=3,
                                  **synthesis_kwargs)
    mapping = MAPPING.get(family, MappingNetwork)(o["z_dim"], c_dim, o["w_dim"], synthesis.num_ws,
                                                  num_layers=o["num_layers"])
    with torch.no_grad():
        for name, p in [*mapping.named_parameters(), *synthesis.named_parameters()]:
            if "noise_strength" in name or name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "affine" in name else 0.0))
        mapping.w_avg.copy_(torch.randn_like(mapping.w_avg))
    kwargs = dict(z_dim=o["z_dim"], c_dim=c_dim, w_dim=o["w_dim"], img_resolution=o["img_resolution"], img_channels=3,
                  mapping_kwargs=dict(num_layers=o["num_layers"]))
    if family == "training.networks":  # stylegan2-ada-pytorch nests the synthesis options; the stylegan3 repo does not
        kwargs["synthesis_kwargs"] = synthesis_kwargs
    else:
        kwargs.update(synthesis_kwargs)
    return mapping.eval(), synthesis.eval(), kwargs


def snapshot(mapping: nn.Module, synthesis: nn.Module, kwargs: dict, family: str) -> dict:
    """The snapshot dict NVlabs' training loop pickles, with steer's networks as the generator."""
    generator = nn.Module()
    generator.mapping, generator.synthesis = mapping, synthesis
    generator_keys = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
    options = kwargs["synthesis_kwargs"] if "synthesis_kwargs" in kwargs else {
        k: v for k, v in kwargs.items() if k not in generator_keys}
    init = {
        generator: kwargs,
        mapping: {k: getattr(mapping, k) for k in ("z_dim", "c_dim", "w_dim", "num_ws", "num_layers")},
        synthesis: dict(w_dim=synthesis.w_dim, img_resolution=synthesis.img_resolution,
                        img_channels=synthesis.img_channels, **options),
    }
    G = persistent(generator, SOURCES[family], init, "Generator")
    D = persistent(nn.Module(), SOURCES[family], {}, "Discriminator")
    return dict(G=G, D=D, G_ema=G, augment_pipe=None, training_set_kwargs=dict(path="data.zip", resolution=8))


def write_nvlabs_pickle(path: str | Path, family: str = "training.networks", c_dim: int = 0, seed: int = 0,
                        **options: Any) -> tuple[MappingNetwork, nn.Module]:
    """Write a tiny NVlabs-format snapshot of ``family`` to ``path``; the (mapping, synthesis) it holds."""
    mapping, synthesis, kwargs = tiny_networks(family, c_dim, seed, **options)
    write_pickle(path, snapshot(mapping, synthesis, kwargs, family))
    return mapping, synthesis


def write_pickle(path: str | Path, obj: Any, protocol: int | None = None) -> Path:
    """``pickle.dump(obj)`` as NVlabs does, with the NVlabs names standing in (a snapshot's dataset options
    become a ``dnnlib.util.EasyDict``, as in NVlabs' files)."""
    with nvlabs_names(), open(path, "wb") as f:
        if isinstance(obj, dict) and isinstance(obj.get("training_set_kwargs"), dict):
            obj = {**obj, "training_set_kwargs": sys.modules["dnnlib.util"].EasyDict(obj["training_set_kwargs"])}
        pickle.dump(obj, f, protocol=protocol)
    return Path(path)
