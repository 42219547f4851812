"""Layers of NVlabs' StyleGAN networks (stylegan2-ada-pytorch, stylegan3) in plain PyTorch.

Parameter and buffer names are NVlabs', so the state stored in their
``.pkl`` snapshots (steer.formats.nvlabs_pickle) loads strictly. The maths
is that of the reference (non-CUDA) paths of their ops: ``bias_act`` is
``act(x + b)·gain``, clamped; the fully connected layer uses the
equalised learning rate of StyleGAN (weights stored divided by the
learning-rate multiplier λ, scaled back at run time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.errors import SteerError

LRELU_SLOPE = 0.2
ACTIVATIONS = {"linear": 1.0, "lrelu": math.sqrt(2)}  # activation → its default gain (NVlabs def_gain)


def bias_act(x: Tensor, bias: Tensor | None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> Tensor:
    """y = clamp(act(x + b) · g, −c, c), b broadcast over dimension 1; g defaults to the activation's gain."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.dim() - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    g = ACTIVATIONS[act] if gain is None else gain
    if g != 1:
        x = x * g
    return x.clamp(-clamp, clamp) if clamp is not None and clamp >= 0 else x


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """x / √(mean_i x_i² + ε) over dimension 1 (StyleGAN's pixel norm of z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def check_activation(activation: str, owner: str) -> str:
    if activation not in ACTIVATIONS:
        raise SteerError(f"{owner}: activation {activation!r} is not implemented in steer (only {', '.join(ACTIVATIONS)}).")
    return activation


class FullyConnectedLayer(nn.Module):
    """y = act(x (g·W)ᵀ + λ·b) with g = λ/√in, λ = ``lr_multiplier`` (equalised learning rate).

    ``weight`` (out, in) is initialised N(0, 1)·weight_init/λ and ``bias`` to
    bias_init/λ (a number or one value per output), so the effective values
    start at N(0, weight_init²/in) and bias_init. 'lrelu' is leaky ReLU (slope 0.2) times √2.
    """

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", bias: bool = True,
                 lr_multiplier: float = 1.0, weight_init: float = 1.0,
                 bias_init: float | Sequence[float] = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation, "FullyConnectedLayer")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        start = torch.as_tensor(bias_init, dtype=torch.float32).broadcast_to(out_features) / lr_multiplier
        self.bias = nn.Parameter(start.clone()) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def effective_weight(self) -> Tensor:
        """g·W: the matrix the layer multiplies by (SeFa reads it)."""
        return self.weight * self.weight_gain

    def forward(self, x: Tensor) -> Tensor:
        w = self.effective_weight().to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, self.activation)


class MappingNetwork(nn.Module):
    """z (and class c) → w, the MLP of stylegan2-ada-pytorch (and of the stylegan3 repository's 'stylegan2' config).

    x = [norm(z), norm(embed(c))] (norm: :func:`normalize_2nd_moment`, the
    class part only when c_dim > 0), then ``num_layers`` fully connected
    layers ``fc0`` … with leaky ReLU and learning-rate multiplier 0.01.
    ``w_avg`` is the running mean of w kept in training; :meth:`truncate`
    applies the truncation trick with it. ``forward`` returns w (N, w_dim);
    :meth:`ws` is NVlabs' output, w repeated on each of num_ws rows, truncated.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        hidden = w_dim if layer_features is None else layer_features
        features = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed)
        for i in range(num_layers):
            layer = FullyConnectedLayer(features[i], features[i + 1], activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """w (N, w_dim) for z and one-hot classes c, before broadcast and truncation (a forward hook sees w)."""
        parts = [normalize_2nd_moment(z.float())] if self.z_dim > 0 else []
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    def ws(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0,
           truncation_cutoff: int | None = None) -> Tensor:
        """NVlabs' mapping output: w broadcast to (N, num_ws, w_dim) (kept (N, w_dim) when num_ws is None), truncated."""
        x = self(z, c)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self.truncate(x, truncation_psi, truncation_cutoff)

    def truncate(self, ws: Tensor, psi: float = 1.0, cutoff: int | None = None) -> Tensor:
        """w̄ + ψ(w − w̄) on rows [0, cutoff) (all rows when cutoff is None) — the truncation trick."""
        if psi == 1:
            return ws
        if not hasattr(self, "w_avg"):
            raise SteerError("this NVlabs mapping network keeps no w_avg (w_avg_beta=None), so truncation_psi must be 1.")
        if ws.dim() == 2 or cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws


class StyleGAN3MappingNetwork(MappingNetwork):
    """The stylegan3 repository's mapping (configs stylegan3-t/-r): the same maths, two layers by default,
    the class embedding as wide as w, and ``w_avg`` always kept."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998) -> None:
        super().__init__(z_dim, c_dim, w_dim, num_ws, num_layers, lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta)
