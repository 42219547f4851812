"""Disentanglement of a β-VAE's encoder or of discovered directions, on sprites' known factors.

Two codes, one set of scores (``steer.metrics``: MIG, DCI, FactorVAE score, SAP):

* ``encoder_codes``: the encoder means μ(x) of rendered sprites, against the
  factors they were rendered from (those that vary in the model's data);
* ``direction_codes``: the coordinates ⟨u_i, z⟩ of seeded latents along each
  direction u_i, against the attributes measured on G(z) (x, y, area, …).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from steer.errors import SteerError
from steer.evaluation.direction_scores import measure_latents
from steer.generators.base import Generator
from steer.metrics import DCI, MIG, SAP, FactorVAEScore, mig_per_factor
from steer.modules.vae import BetaVAE
from steer.seeding import rng
from steer.sprites.factors import FACTORS, SpriteFactors
from steer.sprites.rendering import render_factors

SCORES = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factorvae", "sap")


def varied_factors(factors: SpriteFactors) -> list[str]:
    """The factors of ``factors`` that take more than one value (shape: more than one shape possible)."""
    names = ["shape"] if int((factors.shape_probs > 0).sum()) > 1 else []
    return names + [n for n in FACTORS[1:] if len(set(factors.dists[n].support)) > 1]


@torch.no_grad()
def encoder_codes(module: BetaVAE, factors: SpriteFactors, n: int, seed: int, batch_size: int = 500
                  ) -> tuple[Tensor, Tensor, list[str]]:
    """(μ(x) (n, latent_dim), factors (n, K), their names) of n sprites drawn from ``factors``."""
    names = varied_factors(factors)
    if not names:
        raise SteerError("the model's sprites data varies no factor; there is nothing to disentangle.")
    drawn = factors.sample(n, rng(seed, "disentanglement", "sprites"))
    device = next(module.parameters()).device
    codes = []
    for start in range(0, n, batch_size):
        part = {k: v[start:start + batch_size] for k, v in drawn.items()}
        codes.append(module.encoder(render_factors(part, factors.size).to(device))[0].cpu())
    return torch.cat(codes), torch.stack([drawn[k].float() for k in names], 1), names


@torch.no_grad()
def direction_codes(gen: Generator, directions: Tensor, attributes: Sequence[str], n: int, seed: int,
                    batch_size: int = 500) -> tuple[Tensor, Tensor, int]:
    """(⟨u_i, z⟩ (m, k), measured attributes (m, A), images without an object left out) over n seeded latents."""
    z, y = gen.sample(n, rng(seed, "disentanglement", "latents"), torch.device("cpu"))
    measured = measure_latents(gen, z, attributes, y, batch_size)
    found = measured.isfinite().all(1)
    codes = z.flatten(1).float() @ directions.flatten(1).float().T.cpu()
    return codes[found], measured[found], int((~found).sum())


def disentanglement_scores(codes: Tensor, factors: Tensor, seed: int = 0) -> dict[str, float]:
    """Every score of ``SCORES`` for codes (N, D) on factors (N, K), through the torchmetrics Metrics."""
    metrics = {"mig": MIG(), "dci": DCI(seed=seed), "factorvae": FactorVAEScore(seed=seed), "sap": SAP()}
    out = {}
    for name, metric in metrics.items():
        metric.update(codes, factors)
        value = metric.compute()
        out.update({f"dci_{k}": v.item() for k, v in value.items()} if isinstance(value, dict) else {name: value.item()})
    return {k: out[k] for k in SCORES}


def mig_by_factor(codes: Tensor, factors: Tensor, names: Sequence[str]) -> dict[str, float | None]:
    """Each factor's normalised mutual-information gap (None for a constant factor): which factors one
    dimension captures alone."""
    gaps = mig_per_factor(codes, factors).tolist()
    return {name: None if gap != gap else gap for name, gap in zip(names, gaps)}
