"""Every module of the package imports (import-linter checks the order of imports, not that they resolve)."""

import importlib
import pkgutil

import steer


def test_every_steer_module_imports():
    names = [m.name for m in pkgutil.walk_packages(steer.__path__, "steer.")]
    assert len(names) > 40
    for name in names:
        importlib.import_module(name)
