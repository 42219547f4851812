"""The StyleGAN3 synthesis network (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs T and R.

Pure PyTorch (CPU and CUDA, no compiled extensions). Module, parameter and
buffer names equal those of NVlabs' ``stylegan3`` synthesis network, so the
``G.synthesis`` state of its snapshots loads strictly; the constructor takes the
keyword arguments stored with that network. Layers NVlabs runs in fp16 on CUDA
run in fp32 here. There are no noise inputs: an image is a function of its ws.

Layout (paper §3–4, App. F): Fourier features at the lowest sampling rate, then
``num_layers`` modulated-convolution layers whose cutoff f_c and stopband f_t grow
geometrically up to the image's Nyquist rate, the last ``num_critical`` of them
critically sampled, each followed by a filtered leaky ReLU; a 1×1 ToRGB layer.
Layers compute ``margin_size`` pixels beyond each side of the image, cropped at the end.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.generators.alias_free import filtered_lrelu, lowpass_filter
from steer.generators.nvlabs_layers import FullyConnectedLayer


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, input_gain: Tensor) -> Tensor:
    """StyleGAN2's modulated convolution (eqs. 1–3) with StyleGAN3's normalisations, as a full convolution (pad k − 1).

    w'_oik = s_i · w_oik and, when ``demodulate``, w''_oik = w'_oik / √(Σ_ik w'²_oik + ε).
    Before that each w_o is scaled to unit mean square and s to unit mean square (per
    sample here; NVlabs takes it over the batch, which demodulation cancels up to ε).
    ``input_gain`` = 1/√(EMA of the input's mean square) then rescales the input, after
    demodulation. Computed as d ⊙ (w * (g·s ⊙ x)): modulate the activations, convolve,
    demodulate the outputs.
    """
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    k = weight.shape[-1]
    y = F.conv2d(x * (styles * input_gain)[:, :, None, None], weight, padding=k - 1)
    if demodulate:
        # Σ_ik (s_i w_oik)² = (s²) · (Σ_k w²_oik)ᵀ, one (N, out) matrix
        d = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        y = y * d[:, :, None, None]
    return y


class SynthesisInput(nn.Module):
    """Fourier features (paper §3.3, App. F.1): x_c(p) = Σ_d W_cd/√C · a_d sin(2π(f_d · T(p) + φ_d)).

    ``freqs`` f_d lie in a disc of radius ``bandwidth``, ``phases`` φ_d in [−½, ½).
    The style of w is t = (r_c, r_s, t_x, t_y), r normalised to unit length: the
    features are rotated by r and translated by t, then by the user's ``transform``
    (an inverse 3×3 transform of the image). Frequencies pushed beyond the band by
    that transform fade out linearly: a_d = clamp(1 − (|f'_d| − f_c)/(s/2 − f_c), 0, 1).
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn(channels, 2)
        radii = freqs.norm(dim=1, keepdim=True)
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def transforms(self, w: Tensor) -> Tensor:
        """(N, 3, 3) inverse image transforms: rotation by r', then translation by t', then ``transform``."""
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(dim=1)
        zero, one = torch.zeros_like(cos), torch.ones_like(cos)
        rotate = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], dim=1).view(-1, 3, 3)
        translate = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], dim=1).view(-1, 3, 3)
        return rotate @ translate @ self.transform

    def forward(self, w: Tensor) -> Tensor:
        m = self.transforms(w)
        phases = self.phases + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)  # φ' = φ + f · t, (N, C)
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]  # f' = f R, (N, C, 2)
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # sample centres in image units: (i + ½ − size/2) / s for i = 0 … size − 1
        coords = (
            torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5 - self.size / 2
        ) / self.sampling_rate
        grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)  # (H, W, xy)
        x = torch.einsum("hwk,nck->nhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(2 * math.pi * x) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}, sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"


class SynthesisLayer(nn.Module):
    """One layer: style ``affine``, modulated convolution, then bias and the filtered leaky ReLU.

    The nonlinearity runs at the temporary rate max(s_in, s_out) · ``lrelu_upsampling``
    (paper §3.2): ``up_filter`` low-passes at the input cutoff, ``down_filter`` at the
    output cutoff (radial when ``use_radial_filters`` and the layer is not critically
    sampled). The ToRGB layer is a 1×1 convolution without demodulation, with the
    style scaled by 1/√(C_in · k²), a linear activation and no resampling.
    """

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: int,
        out_sampling_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
    ) -> None:
        super().__init__()
        self.is_torgb = is_torgb
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.out_size = in_size, out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = _ratio(tmp_rate, in_sampling_rate)
        self.down_factor = _ratio(tmp_rate, out_sampling_rate)
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("up_filter", lowpass_filter(up_taps, in_cutoff, 2 * in_half_width, tmp_rate))
        self.register_buffer("down_filter", lowpass_filter(down_taps, out_cutoff, 2 * out_half_width, tmp_rate, radial))

        # Pad the up-sampled signal so that exactly out_size samples come out; the half-sample
        # shift of pad_lo places samples symmetrically about the centre (paper App. C.3).
        pad_total = (out_size - 1) * self.down_factor + 1
        pad_total -= (in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = (pad_lo, pad_hi, pad_lo, pad_hi)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt()
        )
        return filtered_lrelu(
            x,
            self.bias,
            self.up_filter,
            self.down_filter,
            up=self.up_factor,
            down=self.down_factor,
            padding=self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2),
            slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}×{self.in_size}², out={self.out_channels}×{self.out_size}², "
            f"up={self.up_factor}, down={self.down_factor}, torgb={self.is_torgb}"
        )


def _ratio(high: float, low: float) -> int:
    factor = int(round(high / low))
    if low * factor != high:
        raise ValueError(f"sampling rate {high:g} is not an integer multiple of {low:g}")
    return factor


class StyleGAN3Synthesis(nn.Module):
    """ws (N, num_ws, w_dim) → images (N, img_channels, R, R), for NVlabs' stylegan3-t and stylegan3-r configs.

    Layer i = 0 … num_layers has cutoff f_c[i] = f_c,0 · (f_c,N / f_c,0)^e_i and minimum
    stopband f_t[i] = f_t,0 · (f_t,N / f_t,0)^e_i, e_i = min(i / (num_layers − num_critical), 1),
    with f_c,N = R/2 and f_t,N = f_c,N · ``last_stopband_rel`` (paper App. F.2, eq. 10). Its
    sampling rate is s[i] = 2^⌈log₂ min(2 f_t[i], R)⌉, its transition half-width
    f_h[i] = max(f_t[i], s[i]/2) − f_c[i], its side s[i] + 2·``margin_size`` (R for the last
    two), its channels min(``channel_base``/2 / f_c[i], ``channel_max``) rounded. The output
    is multiplied by ``output_scale``.

    ``num_fp16_res`` is accepted and has no effect (every layer runs in fp32);
    ``magnitude_ema_beta`` is training-only and ignored.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        magnitude_ema_beta: float | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        del num_fp16_res, magnitude_ema_beta  # fp32 throughout; the EMA's decay only matters when training
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws = num_layers + 2
        self.output_scale = output_scale

        last_cutoff = img_resolution / 2
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(2 * stopbands, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + 2 * margin_size
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum(channel_base / 2 / cutoffs, channel_max))
        channels[-1] = img_channels

        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names: list[str] = []
        for i in range(num_layers + 1):
            j = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim,
                is_torgb=i == num_layers,
                is_critically_sampled=i >= num_layers - num_critical,
                in_channels=int(channels[j]),
                out_channels=int(channels[i]),
                in_size=int(sizes[j]),
                out_size=int(sizes[i]),
                in_sampling_rate=int(rates[j]),
                out_sampling_rate=int(rates[i]),
                in_cutoff=float(cutoffs[j]),
                out_cutoff=float(cutoffs[i]),
                in_half_width=float(half_widths[j]),
                out_half_width=float(half_widths[i]),
                **layer_kwargs,
            )
            name = f"L{i}_{layer.out_size}_{layer.out_channels}"
            self.add_module(name, layer)
            self.layer_names.append(name)

    def affine_rows(self) -> list[tuple[int, FullyConnectedLayer]]:
        """(W+ row, style affine) of every modulated layer but the last (ToRGB), for SeFa: layer i reads row
        i + 1; the input's affine (row 0) sets the Fourier features' rotation and shift, not a style, and is left out."""
        return [(i + 1, getattr(self, name).affine) for i, name in enumerate(self.layer_names[:-1])]

    def forward(self, ws: Tensor, noise_mode: str = "const", **ignored: Any) -> Tensor:
        """Images for ws: row 0 styles the Fourier features, row i + 1 layer i. ``noise_mode`` has no effect."""
        if ws.dim() != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        rows = ws.float().unbind(dim=1)
        x = self.input(rows[0])
        for name, w in zip(self.layer_names, rows[1:]):
            x = getattr(self, name)(x, w)
        return x * self.output_scale
