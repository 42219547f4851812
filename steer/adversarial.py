"""Adversarial (GAN) losses on discriminator logits.

A loss gives the discriminator's objective over real logits and any number
of fake batches (each fake batch is one term, as in docs/methods.md §1 where D sees
real, G(z) and G(z + αw)), and the generator's objective on one fake batch.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


class GANLoss:
    """Base class: ``discriminator(real, *fakes)`` and ``generator(fake)``, scalars to minimise."""

    def discriminator(self, real: Tensor, *fakes: Tensor) -> Tensor:
        return self.real_term(real) + sum(self.fake_term(f) for f in fakes)

    def real_term(self, real: Tensor) -> Tensor:
        raise NotImplementedError

    def fake_term(self, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NonSaturating(GANLoss):
    """Goodfellow et al. 2014, with the non-saturating generator loss.

    L_D = E[softplus(−D(x))] + E[softplus(D(G(z)))]   (= −log σ(D(x)) − log(1 − σ(D(G(z)))))
    L_G = E[softplus(−D(G(z)))]                        (= −log σ(D(G(z))))
    """

    def real_term(self, real: Tensor) -> Tensor:
        return F.softplus(-real).mean()

    def fake_term(self, fake: Tensor) -> Tensor:
        return F.softplus(fake).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()


class Hinge(GANLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018).

    L_D = E[relu(1 − D(x))] + E[relu(1 + D(G(z)))],   L_G = −E[D(G(z))]
    """

    def real_term(self, real: Tensor) -> Tensor:
        return F.relu(1 - real).mean()

    def fake_term(self, fake: Tensor) -> Tensor:
        return F.relu(1 + fake).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return -fake.mean()
