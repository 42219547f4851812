"""train.py as a user runs it: a subprocess per run, files in a temporary folder."""

import pytest
import torch

from tests.support import wandb_offline
from tests.support.scripts import run_script


@pytest.mark.slow
def test_tiny_walk_trains_logs_offline_and_writes_a_checkpoint_that_records_its_config(tiny_config, tmp_path):
    result = run_script("train.py", "fit", "--config", str(tiny_config), "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train throughput:" in result.stdout + result.stderr
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["LatentDataModule"] == {"position": 4}
    model = ckpt["steer"]["config"]["model"]
    assert model["init_args"]["edit"]["class_path"] == "steer.edits.Zoom" and ckpt["steer"]["version"]
    assert (tmp_path / "ckpt" / "config.yaml").is_file()
    # the offline W&B run holds the validation image strip and the run's history
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    strips = list(runs[0].glob("files/media/images/val/walk_vs_target_*.png"))
    assert strips, "no walk/target strip was logged"
    history = wandb_offline.history(runs[0])
    assert any("train/loss" in row for row in history) and any("val/loss" in row for row in history)


@pytest.mark.slow
def test_a_new_run_refuses_to_overwrite_another_runs_checkpoints(tiny_config, tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "last.ckpt").write_bytes(b"precious")
    args = ["fit", "--config", str(tiny_config), "--checkpoint.dirpath", "ckpt", "--trainer.logger", "false"]
    result = run_script("train.py", *args, cwd=tmp_path)
    assert result.returncode == 2 and "already holds checkpoints" in result.stderr and "--overwrite" in result.stderr
    assert (tmp_path / "ckpt" / "last.ckpt").read_bytes() == b"precious"
    assert run_script("train.py", *args, "--overwrite", "true", cwd=tmp_path).returncode == 0
    # replaced, not written beside: no last-v1.ckpt, the old run's files are gone
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["best.ckpt", "config.yaml", "last.ckpt"]
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--model.init_args.edit.class_path", "steer.edits.Zom"], "unknown class 'Zom' in steer.edits; valid ones:"),
    (["--model.init_args.walk.class_path", "steer.walks.Straight"], "LinearWalk, NNWalk"),
    (["--model.init_args.bogus", "3"], "has no option 'bogus'"),
    (["--data.init_args.batch_size", "0"], "data.batch_size must be ≥ 1"),
    (["--model.init_args.edit.class_path", "tests.support.faulty_parts.NaNEdit"], "loss became nan at step 0"),
    (["--model.init_args.walk.class_path", "steer.walks.ClassLinearWalk"], "unconditional"),
], ids=["unknown-edit", "unknown-walk", "unknown-key", "zero-batch", "nan-loss", "class-walk-on-unconditional"])
def test_bad_training_input_gives_one_clear_line_and_exit_code_2(tiny_config, tmp_path, args, message):
    result = run_script("train.py", "fit", "--config", str(tiny_config), "--trainer.logger", "false",
                        "--checkpoint.dirpath", "ckpt", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "ckpt").glob("*.ckpt")) if (tmp_path / "ckpt").exists() else True


@pytest.mark.slow
def test_malformed_yaml_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    result = run_script("train.py", "fit", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_resumed_run_continues_the_step_count_and_the_latent_stream(tiny_config, tmp_path):
    args = ["fit", "--config", str(tiny_config), "--trainer.logger", "false", "--checkpoint.dirpath", "ckpt"]
    assert run_script("train.py", *args, cwd=tmp_path).returncode == 0
    first = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    result = run_script("train.py", *args, "--ckpt_path", "last", "--trainer.max_steps", "6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert (first["global_step"], resumed["global_step"]) == (4, 6)
    assert resumed["LatentDataModule"] == {"position": 6}
    assert not torch.equal(first["state_dict"]["walk.w"], resumed["state_dict"]["walk.w"])
