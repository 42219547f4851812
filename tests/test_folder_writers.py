"""One writer per run or report folder (a lock naming its holder), --overwrite that replaces, reports swapped whole."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from steer.errors import SteerError
from steer.locks import FolderLock, lock_path
from steer.reports.folder import claim, save_json, write_folder
from tests.support.scripts import ROOT, run_script, start_script

TINY = ["fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false"]


def lock_held_by(folder: Path, pid: int) -> None:
    lock_path(folder).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "command": "steer fit x",
                                             "since": "2024-01-01 00:00:00"}))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- the lock ------------------------------------------------------------------------------------------------
def test_a_second_writer_is_refused_with_one_line_naming_the_holder(tmp_path):
    lock_held_by(tmp_path / "out", os.getppid())  # a live process on this host
    with pytest.raises(SteerError) as info:
        FolderLock(tmp_path / "out", "--out out").acquire()
    print(f"SteerError: {info.value}")
    assert str(info.value).startswith(f"--out out is being written by pid {os.getppid()} on {socket.gethostname()} "
                                      "(steer fit x) since 2024-01-01 00:00:00; wait for it to finish")
    assert json.loads(lock_path(tmp_path / "out").read_text())["pid"] == os.getppid()  # the holder's lock is kept


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    lock_held_by(tmp_path / "out", dead_pid())
    with FolderLock(tmp_path / "out", "--out out"):
        assert json.loads(lock_path(tmp_path / "out").read_text())["pid"] == os.getpid()
        with FolderLock(tmp_path / "out"):  # re-entrant within one process (publish inside the driver's lock)
            pass
        assert lock_path(tmp_path / "out").exists()
    assert not lock_path(tmp_path / "out").exists()
    note = capsys.readouterr().err
    assert note.startswith("note: --out out was locked by pid") and "which is gone; taking the lock over." in note


# -- the report swap -----------------------------------------------------------------------------------------
def report_writers(tag: str) -> dict:
    return {"curves.png": lambda p: p.write_text(tag), "metrics.json": lambda p: save_json({"tag": tag}, p)}


def beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def test_an_overwritten_report_is_replaced_whole_and_leaves_nothing_beside(tmp_path):
    out = tmp_path / "report"
    write_folder(out, {**report_writers("old"), "attributes.png": lambda p: p.write_text("old")})
    write_folder(out, report_writers("new"), overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "metrics.json"]  # no stale attributes.png
    assert json.loads((out / "metrics.json").read_text()) == {"tag": "new"} and beside(out) == []


def test_a_failing_swap_keeps_the_old_report(tmp_path, monkeypatch):
    out = tmp_path / "report"
    write_folder(out, report_writers("old"))
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".report.staging-"):  # the swap, not a file written inside it
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SteerError, match="failed at the swap: Input/output error; the files already in"):
        write_folder(out, report_writers("new"), overwrite=True)
    assert json.loads((out / "metrics.json").read_text()) == {"tag": "old"} and beside(out) == []


def test_the_next_writer_puts_back_a_report_a_kill_left_aside_and_removes_staging_leftovers(tmp_path, capsys):
    out = tmp_path / "report"
    write_folder(out, report_writers("old"))
    out.rename(tmp_path / ".report.old-x1")  # killed between the two renames of the swap
    (tmp_path / ".report.staging-x2").mkdir()
    (tmp_path / ".report.staging-x2" / "curves.png").write_text("half")
    claim(out).release()
    assert json.loads((out / "metrics.json").read_text()) == {"tag": "old"} and beside(out) == []
    assert "note: put back the report in" in capsys.readouterr().err


def test_overwrite_refuses_a_folder_that_holds_folders(tmp_path):
    out = tmp_path / "notes"
    (out / "sub").mkdir(parents=True)
    (out / "metrics.json").write_text("{}")
    with pytest.raises(SteerError) as info:
        write_folder(out, report_writers("new"), overwrite=True)
    print(f"SteerError: {info.value}")
    assert "holds folders (sub), so it is not a report folder" in str(info.value)
    assert (out / "sub").is_dir() and (out / "metrics.json").read_text() == "{}"


def test_overwrite_refuses_the_folder_the_command_runs_in(tmp_path, monkeypatch):
    (tmp_path / "metrics.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SteerError) as info:
        write_folder(Path("."), report_writers("new"), overwrite=True)
    print(f"SteerError: {info.value}")
    assert str(info.value) == ("--out . holds the current folder; --overwrite replaces the whole report folder, so give "
                               "the report a folder of its own.")
    assert (tmp_path / "metrics.json").read_text() == "{}"


# -- fit --overwrite and --ckpt_path -------------------------------------------------------------------------
def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.slow
def test_fit_overwrite_that_fails_before_its_first_checkpoint_puts_the_previous_run_back(tmp_path):
    (tmp_path / "ckpt").mkdir()
    previous = {"last.ckpt": b"old last", "best.ckpt": b"old best", "config.yaml": b"old: config\n"}
    for name, data in previous.items():
        (tmp_path / "ckpt" / name).write_bytes(data)
    result = run_script("train.py", *TINY, "--checkpoint.dirpath", "ckpt", "--overwrite", "true",
                        "--model.init_args.edit.class_path", "tests.support.faulty_parts.NaNEdit", cwd=tmp_path)
    assert result.returncode == 2 and "loss became nan at step 0" in result.stderr, result.stderr[-2000:]
    assert "note: put back the previous run in" in result.stderr
    assert sorted(os.listdir(tmp_path / "ckpt")) == sorted(previous) and files(tmp_path / "ckpt") == previous
    assert not lock_path(tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_ckpt_path_into_another_runs_folder_obeys_the_overwrite_guard(tmp_path):
    assert run_script("train.py", *TINY, "--checkpoint.dirpath", "a", cwd=tmp_path).returncode == 0
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "last.ckpt").write_bytes(b"run b")
    (tmp_path / "b" / "config.yaml").write_text("run: b\n")
    result = run_script("train.py", *TINY, "--checkpoint.dirpath", "b", "--ckpt_path", "a/last.ckpt", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "b already holds checkpoints of another run (last.ckpt, …) and --ckpt_path a/last.ckpt is not in it" \
        in result.stderr
    assert files(tmp_path / "b") == {"last.ckpt": b"run b", "config.yaml": b"run: b\n"}


# -- two writers at once -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_training_into_a_folder_being_trained_exits_2_naming_the_first_and_a_killed_ones_lock_is_taken_over(
        tmp_path):
    first = start_script("train.py", *TINY, "--checkpoint.dirpath", "ckpt", "--trainer.max_steps", "100000",
                         cwd=tmp_path, log=tmp_path / "first.log")
    try:
        wait_for(lambda: lock_path(tmp_path / "ckpt").exists() or first.poll() is not None)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        for overwrite in ("false", "true"):
            second = run_script("train.py", *TINY, "--checkpoint.dirpath", "ckpt", "--overwrite", overwrite,
                                cwd=tmp_path)
            assert second.returncode == 2 and "Traceback" not in second.stderr
            assert f"--checkpoint.dirpath ckpt is being written by pid {first.pid} on {socket.gethostname()}" \
                in second.stderr, second.stderr[-2000:]
        wait_for(lambda: (tmp_path / "ckpt" / "last.ckpt").exists())
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    third = run_script("train.py", *TINY, "--checkpoint.dirpath", "ckpt", "--overwrite", "true", cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-2000:]
    assert f"note: --checkpoint.dirpath {tmp_path.resolve() / 'ckpt'} was locked by pid {first.pid}" in third.stderr
    kept = sorted(p.name for p in (tmp_path / "ckpt").iterdir() if not p.name.endswith(".tmp"))  # killed mid-write
    assert kept == ["best.ckpt", "config.yaml", "last.ckpt"]  # no last-v1.ckpt, no .previous-*
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 4


@pytest.mark.slow
def test_a_second_evaluation_into_a_report_folder_being_written_exits_2_naming_the_first(tmp_path):
    assert run_script("train.py", *TINY, "--checkpoint.dirpath", "run", cwd=tmp_path).returncode == 0
    args = ["steerability", "--checkpoint", "run/last.ckpt", "--out", "r", "--batch_size", "4", "--wandb", "false"]
    first = start_script("evaluate.py", *args, "--n", "100000", cwd=tmp_path, log=tmp_path / "first.log")
    try:
        wait_for(lambda: lock_path(tmp_path / "r").exists() or first.poll() is not None)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        second = run_script("evaluate.py", *args, "--n", "4", "--overwrite", "true", cwd=tmp_path)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"error: --out r is being written by pid {first.pid} on {socket.gethostname()}" in second.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_report_names_the_sha256_of_the_checkpoint_it_measured(tmp_path):
    assert run_script("train.py", *TINY, "--checkpoint.dirpath", "run", cwd=tmp_path).returncode == 0
    result = run_script("evaluate.py", "steerability", "--checkpoint", "run/last.ckpt", "--out", "r", "--n", "4",
                        "--batch_size", "4", "--wandb", "false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads((tmp_path / "r" / "metrics.json").read_text())["provenance"]["checkpoint"]
    assert measured == {"path": "run/last.ckpt",
                        "sha256": hashlib.sha256((tmp_path / "run" / "last.ckpt").read_bytes()).hexdigest()}
