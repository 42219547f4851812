"""Data for steer: seeded latent streams and image data."""

from steer.data.latents import LatentDataModule, LatentStream

__all__ = ["LatentDataModule", "LatentStream"]
