"""The `steer` command: its overview, typed options of every subcommand, control and export."""

import json

import pytest
import torch

import steer
from steer.cli import main
from steer.commands.registry import GROUPS
from steer.formats.directions import load_directions
from steer.modules.factor_regressor import FactorRegressor
from tests.support.scripts import ROOT, run_script
from tests.support.steer_run import steer_fails, steer_run

AXES = {"class_path": "tests.test_direction_scores.SpriteAxes"}


def test_help_lists_every_subcommand(capsys):
    main(["--help"])
    shown = capsys.readouterr().out
    for name in ("fit", "validate", "test", "predict"):
        assert f"steer {name} " in shown
    for group, entry in GROUPS.items():
        for command in entry.commands:
            assert f"steer {group} {command} " in shown


@pytest.mark.slow
def test_console_script_runs_the_same_command(tmp_path):
    result = run_script("train.py", "discover", "--help", cwd=tmp_path)  # the shim and `steer` share one driver
    assert result.returncode == 0 and "sefa" in result.stdout and "manifold" in result.stdout


def test_typed_options_build_parts_from_short_names_and_dotted_overrides(tmp_path):
    """--edit ShiftX --edit.max_shift 2 and --generator DCGAN --generator.latent_dim 4, no JSON needed."""
    steer_run("discover", "sefa", "--generator", "DCGAN", "--generator.latent_dim", "4", "--generator.resolution", "16",
              "--generator.width", "4", out=str(tmp_path / "sefa"), k=2, wandb=False)
    walk = ["--walk", "DirectionWalk", "--walk.path", str(tmp_path / "sefa" / "directions.pt"), "--walk.index", "1"]
    steer_run("evaluate", "steerability", *walk, "--edit", "ShiftX", "--edit.max_shift", "2", "--generator", "DCGAN",
              "--generator.latent_dim", "4", "--generator.resolution", "16", "--generator.width", "4",
              out=str(tmp_path / "r"), n=4, batch_size=4, wandb=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    config = metrics["provenance"]["config"]
    assert config["edit"]["class_path"] == "steer.edits.ShiftX" and config["edit"]["init_args"]["max_shift"] == 2
    assert config["walk"]["init_args"]["index"] == 1 and config["generator"]["init_args"]["latent_dim"] == 4
    assert metrics["provenance"]["version"] == steer.__version__
    assert len(metrics["provenance"]["generator"]["weights_sha256"]) == 64


def test_report_tables_are_numbers(tmp_path, capsys):
    steer_run("discover", "sefa", out=str(tmp_path / "sefa"), k=2, wandb=False, generator={
        "class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 4, "resolution": 16, "width": 4}})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["direction", "eigenvalue"] and float(lines[1].split()[1]) > 0


@pytest.fixture
def regressor(tmp_path):
    """A steer checkpoint of an exact g_θ for SpriteAxes: x = 8 + 1.5 z0."""
    module = FactorRegressor(latent_dim=3, knots=11)
    with torch.no_grad():
        module.v.copy_(torch.tensor([1.0, 0.0, 0.0]))
        module.log_slopes.fill_(torch.tensor(1.5).log())
    record = {"version": steer.__version__, "command": [], "config": {"model": {
        "class_path": "steer.modules.factor_regressor.FactorRegressor", "init_args": {"latent_dim": 3, "knots": 11}}}}
    path = tmp_path / "g_theta.ckpt"
    torch.save({"state_dict": module.state_dict(), "steer": record}, path)
    return path


def test_control_reports_how_precisely_g_theta_sets_the_factor(regressor, tmp_path):
    steer_run("evaluate", "control", regressor=str(regressor), generator=AXES, requested=[6.0, 8.0, 10.0], n=40,
              out=str(tmp_path / "control"), wandb=False)
    report = json.loads((tmp_path / "control" / "control.json").read_text())
    assert report["requested"] == [6.0, 8.0, 10.0] and max(report["std"]) < 0.15 and abs(report["gain"] - 1) < 0.05
    assert (tmp_path / "control" / "control.png").stat().st_size > 1000


def test_export_direction_writes_g_thetas_direction_as_a_direction_file(regressor, tmp_path, capsys):
    steer_run("export", "direction", regressor=str(regressor), out=str(tmp_path / "d.pt"), generator=AXES)
    found = load_directions(tmp_path / "d.pt", latent_dim=3)
    assert found.method == "g_theta" and torch.allclose(found.directions, torch.tensor([[1.0, 0.0, 0.0]]))
    line = steer_fails(capsys, "export", "direction", regressor=str(regressor), out=str(tmp_path / "d.pt"))
    assert "already exists; choose another --out or pass --overwrite" in line


def test_export_checkpoint_refuses_to_replace_a_file(regressor, tmp_path, capsys):
    steer_run("export", "checkpoint", src=str(regressor), out=str(tmp_path / "ship.ckpt"))
    assert set(torch.load(tmp_path / "ship.ckpt", weights_only=True)) == {"state_dict", "steer"}
    line = steer_fails(capsys, "export", "checkpoint", src=str(regressor), out=str(tmp_path / "ship.ckpt"))
    assert "ship.ckpt already exists" in line


def test_control_refuses_a_run_that_is_not_a_factor_regressor(tmp_path, capsys):
    gan = str(ROOT / "checkpoints" / "sprites" / "gan_white_z4.ckpt")
    line = steer_fails(capsys, "evaluate", "control", regressor=gan, out=str(tmp_path / "c"), wandb=False)
    assert "holds a GANModule, not a FactorRegressor" in line and not (tmp_path / "c").exists()


