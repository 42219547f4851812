"""`--ckpt_path` never changes the config: a resumed fit must be given the config recorded in its checkpoint, but
for how long it trains and how it saves and logs; a kill during the first last.ckpt write is said, not restarted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from steer.cli.driver import main
from steer.cli.resume import differences
from tests.support.steer_run import steer_fails

TINY = str(Path(__file__).parent / "configs" / "tiny_walk.yaml")


def fit(folder: Path, *options: str) -> list[str]:
    return ["fit", "--config", TINY, "--trainer.logger", "false", "--checkpoint.dirpath", str(folder), *options]


def files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished tiny run; before it started, its folder held the temporary files of a killed writer."""
    folder = tmp_path_factory.mktemp("resume") / "run"
    folder.mkdir()
    for leftover in (".last.ckpt.k1ll3d.tmp", ".config.yaml.x2.tmp"):
        (folder / leftover).write_bytes(b"half a file")
    main(fit(folder))
    return folder


def test_differences_name_what_may_not_change_on_resume():
    recorded = {"model": {"class_path": "A", "init_args": {"lr": 1}}, "seed_everything": 0,
                "trainer": {"max_steps": 4, "precision": 32}, "checkpoint": {"dirpath": "a"}}
    given = {"model": {"class_path": "A", "init_args": {"lr": 2}}, "seed_everything": 1,
             "trainer": {"max_steps": 9, "precision": 16}, "checkpoint": {"dirpath": "b"}, "ckpt_path": "last"}
    assert differences(recorded, given) == [("model.init_args.lr", 1, 2), ("seed_everything", 0, 1),
                                            ("trainer.precision", 32, 16)]


def test_an_option_newer_than_the_record_may_keep_its_default_on_resume_but_not_change():
    recorded = {"data": {"class_path": "steer.data.LatentDataModule", "init_args": {"batch_size": 16}}}
    given = {"data": {"class_path": "steer.data.LatentDataModule", "init_args": {"batch_size": 16,
                                                                              "alphas_per_latent": 1}}}
    assert differences(recorded, given) == []
    given["data"]["init_args"]["alphas_per_latent"] = 2
    assert differences(recorded, given) == [("data.init_args.alphas_per_latent", None, 2)]


@pytest.mark.slow
def test_the_next_run_in_a_folder_removes_a_killed_writers_temporary_files(run):
    assert sorted(p.name for p in run.glob(".*.tmp")) == []
    assert (run / "last.ckpt").is_file()


@pytest.mark.slow
def test_a_resume_with_another_model_data_or_seed_is_refused_and_writes_nothing(run, capsys):
    before = files(run)
    line = steer_fails(capsys, *fit(run, "--ckpt_path", "last", "--model.init_args.walk", "steer.walks.NNWalk",
                                    "--data.init_args.batch_size", "8", "--seed_everything", "3"))
    assert line.startswith(f"error: --ckpt_path {run}/last.ckpt was trained with another config (model.")
    assert re.search(r"; and \d+ more\); --ckpt_path never changes the config: resume with the recorded one: ", line)
    assert line.split("; and ")[0].count(": recorded ") == 3  # three differences named, the rest counted
    assert "model.init_args.walk.class_path: recorded 'steer.walks.LinearWalk', given 'steer.walks.NNWalk'" in line
    assert f"--config {run}/config.yaml" in line
    assert files(run) == before


@pytest.mark.slow
def test_a_resume_may_train_longer_and_save_or_log_differently(run):
    main(fit(run, "--ckpt_path", "last", "--trainer.max_steps", "6", "--trainer.val_check_interval", "1",
             "--trainer.log_every_n_steps", "2", "--trainer.callbacks+=tests.support.probes.StallAt",
             "--trainer.callbacks.step=99"))
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 6
    main(["fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "last.ckpt"),
          "--trainer.max_steps", "7"])  # the recorded config, as the refusal says
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 7
    assert sorted(p.name for p in run.glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]


def test_resuming_after_a_kill_during_the_first_checkpoint_write_is_refused(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("seed_everything: 0\n")
    (tmp_path / ".last.ckpt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    before = files(tmp_path)
    line = steer_fails(capsys, *fit(tmp_path, "--ckpt_path", "last"))
    assert line == (f"error: --ckpt_path last: {tmp_path} has no last.ckpt, only .last.ckpt.k1ll3d.tmp, left by a run "
                    "killed while it wrote its first checkpoint; there is nothing to resume. Start the run anew "
                    "without --ckpt_path (with --overwrite if the folder holds other checkpoints).")
    assert files(tmp_path) == before
