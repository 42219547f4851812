"""Test helpers: script runners, tiny and known-direction generators, misbehaving parts, probes, W&B reader."""
