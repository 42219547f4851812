"""steer's test suite (a package, so helpers import as ``tests.support.…`` here and in subprocesses)."""
