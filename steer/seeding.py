"""Explicit random streams: every draw in steer comes from a generator seeded here."""

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends on every part (e.g. seed, rank, batch index).

    Streams derived from different parts are independent in practice; the same
    parts always give the same seed, on every machine and Python run.
    """
    key = "/".join(repr(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def rng(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))
