"""steer: steer the latent space of generative models with PyTorch Lightning."""

__version__ = "0.1.0"
