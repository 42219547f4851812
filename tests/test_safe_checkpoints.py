"""Lightning's checkpoints go through steer's safe write (temporary file, then rename) and safe load."""

import errno
import io
import os
import stat
import sys
import tempfile
from fractions import Fraction

import pytest
import torch
from pytorch_lightning.plugins.io import AsyncCheckpointIO, TorchCheckpointIO
from pytorch_lightning.plugins.precision import DoublePrecision

from steer.checkpoint_io import AtomicCheckpointIO
from steer.cli import SteerCLI
from steer.errors import SteerError


@pytest.fixture(autouse=True)
def command_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py"])  # SteerCLI takes its arguments from args=, not from pytest's


def cli_trainer(config, *args: str):
    return SteerCLI(args=["--config", str(config), "--trainer.logger", "false", *args], run=False).trainer


def test_the_cli_trainer_saves_through_the_atomic_checkpoint_io_by_default(tiny_config):
    assert type(cli_trainer(tiny_config).strategy.checkpoint_io) is AtomicCheckpointIO


def test_a_users_plugins_are_kept_beside_the_atomic_checkpoint_io(tiny_config):
    trainer = cli_trainer(tiny_config, "--trainer.plugins", "pytorch_lightning.plugins.precision.DoublePrecision")
    assert isinstance(trainer.precision_plugin, DoublePrecision)
    assert type(trainer.strategy.checkpoint_io) is AtomicCheckpointIO


def test_a_users_wrapping_checkpoint_io_saves_through_the_atomic_one(tiny_config):
    trainer = cli_trainer(tiny_config, "--trainer.plugins", "pytorch_lightning.plugins.io.AsyncCheckpointIO")
    io_plugin = trainer.strategy.checkpoint_io
    assert isinstance(io_plugin, AsyncCheckpointIO) and type(io_plugin.checkpoint_io) is AtomicCheckpointIO
    io_plugin.teardown()


def test_a_users_own_checkpoint_io_is_used_as_given(tiny_config):
    trainer = cli_trainer(tiny_config, "--trainer.plugins", "pytorch_lightning.plugins.io.TorchCheckpointIO")
    assert type(trainer.strategy.checkpoint_io) is TorchCheckpointIO


@pytest.mark.slow
def test_lightning_writes_checkpoints_by_rename_and_a_failed_write_keeps_the_previous_last_ckpt(
        tiny_config, tmp_path, monkeypatch):
    """The disk fills up halfway through last.ckpt of step 4; last.ckpt of step 3 must survive.

    Only last.ckpt is written (save_top_k 0), after every step.
    """
    renamed, real_save, real_replace = [], torch.save, os.replace

    def replace(src, dst):
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    def full_disk_at_step_4(obj, f, *args, **kwargs):
        if not (isinstance(obj, dict) and obj.get("global_step") == 4):
            return real_save(obj, f, *args, **kwargs)
        whole = io.BytesIO()
        real_save(obj, whole)
        f.write(whole.getvalue()[: len(whole.getvalue()) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(torch, "save", full_disk_at_step_4)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(SteerError, match=r"writing .*last\.ckpt failed: No space left on device"):
        SteerCLI(args=["fit", "--config", str(tiny_config), "--trainer.logger", "false",
                       "--checkpoint.dirpath", str(ckpt), "--checkpoint.save_top_k", "0",
                       "--checkpoint.every_n_train_steps", "1"])
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.yaml", "last.ckpt"]  # no temporary file left
    assert torch.load(ckpt / "last.ckpt", weights_only=True)["global_step"] == 3
    written = [(src, dst) for src, dst in renamed if dst == "last.ckpt"]
    assert written and all(src.startswith(".last.ckpt.") and src.endswith(".tmp") for src, _ in written)


def test_a_read_only_checkpoint_folder_gives_a_clear_error_and_keeps_the_previous_file(tmp_path, monkeypatch):
    plugin, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    plugin.save_checkpoint({"global_step": 1}, path)
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(tmp_path, os.W_OK):
        # Running as root, chmod does not stop writes: simulate the read-only folder where files are created.
        real_mkstemp = tempfile.mkstemp

        def read_only(*args, dir=None, **kwargs):
            if dir is not None and os.path.samefile(dir, tmp_path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    try:
        with pytest.raises(SteerError, match=r"cannot write .*last\.ckpt: Permission denied\. Choose a writable"):
            plugin.save_checkpoint({"global_step": 2}, path)
    finally:
        tmp_path.chmod(stat.S_IRWXU)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert plugin.load_checkpoint(path)["global_step"] == 1


def test_resuming_from_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1, "payload": Fraction(1, 3)}, path)  # unpickling it would call Fraction's code
    with pytest.raises(SteerError, match="steer refuses such files"):
        AtomicCheckpointIO().load_checkpoint(path)
