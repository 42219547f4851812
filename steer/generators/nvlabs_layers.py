"""Layers shared by steer's networks for NVlabs snapshots (stylegan2-ada-pytorch, stylegan3)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer (Karras et al. 2018, §4.1): y = x (g_w·W)ᵀ + g_b·b.

    The stored ``weight`` (out, in) and ``bias`` (out,) are scaled at run time by
    g_w = λ/√in and g_b = λ (λ = ``lr_multiplier``). ``activation`` "lrelu" applies
    √2 · leaky_relu(·, 0.2) after the bias. ``bias_init`` may be one value or one per output.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        bias: bool = True,
        lr_multiplier: float = 1.0,
        weight_init: float = 1.0,
        bias_init: float | Sequence[float] = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        initial = torch.as_tensor(bias_init, dtype=torch.float32).expand(out_features) / lr_multiplier
        self.bias = nn.Parameter(initial.clone()) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.bias_gain
        x = F.linear(x, self.weight * self.weight_gain, bias)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN
        return x

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"
