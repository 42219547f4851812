"""LightningModules: what steer trains."""

from steer.modules.walk import WalkModule

__all__ = ["WalkModule"]
