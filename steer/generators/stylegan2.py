"""StyleGAN2 (Karras et al. 2020) in pure PyTorch, reading rosinality ``stylegan2-pytorch`` checkpoints.

Module and parameter names follow that project's generator, so the ``g_ema``
state dict of its checkpoints (``train.py`` or ``convert_weight.py`` output)
loads as is. Its custom CUDA ops (fused leaky ReLU, upfirdn2d) are written
here with plain torch ops, so the model runs on CPU and GPU alike. The noise
inputs are the checkpoint's fixed ``noises.noise_i`` buffers: an image is a
pure function of its latent.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.checkpoint import is_state_dict, load, load_matching_state
from steer.errors import SteerError
from steer.generators.style_latents import StyleLatentGenerator

LR_MAPPING = 0.01  # learning-rate multiplier of the mapping MLP (rosinality lr_mlp, as in the paper)
BLUR = (1.0, 3.0, 3.0, 1.0)  # the separable FIR filter of up-sampling
GAIN = math.sqrt(2)  # leaky ReLU gain
AVG_SAMPLES = 4096  # z samples averaged for w̄ when a checkpoint has no latent_avg


def default_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """Feature maps per resolution 4..size, the table of the official configs."""
    table = {4: 512, 8: 512, 16: 512, 32: 512}
    table.update({2**r: 2 ** (14 - r) * channel_multiplier for r in range(6, 11)})  # 64: 256·cm … 1024: 16·cm
    return {r: c for r, c in table.items() if r <= size}


def n_latent(size: int) -> int:
    """Rows of W+: two per resolution 8..size, plus conv1's and to_rgb1's at 4 px (2·log2(size) − 2)."""
    return 2 * int(math.log2(size)) - 2


# -- ops ------------------------------------------------------------------------------
def fused_leaky_relu(x: Tensor, bias: Tensor) -> Tensor:
    """√2 · leaky_relu(x + b, 0.2), the bias broadcast over dimension 1."""
    return F.leaky_relu(x + bias.view(1, -1, *([1] * (x.dim() - 2))), 0.2) * GAIN


def upfir2d(x: Tensor, kernel: Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """upfirdn2d without the down step (the generator never down-samples).

    Insert ``up − 1`` zeros after every pixel, pad H and W by (p0, p1), then
    convolve each channel with ``kernel`` (a true convolution: flipped for
    ``F.conv2d``). Output side: up·n + p0 + p1 − k + 1.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = kernel.flip([0, 1]).to(x.dtype).expand(c, 1, *kernel.shape)
    return F.conv2d(x, k, groups=c)


# -- layers (names match rosinality/stylegan2-pytorch) ------------------------------------
class PixelNorm(nn.Module):
    """z / √(mean_i z_i² + 1e-8)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Equalised-learning-rate linear: y = x (c·W)ᵀ + λ·b, c = λ/√in, λ = ``lr_mul``; optional leaky ReLU."""

    def __init__(
        self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def effective_weight(self) -> Tensor:
        return self.weight * self.scale

    def forward(self, x: Tensor) -> Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.effective_weight()), self.bias * self.lr_mul)
        return F.linear(x, self.effective_weight(), self.bias * self.lr_mul)


class FIRFilter(nn.Module):
    """``upfir2d`` with the [1, 3, 3, 1]² filter (sum ``gain``) kept in the ``kernel`` buffer."""

    def __init__(self, pad: tuple[int, int], up: int = 1, gain: float = 1.0) -> None:
        super().__init__()
        k = torch.tensor(BLUR)
        k = k[:, None] * k[None, :]
        self.register_buffer("kernel", k / k.sum() * gain)
        self.pad, self.up = pad, up

    def forward(self, x: Tensor) -> Tensor:
        return upfir2d(x, self.kernel, self.up, self.pad)


class ModulatedConv2d(nn.Module):
    """Weight (de)modulation, StyleGAN2 eqs. 1–3, for a style s = A w + b (``modulation``):

        w'_ijk = s_i · w_ijk,   w''_ijk = w'_ijk / √(Σ_{i,k} w'_ijk² + ε)

    computed as d_j · conv(x·s, w) with d_j = (Σ_i s_i² Σ_k w_ijk² + ε)^(-1/2),
    the same numbers with one ordinary convolution for the whole batch. With
    ``upsample``: transposed conv, stride 2, then the FIR blur.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        if upsample:
            p = (len(BLUR) - 2) - (kernel_size - 1)
            self.blur = FIRFilter(pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        s = self.modulation(style)  # (N, in)
        w = self.weight[0] * self.scale  # (out, in, k, k)
        x = x * s[:, :, None, None]
        if self.upsample:
            x = self.blur(F.conv_transpose2d(x, w.transpose(0, 1), stride=2))
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            d = torch.rsqrt(s.pow(2) @ w.pow(2).sum((2, 3)).T + 1e-8)  # (N, out)
            x = x * d[:, :, None, None]
        return x


class NoiseInjection(nn.Module):
    """x + weight · noise (the noise image is given, so the output is deterministic)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    """√2 · leaky_relu(x + b, 0.2) with a learned per-channel bias."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias)


class ConstantInput(nn.Module):
    """The learned 4×4 input, repeated over the batch."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, 4, 4))

    def forward(self, batch: int) -> Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated 3×3 conv, noise, biased leaky ReLU."""

    def __init__(self, in_channel: int, out_channel: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor) -> Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB (no demodulation) plus the up-sampled skip image."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            p = len(BLUR) - 2
            self.upsample = FIRFilter(pad=((p + 1) // 2 + 1, p // 2), up=2, gain=4)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


class StyleGAN2Network(nn.Module):
    """Mapping MLP ``style`` (z → w) and the synthesis network (W+ rows → image, skip architecture).

    W+ row r feeds: r = 0 conv1; r = 1 to_rgb1 and convs[0]; r = 2j+1 convs[2j]
    (up-sampling) and to_rgbs[j−1]; r = 2j+2 convs[2j+1]. So row r drives the
    r-th modulated 3×3 conv (``style_convs()[r]``) for r < n_latent − 1; the last
    row only drives the last ToRGB.
    """

    def __init__(self, size: int, style_dim: int, n_mlp: int, channels: dict[int, int]) -> None:
        super().__init__()
        self.style = nn.Sequential(
            PixelNorm(), *(EqualLinear(style_dim, style_dim, lr_mul=LR_MAPPING, activate=True) for _ in range(n_mlp))
        )
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], style_dim)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        self.num_layers = n_latent(size) - 1
        for i in range(self.num_layers):
            side = 2 ** ((i + 5) // 2)  # 4, 8, 8, 16, 16, …
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, side, side))
        c_in = channels[4]
        for r in range(3, int(math.log2(size)) + 1):
            c_out = channels[2**r]
            self.convs.append(StyledConv(c_in, c_out, style_dim, upsample=True))
            self.convs.append(StyledConv(c_out, c_out, style_dim))
            self.to_rgbs.append(ToRGB(c_out, style_dim))
            c_in = c_out

    def style_convs(self) -> list[ModulatedConv2d]:
        """The modulated 3×3 convs, indexed by the W+ row that drives them."""
        return [self.conv1.conv] + [c.conv for c in self.convs]

    def synthesis(self, ws: Tensor) -> Tensor:
        """Image (N, 3, size, size), unclipped, from W+ rows ``ws`` (N, n_latent, style_dim)."""
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        x = self.conv1(self.input(ws.shape[0]), ws[:, 0], noise[0])
        image = self.to_rgb1(x, ws[:, 1])
        for j, to_rgb in enumerate(self.to_rgbs):
            r = 2 * j + 1
            x = self.convs[2 * j](x, ws[:, r], noise[r])
            x = self.convs[2 * j + 1](x, ws[:, r + 1], noise[r + 1])
            image = to_rgb(x, ws[:, r + 2], image)
        return image


# -- checkpoints ------------------------------------------------------------------------
def _looks_like(state: dict[str, Tensor]) -> str:
    """What the g_ema state dict itself says about size, style_dim and n_mlp."""
    rgbs = {k.split(".")[1] for k in state if k.startswith("to_rgbs.")}
    mlp = [k for k in state if k.startswith("style.") and k.endswith(".weight")]
    style = state.get("style.1.weight")
    dim = f", style_dim={style.shape[1]}" if style is not None else ""
    return f"it looks like size={2 ** (len(rgbs) + 2)}{dim}, n_mlp={len(mlp)}"


def read_checkpoint(path: str) -> tuple[dict[str, Tensor], Tensor | None]:
    """(g_ema state dict, latent_avg or None) of a rosinality checkpoint, loaded with weights_only."""
    if not Path(path).exists():
        raise SteerError(
            f"StyleGAN2 checkpoint {path} does not exist. steer never downloads at run time: put a rosinality "
            "stylegan2-pytorch checkpoint there, either one its train.py wrote or an official NVlabs .pkl converted "
            "by its convert_weight.py (e.g. stylegan2-ffhq-config-f.pkl → stylegan2-ffhq-config-f.pt: size 1024, "
            "channel_multiplier 2), and set size, style_dim, n_mlp and channel_multiplier to match it. Until then "
            "the DigiFace DCGAN (steer.generators.DigiFaceDCGAN) works with no download."
        )
    # train.py also stores its argparse.Namespace; allowing that plain attribute bag runs no code.
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = load(path, "StyleGAN2 checkpoint")
    if not isinstance(ckpt, dict) or not is_state_dict(ckpt.get("g_ema")):
        found = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise SteerError(
            f"StyleGAN2 checkpoint {path} has no 'g_ema' state dict (found: {found}); steer reads rosinality "
            "stylegan2-pytorch checkpoints (a dict with 'g_ema' and optionally 'latent_avg')."
        )
    avg = ckpt.get("latent_avg")
    return ckpt["g_ema"], avg if isinstance(avg, Tensor) else None


# -- the generator ------------------------------------------------------------------------
class StyleGAN2(StyleLatentGenerator):
    """StyleGAN2 from a rosinality checkpoint, steered in z, w or W+ (steer.generators.style_latents).

    L = n_latent = 2·log2(size) − 2 W+ rows. ``layers`` (W+ row indices,
    default all) are the rows a W+ latent holds and, in w and W+, the layers
    whose style weights SeFa uses. ``truncation`` ψ uses w̄ = the checkpoint's
    ``latent_avg``, else the mean w of 4096 seeded z. Images are clamped to
    [-1, 1]. ``channels`` overrides the official feature-map table
    ({resolution: channels}, for tiny models).
    """

    weights_option = "checkpoint"

    def __init__(
        self,
        checkpoint: str,
        size: int,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        latent_space: str = "w",
        layers: list[int] | None = None,
        truncation: float | None = None,
        channels: dict[int, int] | None = None,
        freeze: bool = True,
    ) -> None:
        if size < 4 or size & (size - 1) or (channels is None and size > 1024):
            raise SteerError(f"StyleGAN2 size must be a power of two from 4 to 1024, got {size}.")
        super().__init__(style_dim, n_latent(size), size, latent_space, layers, truncation)
        channels = (
            self._check_channels(channels, size) if channels is not None else default_channels(size, channel_multiplier)
        )
        self.net = StyleGAN2Network(size, style_dim, n_mlp, channels)
        state, avg = read_checkpoint(checkpoint)
        hint = (
            f"Set size, style_dim, n_mlp and channel_multiplier to the checkpoint's ({_looks_like(state)}; "
            f"given size={size}, style_dim={style_dim}, n_mlp={n_mlp}, channel_multiplier={channel_multiplier})."
        )
        load_matching_state(self.net, state, f"StyleGAN2 checkpoint {checkpoint}", hint)
        if avg is not None and avg.numel() != style_dim:
            raise SteerError(
                f"StyleGAN2 checkpoint {checkpoint}: latent_avg has {avg.numel()} values, not style_dim={style_dim}."
            )
        self.register_buffer("latent_avg", avg.reshape(style_dim).float() if avg is not None else self._mean_w())
        self.weights_path = checkpoint
        if freeze:
            self.freeze()

    @property
    def weights_files(self) -> tuple[str, ...]:
        return (self.weights_path,)

    @staticmethod
    def _check_channels(channels: dict[int, int], size: int) -> dict[int, int]:
        need = [2**r for r in range(2, int(math.log2(size)) + 1)]
        if any(channels.get(r, 0) <= 0 for r in need):
            raise SteerError(f"StyleGAN2 channels needs a positive count for each resolution {need}, got {channels}.")
        return channels

    @torch.no_grad()
    def _mean_w(self) -> Tensor:
        """w̄ ≈ mean of w over ``AVG_SAMPLES`` z drawn from seed 0 (deterministic)."""
        z = torch.randn(AVG_SAMPLES, self.style_dim, generator=torch.Generator().manual_seed(0))
        return self.net.style(z).mean(0)

    def map(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.net.style(z)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.net.synthesis(self.rows(z)).clamp(-1, 1)

    default_layer = "net.style"  # the mapping z → w: PCA on w, as GANSpace does for StyleGAN

    def first_projection(self) -> Tensor:
        """A for SeFa: the style (modulation) weights of the 3×3 convs driven by the rows in ``layers``
        (ToRGB excluded, as in SeFa), combined by :meth:`sefa_matrix`."""
        return self.sefa_matrix([(r, c.modulation.effective_weight()) for r, c in enumerate(self.net.style_convs())])
