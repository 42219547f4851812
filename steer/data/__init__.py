"""Data for steer: seeded latent streams and image data."""

from steer.data.latents import LatentDataModule, LatentStream
from steer.data.mnist import MNISTDataModule
from steer.sprites.data import SpritesDataModule

__all__ = ["LatentDataModule", "LatentStream", "MNISTDataModule", "SpritesDataModule"]
