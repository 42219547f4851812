"""LightningModules: what steer trains."""

from steer.modules.gan import GANModule
from steer.modules.vae import BetaVAE
from steer.modules.walk import WalkModule

__all__ = ["BetaVAE", "GANModule", "WalkModule"]
