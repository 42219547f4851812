"""Data for steer: seeded latent streams and image data."""

from steer.data.latents import LatentDataModule, LatentStream
from steer.data.sprites import SpritesDataModule

__all__ = ["LatentDataModule", "LatentStream", "SpritesDataModule"]
