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
def _filter_passes(f: Tensor, gain: float) -> list[tuple[Tensor, tuple[bool, bool]]]:
    """(2-D kernel, whether it runs along (H, W)) per pass: a 2-D ``f`` once, a 1-D one along W then H (√gain each)."""
    if f.dim() == 2:
        return [(f * gain, (True, True))]
    f = f * gain**0.5
    return [(f[None, :], (False, True)), (f[:, None], (True, False))]


def upfirdn2d(
    x: Tensor,
    f: Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> Tensor:
    """Up-sample, pad, FIR-filter, down-sample each channel of NCHW ``x`` (``f`` None: one unit tap).

    1. insert ``up − 1`` zeros after every pixel; 2. pad (x0, x1, y0, y1), negative
    values crop; 3. convolve with ``f`` scaled to sum ``gain`` over the 2-D footprint
    (a 1-D ``f`` is separable: applied along W then H, each pass with √gain);
    4. keep every ``down``-th pixel. Output side: (up·n + p0 + p1 − taps) // down + 1.

    steer's StyleGAN2 ``upfir2d`` does steps 1–3 by zero insertion and a 2-D kernel; this
    one skips the inserted zeros (steps 1 and 3 as one transposed convolution: a full
    convolution of the up-sampled signal, then cropped or padded to step 2's window),
    folds step 4 into the convolution's stride, and filters separably, which StyleGAN3's
    12–24-tap filters at up to 4× up-sampling need to be usable on a CPU.
    """
    if f is None:
        f = torch.ones(1, 1, device=x.device)
    c = x.shape[1]
    passes = [(k.to(x.dtype).expand(c, 1, *k.shape), axes) for k, axes in _filter_passes(f, gain)]
    if up == 1:
        x = F.pad(x, list(padding))
        for k, axes in passes:  # a true convolution: F.conv2d correlates, so flip the kernel
            x = F.conv2d(x, k.flip([2, 3]), stride=[down if a else 1 for a in axes], groups=c)
        return x
    for k, axes in passes:
        x = F.conv_transpose2d(x, k, stride=[up if a else 1 for a in axes], groups=c)
    taps_y, taps_x = f.shape[0], f.shape[-1]
    x0, x1, y0, y1 = padding
    x = F.pad(x, [x0 - taps_x + 1, x1 - taps_x + up, y0 - taps_y + 1, y1 - taps_y + up])
    return x[:, :, ::down, ::down]


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
