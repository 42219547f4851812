"""Alias-free signal processing of StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial Networks").

Feature maps are treated as samples of continuous signals. A nonlinearity is
applied at a temporarily raised sampling rate between an up-sampling and a
down-sampling low-pass filter (§3.2, Fig. 4 of the paper), so it creates no
frequencies above the output's band limit. The filters are Kaiser-windowed
sinc filters (separable) or, for StyleGAN3-R, jinc filters (radially symmetric).

Written with plain torch ops (CPU and CUDA); scipy designs the filters.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import Tensor


# -- filter design -----------------------------------------------------------------------
def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> Tensor | None:
    """A low-pass FIR filter with ``numtaps`` taps, cutoff f_c, transition band ``width``, sampling rate fs.

    ``None`` for one tap (the identity). Separable: the 1-D Kaiser-windowed sinc of
    ``scipy.signal.firwin``, applied along each axis. Radial (paper App. F.2): the 2-D
    jinc h(r) = J₁(2π f_c r) / (π r) times the outer product of two Kaiser windows
    (β from Kaiser's attenuation formula for this width), normalised to unit sum.
    """
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs), dtype=torch.float32)
    taps = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(taps, taps))
    safe = np.where(r == 0, 1.0, r)
    jinc = np.where(r == 0, cutoff, scipy.special.j1(2 * np.pi * cutoff * safe) / (np.pi * safe))  # limit f_c at r = 0
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    h = jinc * np.outer(window, window)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


# -- resampling --------------------------------------------------------------------------
def _convolve(x: Tensor, kernel: Tensor, stride: tuple[int, int]) -> Tensor:
    """Depthwise true convolution (the kernel flipped for ``F.conv2d``), keeping every stride-th output."""
    c = x.shape[1]
    k = kernel.flip(list(range(kernel.dim()))).to(x.dtype)
    return F.conv2d(x, k.expand(c, 1, *k.shape), stride=stride, groups=c)


def upfirdn2d(
    x: Tensor,
    f: Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> Tensor:
    """Up-sample, pad, FIR-filter, down-sample each channel of NCHW ``x``.

    1. insert ``up − 1`` zeros after every pixel; 2. pad (x0, x1, y0, y1), negative
    values crop; 3. convolve with ``f`` scaled to sum ``gain`` over the 2-D footprint
    (a 1-D ``f`` is separable: applied along W then H, each pass with √gain);
    4. keep every ``down``-th pixel (done as the convolution's stride). Output side:
    (up·n + p0 + p1 − taps) // down + 1.

    steer's StyleGAN2 ``upfir2d`` does steps 1–3 with a 2-D kernel; this one adds the
    separable filters and strided down-sampling StyleGAN3 needs (6× fewer multiply-adds
    for its 12-tap filters, 4× fewer again for ×2 down-sampling).
    """
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, list(padding))
    if f is None:
        return (x * gain if gain != 1 else x)[:, :, ::down, ::down]
    if f.dim() == 2:
        return _convolve(x, f * gain, (down, down))
    f = f * gain**0.5
    return _convolve(_convolve(x, f[None, :], (1, down)), f[:, None], (down, 1))


def filtered_lrelu(
    x: Tensor,
    bias: Tensor,
    up_filter: Tensor | None,
    down_filter: Tensor | None,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> Tensor:
    """Bias, then the paper's filtered nonlinearity (§3.2): y = ↓_down( F_d * clamp(g·φ_slope(F_u * ↑_up(x + b))) ).

    ↑ inserts zeros and F_u (gain up², so the interpolation keeps the signal's level)
    low-passes at the input cutoff; φ is a leaky ReLU with negative ``slope`` times
    ``gain``, clipped to ±``clamp``; F_d low-passes at the output cutoff before
    keeping every ``down``-th sample. ``padding`` (x0, x1, y0, y1) is applied to the
    up-sampled signal and sets which samples of the continuous signal come out.
    """
    x = x + bias.view(1, -1, 1, 1).to(x.dtype)
    x = upfirdn2d(x, up_filter, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, down_filter, down=down)
