"""The version of steer (one place: the package, its provenance records and its wheel read it)."""

__version__ = "0.1.0"
