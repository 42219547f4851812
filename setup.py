"""Build hook: the wheel carries the YAML recipes of configs/ (kept at the repository root) as steer/configs/."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    """build_py that also copies configs/**/*.yaml into the built package (not in editable installs, which
    read the repository's configs/ in place)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for source in sorted(Path("configs").rglob("*.yaml")):
            target = Path(self.build_lib, "steer", source)
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildPyWithConfigs})
