"""The StyleGAN2 synthesis network of NVlabs' PyTorch code, in plain PyTorch (CPU and CUDA alike).

Module and parameter names are those of ``training.networks`` (stylegan2-ada-pytorch)
and ``training.networks_stylegan2`` (the stylegan3 repository's 'stylegan2'
config), so the ``synthesis`` state of their snapshots loads strictly. The
two differ only in defaults (conv_clamp, fp16 resolutions), hence two
classes. Blocks ``b4`` … ``b<resolution>``; each up-samples with conv0,
convolves with conv1 and adds its ``torgb`` output to the up-sampled image
(the 'skip' architecture, the only one the released models use). Layers
that NVlabs runs in float16 run in float32 here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.errors import SteerError
from steer.generators.nvlabs_layers import FullyConnectedLayer, bias_act, check_activation
from steer.generators.stylegan2 import upfir2d

NOISE_MODES = ("const", "random", "none")


def setup_filter(taps: list[float]) -> Tensor:
    """The 2-D FIR filter f fᵀ / Σ(f fᵀ) of the 1-D taps (NVlabs' ``setup_filter`` for short filters)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.dim() == 1 else f
    return f / f.sum()


def modulated_conv(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: int = 1,
                   resample_filter: Tensor | None = None) -> Tensor:
    """StyleGAN2 eqs. 1–3 for styles s (N, in): w'_oik = s_i w_oik, w''_oik = w'_oik / √(Σ_ik w'_oik² + 1e-8).

    Computed as d_o · conv(x ⊙ s, w), d_o = (Σ_i s_i² Σ_k w_oik² + 1e-8)^(-1/2): the same
    numbers as NVlabs' grouped (fused) convolution, with one ordinary convolution for
    the batch. ``up`` = 2: transposed convolution (stride 2), then the FIR filter
    (gain 4), padded as NVlabs' ``conv2d_resample`` pads for 'same' output.
    """
    kw = weight.shape[-1]
    x = x * styles.reshape(*styles.shape, 1, 1)
    if up == 1:
        x = F.conv2d(x, weight, padding=kw // 2)
    else:
        fw = resample_filter.shape[-1]
        p0 = kw // 2 + (fw + up - 1) // 2 - (kw - 1)  # conv2d_resample's padding around the transposed conv
        p1 = kw // 2 + (fw - up) // 2 - (kw - up)
        t = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up, padding=t)
        x = upfir2d(x, resample_filter * up**2, pad=(p0 + t, p1 + t))
    if demodulate:
        d = (styles.square() @ weight.square().sum((2, 3)).T + 1e-8).rsqrt()  # (N, out)
        x = x * d.reshape(*d.shape, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    """Modulated conv (style from ``affine``), optional up-sampling, noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: list[float] = (1, 3, 3, 1), conv_clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.activation = check_activation(activation, "NVlabs SynthesisLayer")
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "const") -> Tensor:
        x = modulated_conv(x, self.weight, self.affine(w), up=self.up, resample_filter=self.resample_filter)
        if self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device) * self.noise_strength
        return bias_act(x, self.bias, self.activation, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1×1 conv without demodulation, styles scaled by 1/√in; bias; clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: ``const`` (4 px) or ``conv0`` (×2), then ``conv1``, then ``torgb`` added to the image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 resample_filter: list[float], conv_clamp: float | None, **layer_kwargs) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        common = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp, **layer_kwargs)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, resample_filter=resample_filter, **common)
        self.conv1 = SynthesisLayer(out_channels, out_channels, **common)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str) -> tuple[Tensor, Tensor]:
        """``ws``: (N, num_conv + 1, w_dim), one row per conv and one for torgb."""
        if self.in_channels == 0:
            x = self.conv1(self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1), ws[:, 0], noise_mode)
        else:
            x = self.conv1(self.conv0(x, ws[:, 0], noise_mode), ws[:, 1], noise_mode)
        y = self.torgb(x, ws[:, self.num_conv])
        if img is None:
            return x, y
        fw = self.resample_filter.shape[-1]
        return x, upfir2d(img, self.resample_filter * 4, up=2, pad=((fw + 1) // 2, (fw - 2) // 2)) + y


class StyleGAN2ADASynthesis(nn.Module):
    """``training.networks.SynthesisNetwork`` of stylegan2-ada-pytorch: W+ rows (N, num_ws, w_dim) → image.

    Channels per resolution r: min(channel_base / r, channel_max). ``num_ws`` =
    2·log2(resolution) − 2: block b4 reads rows 0–1, block b(2^k) rows 2k−5 … 2k−3
    (its torgb row is the next block's conv0 row). ``num_fp16_res``,
    ``fp16_channels_last`` and ``fused_modconv_default`` only change NVlabs'
    speed, not the maths; everything runs in float32.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, architecture: str = "skip",
                 resample_filter: list[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 fp16_channels_last: bool = False, fused_modconv_default: object = True, **layer_kwargs) -> None:
        super().__init__()
        del num_fp16_res, fp16_channels_last, fused_modconv_default  # speed settings of NVlabs' code
        if architecture != "skip":
            raise SteerError(
                f"this NVlabs StyleGAN2 uses architecture {architecture!r}; steer implements 'skip' only "
                "(the architecture of every released stylegan2-ada-pytorch and stylegan3 'stylegan2' model)."
            )
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise SteerError(f"NVlabs StyleGAN2 img_resolution must be a power of two ≥ 4, got {img_resolution}.")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim, r, img_channels,
                                   list(resample_filter), conv_clamp, **layer_kwargs)
            setattr(self, f"b{r}", block)
        self.num_ws = 2 * len(self.block_resolutions)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def affine_rows(self) -> list[tuple[int, FullyConnectedLayer]]:
        """(W+ row, style affine) of every modulated 3×3 conv, in row order (torgb layers left out, as SeFa does)."""
        convs = [layer for block in self.blocks() for layer in (getattr(block, "conv0", None), block.conv1) if layer]
        return [(row, layer.affine) for row, layer in enumerate(convs)]

    def forward(self, ws: Tensor, noise_mode: str = "const") -> Tensor:
        if noise_mode not in NOISE_MODES:
            raise SteerError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}.")
        ws = ws.float()
        x = img = None
        row = 0
        for block in self.blocks():
            x, img = block(x, img, ws[:, row:row + block.num_conv + 1], noise_mode)
            row += block.num_conv
        return img


class StyleGAN2Synthesis(StyleGAN2ADASynthesis):
    """``training.networks_stylegan2.SynthesisNetwork`` of the stylegan3 repository: the same network,
    whose blocks clamp convolution outputs to ±256 unless told otherwise."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, num_fp16_res: int = 4,
                 conv_clamp: float | None = 256, **kwargs) -> None:
        super().__init__(w_dim, img_resolution, img_channels, num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, **kwargs)
