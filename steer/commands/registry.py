"""Every command of `steer` besides fit/validate/test/predict: adding one is a module and one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from steer.commands import (
    compare,
    control,
    directions,
    disentanglement,
    export,
    faces,
    manifold,
    score,
    steerability,
    trajectories,
)


@dataclass(frozen=True)
class Group:
    """A family of subcommands. ``reports``: its commands return a Report that the driver publishes into --out."""

    help: str
    commands: dict[str, Callable]
    reports: bool = True


GROUPS = {
    "discover": Group("Find directions or paths without labels (report folders).", {
        "sefa": directions.sefa,
        "pca": directions.pca,
        "trajectories": trajectories.trajectories,
        "manifold": manifold.manifold,
    }),
    "evaluate": Group("Measure walks and directions (report folders).", {
        "steerability": steerability.steerability,
        "score": score.score,
        "control": control.control,
        "compare": compare.compare,
        "disentanglement": disentanglement.disentanglement,
        "faces": faces.faces,
    }),
    "export": Group("Write files to ship or to steer with.", {
        "checkpoint": export.checkpoint,
        "direction": export.direction,
        "peer": export.peer,
    }, reports=False),
}
