"""Generators: one interface (``Generator``), many models.

Importing this package is cheap: BigGAN imports ``pytorch_pretrained_biggan``
only when one is built.
"""

from steer.generators.base import Generator
from steer.generators.biggan import BigGAN
from steer.generators.custom import CustomGenerator
from steer.generators.dcgan import DCGAN
from steer.generators.digiface import DigiFaceDCGAN
from steer.generators.nvlabs import NVlabsStyleGAN
from steer.generators.stylegan2 import StyleGAN2
from steer.generators.trained import TrainedGenerator
from steer.generators.vae import VAEDecoder

__all__ = ["Generator", "DCGAN", "DigiFaceDCGAN", "BigGAN", "StyleGAN2", "NVlabsStyleGAN", "CustomGenerator", "TrainedGenerator", "VAEDecoder"]
