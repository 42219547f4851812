"""Data for steer: seeded latent streams and image data."""

from steer.data.latents import LatentDataModule, LatentStream
from steer.sprites.data import SpritesDataModule

__all__ = ["LatentDataModule", "LatentStream", "SpritesDataModule"]
