"""Conditional generators everywhere: --classes in trajectories, manifold, steerability and direction pictures."""

from __future__ import annotations

import json

import pytest
import torch

from steer.discovery import load_directions
from steer.formats.trajectories import load_records
from steer.generators import DCGAN
from tests.support.scripts import run_script
from tests.support.steer_run import steer_fails, steer_run
from tests.support.user_models import ConditionalCustom

CONDITIONAL = {"class_path": "tests.support.user_models.ConditionalCustom"}  # 6-d z, 3 classes, 8 px
UNCONDITIONAL = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 6, "resolution": 8, "width": 2}}
SHIFT = {"class_path": "steer.edits.ShiftX", "init_args": {"max_shift": 2}}


def trajectories(out, **options):
    steer_run("discover", "trajectories", out=str(out), **{"generator": CONDITIONAL, "edit": SHIFT, "ts": [-1, 1],
                                                           "n": 3, "steps": 2, "latents": 3, "wandb": False, **options})


def manifold(out, **options):
    steer_run("discover", "manifold", out=str(out), **{"generator": CONDITIONAL, "mask": "2,2,6,6", "k": 3,
                                                       "steps": 2, "wandb": False, **options})


def steerability(out, walk="ClassLinearWalk", **options):
    steer_run("evaluate", "steerability", out=str(out), **{
        "generator": CONDITIONAL, "edit": SHIFT, "walk": {"class_path": f"steer.walks.{walk}"}, "n": 12,
        "batch_size": 4, "wandb": False, **options})


def test_chosen_classes_are_used_in_turn_and_checked():
    g = ConditionalCustom()
    assert g.sample_class(5, classes=[2, 0]).tolist() == [2, 0, 2, 0, 2]
    assert g.check_classes(None) is None and g.check_classes([2, 0]) == [2, 0]
    z, y = g.sample(3, torch.Generator().manual_seed(0), classes=[1])
    assert z.shape == (3, 6) and y.tolist() == [1, 1, 1]


def test_trajectories_of_a_conditional_custom_generator_use_record_and_draw_the_classes(tmp_path):
    trajectories(tmp_path / "r", classes=[0, 2])
    records = load_records(tmp_path / "r" / "records.pt")
    assert records.y is not None and records.y[records.start == 1].unique().tolist() == [2]
    assert records.y.tolist() == [[0, 2, 0][s] for s in records.start.tolist()]  # start i has classes[i mod 2]
    summary = json.loads((tmp_path / "r" / "trajectories.json").read_text())
    assert summary["classes"] == [0, 2] and summary["settings"]["classes"] == [0, 2]
    assert (tmp_path / "r" / "trajectories.png").stat().st_size > 500
    assert len(records.select(records.start == 0)) == 2 and records.select(records.start == 0).y.tolist() == [0, 0]


def test_trajectories_draw_all_classes_by_default(tmp_path):
    trajectories(tmp_path / "r", n=4)
    records = load_records(tmp_path / "r" / "records.pt")
    assert records.y is not None and json.loads((tmp_path / "r" / "trajectories.json").read_text())["classes"] is None


@pytest.mark.slow
def test_evaluate_py_trajectories_on_a_conditional_custom_generator_writes_its_pictures(tmp_path):
    """The bug of issue 12: every inversion ran, then the pictures called the generator without class labels."""
    done = run_script("evaluate.py", "trajectories", "--generator", json.dumps(CONDITIONAL), "--edit", "ShiftX",
                      "--edit.max_shift", "2", "--ts", "[-1, 1]", "--n", "2", "--steps", "2", "--out", "r",
                      "--wandb", "false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "trajectories.png").is_file() and (tmp_path / "r" / "trajectories.gif").is_file()


def test_manifold_of_a_conditional_generator_uses_and_records_the_chosen_class(tmp_path):
    manifold(tmp_path / "r", classes=[2])
    summary = json.loads((tmp_path / "r" / "manifold.json").read_text())
    assert summary["settings"]["class"] == 2 and (tmp_path / "r" / "frames.png").stat().st_size > 500
    saved = torch.load(tmp_path / "r" / "latents.pt", weights_only=True)
    assert saved["settings"]["class"] == 2


def test_steerability_of_a_per_class_walk_breaks_its_metrics_down_per_class(tmp_path):
    torch.manual_seed(0)  # the walk's initial directions
    steerability(tmp_path / "r", classes=[0, 2])
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["classes"] == [0, 2] and set(metrics["per_class"]) == {"0", "2"}
    parts = metrics["per_class"].values()
    assert [p["n_latents"] for p in parts] == [6, 6]
    for a, overall in enumerate(metrics["walk_error"]):  # the overall error is the mean over the classes' latents
        assert overall == pytest.approx(sum(p["walk_error"][a] for p in parts) / 2, rel=1e-5)
    assert all(set(p) >= {"baseline_error", "achieved_alpha", "limit"} for p in parts)
    assert (tmp_path / "r" / "walk_grid.png").stat().st_size > 500


def test_steerability_of_a_shared_walk_on_chosen_classes_has_no_breakdown(tmp_path):
    steerability(tmp_path / "r", walk="LinearWalk", classes=[1])
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["classes"] == [1] and "per_class" not in metrics and metrics["n_latents"] == 12


def test_pca_and_its_pictures_use_the_chosen_classes(tmp_path):
    steer_run("discover", "pca", out=str(tmp_path / "r"), generator=CONDITIONAL, layer="module.main.2", k=2, n=20,
              batch_size=10, steps=2, latents=2, classes=[1], wandb=False)
    summary = json.loads((tmp_path / "r" / "directions.json").read_text())
    assert summary["params"]["classes"] == [1] and summary["picture_classes"] == [1, 1]
    assert load_directions(tmp_path / "r" / "directions.pt").directions.shape == (2, 6)


OUT_OF_RANGE = ("--classes [0, 3]: ConditionalCustom has the classes 0..2; give indices among them, e.g. [0, 1], "
                "or leave --classes out for all of them.")
UNCONDITIONAL_LINE = "--classes [0] was given, but DCGAN is unconditional (it has no classes); leave --classes out."


@pytest.mark.parametrize("words, options", [
    (("discover", "trajectories"), {"edit": SHIFT, "ts": [1], "n": 2, "steps": 1}),
    (("discover", "manifold"), {"mask": "2,2,6,6", "k": 2, "steps": 1}),
    (("evaluate", "steerability"), {"edit": SHIFT, "walk": {"class_path": "steer.walks.LinearWalk"}, "n": 2}),
    (("discover", "pca"), {"layer": "module.main.2", "k": 1, "n": 4}),
])
@pytest.mark.parametrize("generator, classes, line", [
    (CONDITIONAL, [0, 3], OUT_OF_RANGE),
    (UNCONDITIONAL, [0], UNCONDITIONAL_LINE),
])
def test_classes_outside_the_generators_or_for_an_unconditional_one_are_refused(tmp_path, capsys, words, options,
                                                                               generator, classes, line):
    if words[1] == "pca" and generator is UNCONDITIONAL:
        options = {**options, "layer": "main.2"}
    out = tmp_path / "r"
    assert steer_fails(capsys, *words, out=str(out), generator=generator, classes=classes, wandb=False,
                       **options) == f"error: {line}"
    assert not out.exists()


def test_a_required_option_left_out_is_named(tmp_path, capsys):
    assert steer_fails(capsys, "discover", "manifold", out=str(tmp_path / "r")) == \
        "error: --mask is required; see --help for what to give."
    assert not (tmp_path / "r").exists()


def test_an_unconditional_generator_samples_no_classes():
    assert DCGAN(latent_dim=4, resolution=8, width=2).sample_class(3, classes=None) is None


def test_a_per_class_report_prints_the_first_classes_and_keeps_all_in_its_record(monkeypatch):
    from steer.edits import ShiftX
    from steer.evaluation import report
    from steer.evaluation.steerability import measure
    from steer.walks import ClassLinearWalk

    torch.manual_seed(0)
    result = measure(ConditionalCustom(), ShiftX(max_shift=2), ClassLinearWalk(6, 1, 3), n=6, batch_size=6,
                     progress=False)
    monkeypatch.setattr(report, "CLASSES_SHOWN", 1)
    made = report.steerability_report(result)
    assert set(made.record["per_class"]) == {"0", "1", "2"}
    assert len(made.lines) == 6 and made.lines[2].startswith("  registration ")  # after the training range
    assert made.lines[3].startswith("  class 0 (2 latents): −: ")
    assert made.lines[4] == "  … 3 classes in all: per_class in metrics.json"
    assert [c for c in made.table[0] if "class" in c] == ["walk_error_class0", "achieved_alpha_class0"]
