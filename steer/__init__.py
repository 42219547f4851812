"""steer: steer the latent space of generative models with PyTorch Lightning.

``steer.load(path)`` (see :mod:`steer.notebook`) opens a checkpoint or direction
file for use in a notebook; it is imported on first use, so ``import steer``
stays light (no torch).
"""

from typing import Any

from steer.version import __version__

__all__ = ["Steerable", "__version__", "load"]


def __getattr__(name: str) -> Any:
    """``steer.load`` and ``steer.Steerable``, imported from :mod:`steer.notebook` when first used."""
    if name in ("load", "Steerable"):
        from steer import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'steer' has no attribute {name!r}")
