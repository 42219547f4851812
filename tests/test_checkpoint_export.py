"""Shippable checkpoints: weights and record kept, training state dropped, machine paths renamed."""

import pytest
import torch

from steer.checkpoint import export
from steer.errors import SteerError


def test_export_keeps_weights_and_record_drops_training_state_and_renames_paths(tmp_path):
    record = {"version": "0.1", "command": ["/home/me/steer/train.py", "fit", "--checkpoint.dirpath", "/scratch/run1"],
              "config": {"checkpoint": {"dirpath": "/scratch/run1"}, "seed_everything": 0}}
    torch.save({"state_dict": {"w": torch.ones(2)}, "optimizer_states": [{"big": torch.zeros(1000)}], "loops": {},
                "global_step": 7, "steer": record}, tmp_path / "run.ckpt")
    export(tmp_path / "run.ckpt", tmp_path / "ship" / "model.ckpt", {"/home/me/steer/": "", "/scratch/run1": "runs/run1"})
    shipped = torch.load(tmp_path / "ship" / "model.ckpt", weights_only=True)
    assert set(shipped) == {"state_dict", "global_step", "steer"} and torch.equal(shipped["state_dict"]["w"], torch.ones(2))
    assert shipped["steer"]["command"] == ["train.py", "fit", "--checkpoint.dirpath", "runs/run1"]
    assert shipped["steer"]["config"] == {"checkpoint": {"dirpath": "runs/run1"}, "seed_everything": 0}


def test_export_refuses_a_file_that_is_not_a_steer_checkpoint(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(SteerError, match="not a steer checkpoint"):
        export(tmp_path / "plain.ckpt", tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()
