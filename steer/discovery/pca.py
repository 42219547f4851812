"""PCA of intermediate features, mapped back to the latent (GANSpace; docs/methods.md §5).

Over n seeded latents, the top principal components v_k of the features
f = features(z, layer) (flattened) are found without ever holding the n × D
feature matrix: subspace iteration on the covariance, each pass streaming the
features batch by batch (memory: a D × (k + oversample) block),

    C Q = 1/(n−1) Σ_i (f_i − μ)(f_i − μ)ᵀ Q = 1/(n−1) (Σ_i f_i (f_iᵀ Q) − (Σ_i f_i)(μᵀ Q)),
    Q ← orth(C Q),

then a Rayleigh–Ritz step (eigh of Qᵀ C Q) gives the components and their
variances. Each component is moved to the latent by least squares: the PCA
coordinates c_i = V_kᵀ (f_i − μ) are regressed on the latents,

    z_i − z̄ ≈ c_i B   (B: k × latent_dim, torch.linalg.lstsq),

and u_k = B_k / ‖B_k‖ is the latent direction of component k. Where the
latent holds the features themselves, latent = L f (StyleGAN's w and W+
latents hold w = mapping(z); ``Generator.latent_lift``), no regression is
needed: B = (L V_k)ᵀ, GANSpace's StyleGAN recipe.

Features are read by a forward hook on the submodule named ``layer`` (its
path from the generator, e.g. ``main.2``; ``Generator.features``), which stops
the pass once that layer has run.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steer.errors import SteerError
from steer.formats.directions import fix_signs
from steer.generators.base import Generator
from steer.seeding import rng


def _features(generator: Generator, layer: str, z: Tensor, y: Tensor | None, device: torch.device) -> Tensor:
    """Flattened float64 features of ``z`` (and classes ``y``) at ``layer``, computed on ``device``."""
    return generator.features(z.to(device), layer, None if y is None else y.to(device)).flatten(1).double()


def _batches(generator: Generator, layer: str, z: Tensor, y: Tensor | None, batch_size: int, device: torch.device,
             label: str, progress: bool) -> Iterator[Tensor]:
    """:func:`_features` of ``z``, batch by batch, with a progress bar."""
    with tqdm(total=len(z), desc=label, unit="latent", disable=not progress) as bar:
        for start in range(0, len(z), batch_size):
            end = start + batch_size
            yield _features(generator, layer, z[start:end], None if y is None else y[start:end], device)
            bar.update(min(end, len(z)) - start)


def _covariance_times(batches: Iterator[Tensor], q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One pass over the features: C Q, trace C (total variance) and the rows (f_i − μ)ᵀ Q; float64."""
    n, s, ss, sq, rows = 0, 0.0, 0.0, 0.0, []
    for f in batches:
        fq = f @ q
        rows.append(fq)
        n, s, ss, sq = n + len(f), s + f.sum(0), ss + f.square().sum(), sq + f.T @ fq
    mean = s / n
    mean_q = mean @ q
    cq = (sq - s[:, None] * mean_q[None]) / (n - 1)  # C Q = (Σ f fᵀQ − (Σ f) μᵀQ) / (n − 1)
    total = (ss - n * mean.square().sum()) / (n - 1)  # trace C = (Σ ‖f‖² − n ‖μ‖²) / (n − 1)
    return cq, total, torch.cat(rows) - mean_q


@torch.no_grad()
def pca(
    generator: Generator,
    layer: str,
    k: int,
    n: int = 5000,
    batch_size: int = 250,
    seed: int = 0,
    iterations: int = 3,
    oversample: int = 10,
    progress: bool = True,
    classes: list[int] | None = None,
) -> tuple[Tensor, Tensor]:
    """The top ``k`` GANSpace directions of ``generator`` at ``layer`` and their explained variance ratios.

    Returns ``(directions, ratios)``: directions (k, latent_dim), unit rows,
    sorted by the variance of their component (descending); ratios (k,): each
    component's share of the total feature variance. ``iterations`` subspace
    iterations (one pass over the n latents each, plus a final pass) on a
    block of k + ``oversample`` vectors. Signs are fixed so that each
    direction's largest-magnitude coordinate is positive. CPU tensors. ``classes``: the classes of a
    conditional generator the latents use, in turn (default: drawn uniformly).
    """
    d = generator.latent_dim
    if not 1 <= k <= d:
        raise SteerError(f"PCA finds 1 to latent_dim={d} directions; asked for k={k}.")
    if n <= k or batch_size < 1:
        raise SteerError(f"PCA needs more latents than directions (n > k={k}) and batch_size ≥ 1; "
                         f"got n={n}, batch_size={batch_size}.")
    if iterations < 0 or oversample < 0:
        raise SteerError(f"PCA needs iterations ≥ 0 and oversample ≥ 0, got {iterations}, {oversample}.")
    device = next(generator.parameters(), torch.empty(0)).device
    draw = rng(seed, "pca", "latents")
    z = generator.sample_latent(n, draw)
    y = generator.sample_class(n, draw, generator.check_classes(classes))
    size = _features(generator, layer, z[:1], None if y is None else y[:1], device).shape[1]  # D; checks the layer
    if size < k:
        raise SteerError(f"layer {layer!r} has only {size} features; ask for k ≤ {size} directions.")
    omega = torch.randn(size, k + oversample, generator=rng(seed, "pca", "start"), dtype=torch.float64)
    q = torch.linalg.qr(omega.to(device)).Q  # a random orthonormal start
    for p in range(iterations + 1):
        label = f"pca pass {p + 1}/{iterations + 1}"
        cq, total, rows = _covariance_times(_batches(generator, layer, z, y, batch_size, device, label, progress), q)
        if p < iterations:
            q = torch.linalg.qr(cq).Q  # Q ← orth(C Q)
    ritz = q.T @ cq
    variances, w = torch.linalg.eigh((ritz + ritz.T) / 2)  # Rayleigh–Ritz: Qᵀ C Q = W Λ Wᵀ (ascending)
    order = variances.argsort(descending=True)[:k]
    lift = generator.latent_lift(layer)
    if lift is None:
        coords = (rows @ w[:, order]).cpu()  # c_i = V_kᵀ (f_i − μ) with V_k = Q W_k
        latents = z.double() - z.double().mean(0)
        b = torch.linalg.lstsq(coords, latents).solution  # z_i − z̄ ≈ c_i B
    else:
        b = (lift.double() @ (q @ w[:, order])).T.cpu()  # the latent holds f: B = (L V_k)ᵀ
    directions = fix_signs(torch.nn.functional.normalize(b, dim=1))
    return directions.float(), (variances[order] / total).float().cpu()
