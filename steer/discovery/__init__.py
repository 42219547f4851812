"""Discovering directions without labels: closed form (SeFa)."""

from steer.discovery.sefa import sefa

__all__ = ["sefa"]
