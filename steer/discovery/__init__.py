"""Discovering directions without labels: closed form (SeFa), PCA of features (GANSpace), direction files."""

from steer.discovery.pca import pca
from steer.discovery.sefa import sefa
from steer.formats.directions import Directions, load_directions, save_directions

__all__ = ["Directions", "load_directions", "pca", "save_directions", "sefa"]
