"""Packaging: every third-party package steer imports is declared; the wheel carries the `steer` command and configs."""

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata

import pytest
import tomllib

from tests.support.scripts import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {normalized(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in requirements}


def imported_top_level(files) -> set[str]:
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def undeclared(files, requirements: list[str]) -> set[str]:
    """The distributions ``files`` import that ``requirements`` do not declare."""
    third_party = imported_top_level(files) - set(sys.stdlib_module_names) - {"steer", "__future__"}
    owners = metadata.packages_distributions()
    distributions = {normalized(d) for name in third_party for d in owners.get(name, [name])}
    return distributions - declared(requirements)


def test_every_third_party_package_the_library_imports_is_a_declared_dependency():
    """The library's imports are core dependencies; `steer explore`'s (steer/explore/), the face detector's
    (imported when `steer evaluate faces` runs) and the MNIST digits' (imported when MNISTDataModule loads
    them) may be their optional extras."""
    explore = ROOT / "steer" / "explore"
    faces, mnist = ROOT / "steer" / "evaluation" / "face_attributes.py", ROOT / "steer" / "data" / "mnist.py"
    core = [p for p in (ROOT / "steer").rglob("*.py") if explore not in p.parents and p not in (faces, mnist)] + [
        ROOT / "train.py", ROOT / "evaluate.py"]
    dependencies, extras = PYPROJECT["project"]["dependencies"], PYPROJECT["project"]["optional-dependencies"]
    assert undeclared(core, dependencies) == set()
    assert undeclared(explore.rglob("*.py"), dependencies + extras["explore"]) == set()
    assert undeclared([faces], dependencies + extras["faces"]) == set()
    assert undeclared([mnist], dependencies + extras["mnist"]) == set()


@pytest.mark.slow
def test_the_wheel_holds_the_steer_command_and_the_configs(tmp_path):
    source = tmp_path / "source"
    for name in ("steer", "configs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(info).decode())
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert meta["Name"] == PYPROJECT["project"]["name"]
    assert "[console_scripts]\nsteer = steer.cli:main" in entry_points
    configs = {f"steer/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "configs").rglob("*.yaml")}
    assert configs and configs <= names
    assert {"steer/__init__.py", "steer/notebook.py", "steer/cli/__init__.py", "steer/cli/driver.py"} <= names
    assert declared(meta.get_all("Requires-Dist")) >= {"tqdm", "pyyaml", "fsspec"}
