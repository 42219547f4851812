"""The sprites classes under the paths that configs and shipped checkpoints record (``steer.data.sprites.Uniform``, …).

They live in :mod:`steer.sprites`; this module only keeps those recorded class paths valid.
"""

from steer.sprites.data import SpritesDataModule
from steer.sprites.factors import Fixed, Normal, SpriteFactors, Uniform

__all__ = ["Fixed", "Normal", "SpriteFactors", "SpritesDataModule", "Uniform"]
