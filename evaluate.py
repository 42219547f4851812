"""The evaluation commands under their first names; each runs the `steer` command that replaced it.

    python evaluate.py steerability …          = steer evaluate steerability …
    python evaluate.py directions --method M …  = steer discover M …   (sefa or pca)
    python evaluate.py trajectories | manifold … = steer discover trajectories | manifold …
    python evaluate.py score | compare | control … = steer evaluate score | compare | control …
"""

import sys

from steer.cli.driver import main as steer

DISCOVER = ("trajectories", "manifold")


def translate(argv: list[str]) -> list[str]:
    """evaluate.py's arguments as the `steer` command's."""
    if not argv or argv[0].startswith("-"):
        return argv
    command, rest = argv[0], argv[1:]
    if command == "directions":
        method = next((a.split("=", 1)[1] for a in rest if a.startswith("--method=")), None)
        if method is None and "--method" in rest[:-1]:
            method = rest[rest.index("--method") + 1]
        rest = [a for i, a in enumerate(rest) if not a.startswith("--method") and (i == 0 or rest[i - 1] != "--method")]
        return ["discover", method or "--help", *rest]
    return ["discover" if command in DISCOVER else "evaluate", command, *rest]


def main() -> None:
    steer(translate(sys.argv[1:]))


if __name__ == "__main__":
    main()
