"""train.py validate | test | predict on an existing run folder: the steerability report, walk strips, validation."""

import json
from pathlib import Path

import pytest
from PIL import Image

from steer.edits import Zoom
from steer.evaluation.steerability import measure
from steer.restore import load_module
from tests.support.scripts import ROOT, run_script

pytestmark = pytest.mark.slow
TEST_SIZE, BATCH, RESOLUTION, PAD = 10, 4, 16, 2  # BATCH, RESOLUTION: tests/configs/tiny_walk.yaml
ALPHAS = len(Zoom().test_alphas())


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny walk run fitted for 4 steps: run/{last,best}.ckpt and run/config.yaml, as `make demo` leaves runs/demo."""
    folder = tmp_path_factory.mktemp("fitted")
    result = run_script("train.py", "fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"),
                        "--checkpoint.dirpath", "run", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run"


def on_run(run: Path, subcommand: str, *more: str):
    """``train.py SUBCOMMAND --config run/config.yaml --ckpt_path run/last.ckpt``, typed in the run's parent folder."""
    return run_script("train.py", subcommand, "--config", "run/config.yaml", "--ckpt_path", "run/last.ckpt", *more,
                      cwd=run.parent)


def unchanged(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_test_writes_the_steerability_report_beside_the_checkpoint_with_the_numbers_of_measure(run):
    before = unchanged(run)
    result = on_run(run, "test", "--data.init_args.test_size", str(TEST_SIZE), "--model.init_args.strip_latents", "2")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"report: {Path('run') / 'report'}" in result.stdout + result.stderr
    assert unchanged(run) == before, "test wrote over the run's checkpoints or config.yaml"
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    module, _ = load_module(run / "last.ckpt")
    expected = measure(module.generator, module.edit, module.walk, n=TEST_SIZE, batch_size=BATCH, progress=False)
    assert metrics["n_latents"] == TEST_SIZE and metrics["alphas"] == expected.to_json()["alphas"]
    for key, values in (("walk_error", expected.walk_error), ("baseline_error", expected.baseline_error),
                        ("achieved_alpha", expected.achieved[:, 0])):
        assert metrics[key] == pytest.approx(values.tolist(), rel=1e-6, abs=1e-12), key
    assert metrics["limit"] == expected.limits()
    assert metrics["in_training_range"] == [False, False] + [True] * 9 + [False, False]  # zoom 1/16 … 16, trained 1/4 … 4
    assert metrics["limits"]["registration"]["limit"] == metrics["limit"] and metrics["limits"]["attribute"] is None
    assert "α beyond it: ×0.06, ×0.12, ×8.00, ×16.00" in result.stdout
    assert metrics["provenance"]["command"][1:3] == ["test", "--config"]
    for name in ("curves.png", "walk_grid.png", "walk.gif"):
        assert (run / "report" / name).stat().st_size > 1000
    # --model.init_args.strip_latents 2 holds although the checkpoint's hyper_parameters say 4: the GIF shows 2 latents
    assert Image.open(run / "report" / "walk.gif").width == 2 * (RESOLUTION + PAD) + PAD


def test_test_refuses_an_existing_report_unless_overwrite(run, tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "metrics.json").write_text("{}")
    result = on_run(run, "test", "--data.init_args.test_size", "2", "--report.out", str(tmp_path / "report"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "already holds a report" in result.stderr and "--report.out" in result.stderr
    assert (tmp_path / "report" / "metrics.json").read_text() == "{}"
    (tmp_path / "report" / "attributes.png").write_text("an older report's figure")
    result = on_run(run, "test", "--data.init_args.test_size", "2", "--report.out", str(tmp_path / "report"),
                    "--overwrite", "true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["n_latents"] == 2
    assert not (tmp_path / "report" / "attributes.png").exists()  # the report is replaced whole


def test_predict_writes_one_strip_per_latent_walk_above_target(run):
    before = unchanged(run)
    result = on_run(run, "predict", "--data.init_args.predict_size", "3")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert unchanged(run) == before
    strips = sorted((run / "predictions").glob("*.png"))
    assert [p.name for p in strips] == ["latent_00000.png", "latent_00001.png", "latent_00002.png"]
    image = Image.open(strips[0])
    assert image.size == (ALPHAS * (RESOLUTION + PAD) + PAD, 2 * (RESOLUTION + PAD) + PAD)
    result = on_run(run, "predict", "--data.init_args.predict_size", "3")
    assert result.returncode == 2 and "--predictions.out" in result.stderr and "Traceback" not in result.stderr


def test_validate_runs_on_the_existing_run_folder(run):
    before = unchanged(run)
    result = on_run(run, "validate")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "val/loss" in result.stdout and unchanged(run) == before


def test_test_of_a_run_that_is_not_a_walk_run_is_one_clear_line(tmp_path):
    result = run_script("train.py", "test", "--config", str(ROOT / "configs/sprites/gan_white.yaml"),
                        "--trainer.logger", "false", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "GANModule cannot test: only a walk run" in result.stderr and "steer evaluate steerability" in result.stderr


def test_test_with_a_checkpoint_of_another_model_is_refused(run, tmp_path):
    other = ["--model.init_args.generator.init_args.latent_dim", "6"]
    result = on_run(run, "test", *other)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "was saved by another model" in result.stderr


def test_test_on_two_cpu_ranks_reports_the_numbers_of_measure_over_all_test_latents(run, tmp_path):
    result = on_run(run, "test", "--data.init_args.test_size", str(TEST_SIZE), "--report.out", str(tmp_path / "r"),
                    "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    module, _ = load_module(run / "last.ckpt")
    expected = measure(module.generator, module.edit, module.walk, n=TEST_SIZE, batch_size=BATCH, progress=False)
    assert metrics["n_latents"] == TEST_SIZE  # 5 latents per rank, summed across the ranks
    for key, values in (("walk_error", expected.walk_error), ("baseline_error", expected.baseline_error),
                        ("achieved_alpha", expected.achieved[:, 0])):
        assert metrics[key] == pytest.approx(values.tolist(), rel=1e-5, abs=1e-12), key
