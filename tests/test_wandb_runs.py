"""W&B runs that say everything: a tiny training run and its steerability report, read back offline."""

import json
import re
from pathlib import Path

import pytest
import torch
from jsonargparse import Namespace

from steer.reports.wandb import label_logger, run_labels
from tests.support import wandb_offline
from tests.support.scripts import ROOT, run_script

RUN_LINE = re.compile(r"^W&B run: (\S+)", re.M)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train the tiny walk and measure its steerability, both logging offline; the printed run folders."""
    cwd = tmp_path_factory.mktemp("wandb_runs")
    fit = run_script("train.py", "fit", "--config", str(ROOT / "tests" / "configs" / "tiny_walk.yaml"),
                     "--checkpoint.dirpath", "ckpt",
                     "--model.init_args.optimizer.init_args.lr", "0.02", cwd=cwd)
    assert fit.returncode == 0, fit.stderr[-3000:]
    evaluation = run_script("evaluate.py", "steerability", "--checkpoint", "ckpt/last.ckpt", "--out", "report",
                            "--n", "8", "--batch_size", "4", cwd=cwd)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    return {"cwd": cwd, "fit": RUN_LINE.search(fit.stdout).group(1),
            "evaluation": RUN_LINE.search(evaluation.stdout).group(1), "stdout": fit.stdout + evaluation.stdout}


@pytest.fixture(scope="module")
def training(runs):
    return wandb_offline.run(runs["cwd"] / runs["fit"])


@pytest.fixture(scope="module")
def evaluation(runs):
    return wandb_offline.run(runs["cwd"] / runs["evaluation"])


@pytest.mark.slow
def test_training_run_config_is_the_full_resolved_config(training):
    config = training["config"]
    model = config["model"]["init_args"]
    assert config["model"]["class_path"] == "steer.modules.WalkModule"
    assert model["generator"]["class_path"] == "steer.generators.DCGAN"
    assert model["generator"]["init_args"]["width"] == 4
    assert model["edit"]["class_path"] == "steer.edits.Zoom" and model["walk"]["class_path"] == "steer.walks.LinearWalk"
    assert model["optimizer"]["class_path"] == "torch.optim.Adam" and model["optimizer"]["init_args"]["lr"] == 0.02
    assert config["data"]["init_args"]["batch_size"] == 4 and config["trainer"]["max_steps"] == 4
    assert config["seed_everything"] == 0 and config["model"]["class_path"]


@pytest.mark.slow
def test_training_run_name_group_and_tags_come_from_generator_edit_and_walk(training):
    assert training["group"] == "DCGAN-Zoom-LinearWalk" and training["job_type"] == "fit"
    assert training["name"] == "fit-DCGAN-Zoom-LinearWalk" and training["tags"] == ["DCGAN", "Zoom", "LinearWalk"]


@pytest.mark.slow
def test_training_run_summarises_val_loss_by_its_minimum_and_logs_throughput_and_checkpoints(training, runs):
    summary = training["summary"]
    assert set(summary["val/loss"]) == {"min"} and summary["val/loss"]["min"] >= 0
    assert summary["train/images_per_second"]["last"] > 0
    assert any("train/images_per_second" in row for row in wandb_offline.history(runs["cwd"] / runs["fit"]))
    last = (runs["cwd"] / "ckpt" / "last.ckpt").resolve()
    assert summary["checkpoint/last"] == str(last)
    logged = {alias: a for a in training["artifacts"] if a["type"] == "model" for alias in a["aliases"]}
    assert logged["last"]["refs"] == [last.as_uri()] and logged["last"]["name"] == f"checkpoint-{training['id']}"


@pytest.mark.slow
def test_checkpoint_records_the_training_run_that_wrote_it(training, runs):
    record = torch.load(runs["cwd"] / "ckpt" / "last.ckpt", weights_only=True)["steer"]
    assert record["wandb_run"]["id"] == training["id"] and record["wandb_run"]["group"] == training["group"]


@pytest.mark.slow
def test_evaluation_run_names_the_training_run_it_measured_and_shares_its_group(training, evaluation, runs):
    assert evaluation["group"] == training["group"] and evaluation["job_type"] == "steerability"
    assert evaluation["config"]["trained_run"]["id"] == training["id"]
    assert evaluation["config"]["trained_run"]["name"] == training["name"]
    # lineage: the training run's checkpoint artifact is the input, the report folder the output
    used = [a for a in evaluation["artifacts"] if a["use_after_commit"]]
    assert [(a["name"], a["refs"]) for a in used] == [
        (f"checkpoint-{training['id']}", [(runs["cwd"] / "ckpt" / "last.ckpt").resolve().as_uri()])]
    report = next(a for a in evaluation["artifacts"] if a["type"] == "report")
    assert (runs["cwd"] / "report" / "metrics.json").resolve().as_uri() in report["refs"]


@pytest.mark.slow
def test_evaluation_table_columns_are_numbers_and_alpha_curves_are_native_line_plots(evaluation, runs):
    run_dir = runs["cwd"] / runs["evaluation"]
    table = json.loads((run_dir / "files" / evaluation["summary"]["steerability/table"]["path"]).read_text())
    assert table["columns"] == ["alpha", "in_training_range", "walk_error", "baseline_error", "achieved_alpha"]
    assert table["data"] and all(isinstance(v, (int, float)) for row in table["data"] for v in row)
    assert 1.0 in [row[0] for row in table["data"]]  # α in the edit's units: zoom ×1 is the identity
    assert {row[0]: row[1] for row in table["data"]}[16.0] == 0  # zoom ×16: beyond the training 1/4 … 4
    charts = evaluation["config"]["_wandb"]["visualize"]
    for key in ("steerability/errors", "steerability/achieved"):
        assert charts[key]["panel_config"]["panelDefId"] == "wandb/lineseries/v0"


@pytest.mark.slow
def test_printed_wandb_paths_are_run_folders_that_wandb_sync_takes(runs):
    for key in ("fit", "evaluation"):
        folder = runs["cwd"] / runs[key]
        assert folder.is_dir() and folder.name.startswith("offline-run-"), folder
        assert list(folder.glob("run-*.wandb")), f"{folder} holds no run-*.wandb"
        assert f"upload it with: wandb sync {runs[key]}" in runs["stdout"]
        assert Path(runs[key]).parts[:2] == ("runs", "wandb")  # relative to where the command ran


@pytest.mark.parametrize("model, group", [
    ({"class_path": "steer.modules.WalkModule", "init_args": {
        "generator": {"class_path": "steer.generators.DigiFaceDCGAN"}, "edit": {"class_path": "steer.edits.Zoom"},
        "walk": {"class_path": "steer.walks.LinearWalk"}}}, "DigiFaceDCGAN-Zoom-LinearWalk"),
    ({"class_path": "steer.modules.GANModule", "init_args": {"generator": {"class_path": "steer.generators.DCGAN"}}},
     "GANModule-DCGAN"),
    ({"generator": {"class_path": "steer.generators.DCGAN"}, "walk": None}, "DCGAN"),
    ({"command": ["x"]}, None),
], ids=["walk", "gan", "specs", "nothing"])
def test_run_group_comes_from_the_generator_edit_and_walk_classes(model, group):
    labels = run_labels(model)
    assert labels.group == group and labels.tags == (group.split("-") if group else [])


def test_a_users_own_run_name_and_group_are_kept():
    logger = Namespace(class_path="pytorch_lightning.loggers.WandbLogger",
                       init_args=Namespace(name="mine", group=None, tags=None, job_type=None))
    model = {"class_path": "steer.modules.WalkModule", "init_args": {"generator": {"class_path": "a.G"},
                                                                       "edit": {"class_path": "a.E"}}}
    label_logger(logger, model, "fit")
    assert (logger.init_args.name, logger.init_args.group, logger.init_args.tags) == ("mine", "G-E", ["G", "E"])
    label_logger(False, model, "fit")  # no logger: nothing to label


def test_a_colour_report_has_one_numeric_alpha_column_and_curve_per_slider():
    from steer.edits import Color
    from steer.evaluation.report import alpha_curves, alpha_table
    from steer.evaluation.steerability import Steerability

    alphas = torch.tensor([[0.0, 0.0, 0.0], [-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])
    result = Steerability(Color(), alphas, torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4]), torch.tensor([0.0, 0.5, 0.5, 0.5, 0.5]),
                          alphas, 0.8, torch.zeros(5, 1, 3, 4, 4), torch.zeros(5, 1, 3, 4, 4), 1)
    columns, rows = alpha_table(result)
    assert columns == ["alpha_R", "alpha_G", "alpha_B", "in_training_range", "walk_error", "baseline_error",
                       "achieved_alpha_R", "achieved_alpha_G", "achieved_alpha_B"]
    assert rows[1] == pytest.approx([-0.5, 0.0, 0.0, 1, 0.1, 0.5, -0.5, 0.0, 0.0])
    curves = alpha_curves(result)
    assert {f"steerability/errors/{c}" for c in "RGB"} <= set(curves)
    assert curves["steerability/errors/R"].xs == [-0.5, 0.0, 0.5]  # the rows that move R alone, and the identity
