"""Procedural sprites with known factors: factor distributions, rendering, the sprites data module,
attribute measurement from image moments and attribute histograms."""

from steer.sprites.attributes import measure
from steer.sprites.data import SpritesDataModule, SpritesDataset
from steer.sprites.factors import FACTORS, SHAPES, Distribution, Fixed, Normal, SpriteFactors, Uniform
from steer.sprites.histograms import ATTRIBUTES, AttributeHistograms
from steer.sprites.rendering import render, render_factors, shape_area

__all__ = ["ATTRIBUTES", "AttributeHistograms", "Distribution", "FACTORS", "Fixed", "Normal", "SHAPES",
           "SpriteFactors", "SpritesDataModule", "SpritesDataset", "Uniform", "measure", "render",
           "render_factors", "shape_area"]
