"""The bad-input suite: one test per row of docs/BAD_INPUTS.md (rows covered elsewhere name their test there).

Each CLI row runs train.py's or evaluate.py's ``main()`` in this process with
the row's command line (the same code path as ``python train.py …``: exit code
and stderr included); one row runs evaluate.py as a subprocess to show the
whole command end to end. Every row checks the one line the user sees, exit
code 2, no traceback, and that nothing was lost or left behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import evaluate
import steer
import train
from steer import checkpoint as steer_checkpoint
from steer.cli import SteerCLI
from steer.edits import Color, Zoom
from steer.errors import SteerError
from steer.evaluation.steerability import measure
from steer.generators import DCGAN, digiface
from steer.modules import WalkModule
from steer.restore import training_factors
from steer.walks import LinearWalk
from tests.support.scripts import ROOT, run_script
from tests.support.steer_run import steer_fails

TINY = ROOT / "tests" / "configs" / "tiny_walk.yaml"
DIGIFACE = ROOT / "configs" / "digiface" / "zoom_linear.yaml"


def run_main(script, argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``python script.py *argv`` in this process: (exit code, the one 'error:' line on stderr)."""
    monkeypatch.setattr(sys, "argv", [f"{script.__name__}.py", *map(str, argv)])
    capsys.readouterr()
    try:
        script.main()
        code = 0
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err[-2000:]
    print(f"exit {code}: {lines[0]}")  # shown by pytest -rP: the line docs/BAD_INPUTS.md quotes
    return code, lines[0]


def run_main_ok(script, argv: list[str], monkeypatch) -> bool:
    """``python script.py *argv`` in this process, which must succeed."""
    monkeypatch.setattr(sys, "argv", [f"{script.__name__}.py", *map(str, argv)])
    script.main()
    return True


def train_args(tmp_path: Path, *extra: object, config: Path = TINY) -> list[object]:
    return ["fit", "--config", config, "--trainer.logger", "false", "--checkpoint.dirpath", tmp_path / "ckpt", *extra]


def no_checkpoints(folder: Path) -> bool:
    return not folder.exists() or not list(folder.glob("*.ckpt"))


# -- train.py ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("extra, message", [
    (["--config", "missing.yaml"], 'Parser key "config"'),
    (["--model.init_args.generator.class_path", "steer.generators.DCGAM"],
     "unknown class 'DCGAM' in steer.generators; valid ones: BigGAN, CustomGenerator, DCGAN"),
    (["--data.init_args.batch_size", "four"], "steer.data.LatentDataModule: option 'batch_size' must be a whole number, got 'four'."),
    (["--data.init_args.batch_size", "-2"], "data.batch_size must be ≥ 1, got -2."),
    (["--data.init_args.alphas_per_latent", "3"],
     "data.batch_size (4) must be a multiple of data.alphas_per_latent (3): a batch holds batch_size / "
     "alphas_per_latent latents, each with alphas_per_latent strengths."),
    (["--data.init_args.alphas_per_latent", "0"], "data.alphas_per_latent must be ≥ 1, got 0."),
    (["--model.init_args.generator.init_args.latent_dim", "0"], "latent_dim and resolution must be positive"),
    (["--model.init_args.generator.init_args.latent_dim", "-4"], "got latent_dim=-4"),
    (["--model.init_args.generator.init_args.resolution", "0"], "got latent_dim=8, resolution=0"),
    (["--model.init_args.generator.init_args.resolution", "48"], "DCGAN resolution must be a power of two ≥ 8"),
    (["--model.init_args.generator", '{"class_path": "steer.generators.DigiFaceDCGAN", "init_args": {"resolution": 128}}'],
     "DigiFaceDCGAN has no option 'resolution'"),
    (["--model.init_args.edit.init_args.min_scale", "0"], "Zoom needs 0 < min_scale < 1 < max_scale, got 0.0, 4.0."),
    (["--model.init_args.edit.init_args.max_scale", "big"], "steer.edits.Zoom: option 'max_scale' must be a number, got 'big'."),
], ids=["missing-config", "unknown-generator", "string-for-int", "negative-batch", "alphas-not-dividing-batch",
        "zero-alphas-per-latent", "zero-latent-dim",
        "negative-latent-dim", "zero-resolution", "resolution-not-power-of-two", "digiface-other-resolution",
        "zoom-range-outside-domain", "string-for-float"])
def test_train_config_errors(tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    code, line = run_main(train, train_args(tmp_path, *extra), monkeypatch, capsys)
    assert code == 2 and message in line
    assert no_checkpoints(tmp_path / "ckpt")


@pytest.mark.slow
def test_malformed_yaml_in_process(tmp_path, monkeypatch, capsys):
    """The subprocess version is tests/test_train_cli.py::test_malformed_yaml_is_refused; this pins the line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    code, line = run_main(train, ["fit", "--config", tmp_path / "bad.yaml"], monkeypatch, capsys)
    assert code == 2 and line.startswith(f"error: --config {tmp_path / 'bad.yaml'} is not valid YAML: ")
    assert "(line 2, column 1)" in line and "unicode string" not in line


@pytest.mark.slow
def test_empty_config_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.yaml").write_text("")
    code, line = run_main(train, ["fit", "--config", tmp_path / "empty.yaml"], monkeypatch, capsys)
    assert code == 2 and "empty.yaml is empty or not a YAML mapping of sections (model:, data:, trainer:)." in line


@pytest.mark.slow
def test_shift_larger_than_the_image(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = train_args(tmp_path, "--model.init_args.edit.class_path", "steer.edits.ShiftX")  # max_shift 32 > 16 px
    code, line = run_main(train, args, monkeypatch, capsys)
    assert code == 2 and "ShiftX max_shift=32 must be smaller than the image size 16; set max_shift to at most 15" in line
    assert no_checkpoints(tmp_path / "ckpt")


@pytest.mark.slow
@pytest.mark.parametrize("patch, message", [
    (("PACKAGE", "gan-face-generate-not-installed"), "which is not installed: run `pip install"),
    (("WEIGHTS", "gan_face_generate/missing.tar"), "is installed but"),
], ids=["package-missing", "weights-file-missing"])
def test_digiface_weights_missing(tmp_path, monkeypatch, capsys, patch, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(digiface, *patch)
    code, line = run_main(train, train_args(tmp_path, config=DIGIFACE), monkeypatch, capsys)
    assert code == 2 and message in line and "gan-face-generate" in line
    assert no_checkpoints(tmp_path / "ckpt")


@pytest.mark.slow
def test_lpips_weights_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    code, line = run_main(train, train_args(tmp_path, "--model.init_args.loss", "steer.losses.MaskedLPIPS"),
                          monkeypatch, capsys)
    assert code == 2 and "alexnet-owt-7be5be79.pth" in line and str(tmp_path / "torch_home") in line
    assert not (tmp_path / "torch_home").exists()  # nothing was downloaded


@pytest.mark.slow
def test_checkpoint_folder_below_a_regular_file(tmp_path, monkeypatch, capsys):
    """Stands for a folder that cannot be written (as root, chmod does not stop writes)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file, not a folder")
    args = ["fit", "--config", TINY, "--trainer.logger", "false", "--checkpoint.dirpath", tmp_path / "taken" / "ckpt"]
    code, line = run_main(train, args, monkeypatch, capsys)
    assert code == 2 and "cannot write" in line and "Choose a writable folder" in line
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


@pytest.mark.slow
def test_read_only_checkpoint_folder_simulated(tmp_path, monkeypatch, capsys):
    """Simulated: creating a file in the folder fails with EACCES, as in a read-only folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, line = run_main(train, train_args(tmp_path), monkeypatch, capsys)
    assert code == 2 and "config.yaml: Permission denied. Choose a writable folder." in line
    assert list((tmp_path / "ckpt").iterdir()) == []


# -- evaluate.py ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    SteerCLI(args=["fit", "--config", str(TINY), "--trainer.logger", "false", "--checkpoint.dirpath", str(folder)])
    return folder / "last.ckpt"


def evaluate_args(checkpoint: object, out: object, *extra: object) -> list[object]:
    return ["steerability", "--checkpoint", checkpoint, "--out", out, "--n", "4", "--batch_size", "4",
            "--wandb", "false", *extra]


@pytest.mark.slow
def test_full_disk_while_training_saves_a_checkpoint(trained, tmp_path, monkeypatch, capsys):
    """Simulated: torch.save inside the checkpoint write writes half a file, then fails with ENOSPC."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(trained.parent, tmp_path / "ckpt")
    def ckpts():
        return {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir() if p.name != "config.yaml"}
    before = ckpts()

    def half_then_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_full)
    code, line = run_main(train, train_args(tmp_path, "--ckpt_path", "last", "--trainer.max_steps", "6"),
                          monkeypatch, capsys)
    assert code == 2 and ".ckpt failed: No space left on device; nothing was written there." in line
    assert ckpts() == before  # best.ckpt and last.ckpt intact, no half-written file, no temporary file


@pytest.mark.slow
def test_resume_from_a_damaged_or_foreign_checkpoint_is_one_line(tmp_path, monkeypatch, capsys):
    assert run_main_ok(train, train_args(tmp_path), monkeypatch)
    last = tmp_path / "ckpt" / "last.ckpt"
    (tmp_path / "cut.ckpt").write_bytes(last.read_bytes()[:5000])
    (tmp_path / "notes.ckpt").write_text("hello")
    before = last.read_bytes()
    for path, message in ((tmp_path / "cut.ckpt", "cut.ckpt is corrupted, truncated or not a PyTorch file"),
                          (tmp_path / "notes.ckpt", "notes.ckpt is corrupted, truncated or not a PyTorch file")):
        code, line = run_main(train, train_args(tmp_path, "--ckpt_path", path), monkeypatch, capsys)
        assert code == 2 and f"error: --ckpt_path {path}" in line and message in line
    other = train_args(tmp_path, "--ckpt_path", last, "--model.init_args.generator.init_args.latent_dim", "12")
    code, line = run_main(train, other, monkeypatch, capsys)
    assert code == 2 and "was trained with another config (model.init_args.generator.init_args.latent_dim: " \
        "recorded 8, given 12); --ckpt_path never changes the config" in line and "config.yaml" in line
    unrecorded = {k: v for k, v in torch.load(last, weights_only=True).items() if k != "steer"}
    plain = tmp_path / "ckpt" / "plain.ckpt"  # a Lightning checkpoint without steer's record, in the run's folder
    torch.save(unrecorded, plain)
    other = train_args(tmp_path, "--ckpt_path", plain, "--model.init_args.generator.init_args.latent_dim", "12")
    code, line = run_main(train, other, monkeypatch, capsys)
    assert code == 2 and "was saved by another model (shape mismatches: 2" in line and "config.yaml" in line
    assert last.read_bytes() == before


def test_checkpoint_is_a_folder(tmp_path, monkeypatch, capsys):
    code, line = run_main(evaluate, evaluate_args(tmp_path, tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "is a folder; give the file inside it" in line and not (tmp_path / "r").exists()


def test_corrupted_checkpoint(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "noise.ckpt"
    bad.write_bytes(bytes(range(256)) * 8)
    code, line = run_main(evaluate, evaluate_args(bad, tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "is corrupted, truncated or not a PyTorch file (Unsupported operand 0)" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_text_file_given_as_checkpoint(trained, tmp_path, monkeypatch, capsys):
    config = trained.parent / "config.yaml"  # the config beside the checkpoint: an easy slip
    code, line = run_main(evaluate, evaluate_args(config, tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "config.yaml is corrupted, truncated or not a PyTorch file (" in line
    (tmp_path / "notes.ckpt").write_text("hello\n")  # torch.load itself fails with a bare KeyError here
    code, line = run_main(evaluate, evaluate_args(tmp_path / "notes.ckpt", tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "notes.ckpt is corrupted, truncated or not a PyTorch file (KeyError: 101)" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_steer_checkpoint_without_its_config_record(trained, tmp_path, monkeypatch, capsys):
    ckpt = torch.load(trained, weights_only=True)
    ckpt["steer"] = {"version": ckpt["steer"]["version"]}
    torch.save(ckpt, tmp_path / "damaged.ckpt")
    code, line = run_main(evaluate, evaluate_args(tmp_path / "damaged.ckpt", tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "is a damaged steer checkpoint" in line and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_generator_of_another_resolution(trained, tmp_path, monkeypatch, capsys):
    other = '{"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 32, "width": 4}}'
    code, line = run_main(evaluate, evaluate_args(trained, tmp_path / "r", "--generator", other), monkeypatch, capsys)
    assert code == 2 and "do not fit the model its config describes (missing keys: 6 (generator.main.7.weight" in line
    assert "leave out --generator" in line and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_diverged_walk_with_nan_weights(trained, tmp_path, monkeypatch, capsys):
    ckpt = torch.load(trained, weights_only=True)
    ckpt["state_dict"]["walk.w"][0, 0] = float("nan")
    torch.save(ckpt, tmp_path / "diverged.ckpt")
    code, line = run_main(evaluate, evaluate_args(tmp_path / "diverged.ckpt", tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "has NaN or infinite weights (walk.w)" in line and not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra, message", [
    (["--n", "0"], "need n ≥ 1 latents and batch_size ≥ 1, got n=0, batch_size=4."),
    (["--batch_size", "-1"], "got n=4, batch_size=-1."),
    (["--fraction", "0"], "the limit fraction must be in (0, 1]"),
    (["--fraction", "1.5"], "got 1.5."),
    (["--n", "many"], "option --n must be a whole number, got 'many'."),
    (["--bogus", "1"], "bogus"),
    (["--device", "gpu"], "--device 'gpu' is not a torch device; use cpu, cuda or cuda:N (mps on a Mac)."),
], ids=["zero-n", "negative-batch", "zero-fraction", "fraction-above-1", "string-for-int", "unknown-option",
        "unknown-device"])
def test_evaluate_option_errors(tmp_path, monkeypatch, capsys, extra, message):
    """Checked before the checkpoint is read (so the missing one here is never reached)."""
    code, line = run_main(evaluate, evaluate_args(tmp_path / "missing.ckpt", tmp_path / "r", *extra), monkeypatch,
                          capsys)
    assert code == 2 and message in line and "missing.ckpt" not in line and not (tmp_path / "r").exists()


def test_cuda_requested_on_a_machine_without_cuda(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, line = run_main(evaluate, evaluate_args(tmp_path / "c.ckpt", tmp_path / "r", "--device", "cuda"),
                          monkeypatch, capsys)
    assert code == 2 and "--device cuda was requested, but this machine has no usable CUDA device" in line
    assert "use --device cpu" in line


@pytest.mark.slow
def test_cuda_device_that_does_not_exist_end_to_end(tmp_path):
    """The whole command as a subprocess: cuda:99 exists neither on a CPU machine nor on any GPU machine."""
    result = run_script("evaluate.py", "steerability", "--checkpoint", "c.ckpt", "--out", "r", "--device", "cuda:99",
                        cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "--device cuda:99" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_out_is_a_regular_file(trained, tmp_path, monkeypatch, capsys):
    (tmp_path / "r").write_text("keep me")
    code, line = run_main(evaluate, evaluate_args(trained, tmp_path / "r"), monkeypatch, capsys)
    assert code == 2 and "is a file; give a folder for the report" in line
    assert (tmp_path / "r").read_text() == "keep me"


@pytest.mark.slow
def test_out_below_a_regular_file(trained, tmp_path, monkeypatch, capsys):
    (tmp_path / "taken").write_text("keep me")
    code, line = run_main(evaluate, evaluate_args(trained, tmp_path / "taken" / "r"), monkeypatch, capsys)
    assert code == 2 and "is a file, not a folder. Choose another --out." in line
    assert (tmp_path / "taken").read_text() == "keep me"


@pytest.fixture
def old_report(tmp_path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "report"
    out.mkdir()
    files = {name: f"old {name}".encode() for name in ("metrics.json", "curves.png", "walk_grid.png", "walk.gif")}
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out, files


def unchanged(out: Path, files: dict[str, bytes]) -> bool:
    return {p.name: p.read_bytes() for p in out.iterdir()} == files


@pytest.mark.slow
def test_read_only_report_folder_simulated_by_access(trained, old_report, monkeypatch, capsys):
    """Simulated: os.access says the folder is not writable (what a non-root user in a read-only folder meets)."""
    out, files = old_report
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != out and real_access(path, mode, **kw))
    code, line = run_main(evaluate, evaluate_args(trained, out, "--overwrite", "true"), monkeypatch, capsys)
    assert code == 2 and "is not writable. Choose a writable folder for the report." in line
    assert unchanged(out, files)


@pytest.mark.slow
def test_read_only_report_folder_simulated_by_a_failing_create(trained, old_report, monkeypatch, capsys):
    """Simulated: creating anything in the folder fails with EACCES (a folder that turned read-only mid-run)."""
    out, files = old_report

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, line = run_main(evaluate, evaluate_args(trained, out, "--overwrite", "true"), monkeypatch, capsys)
    assert code == 2 and "cannot write the report to" in line and "Permission denied" in line
    assert unchanged(out, files)


@pytest.mark.slow
def test_full_disk_while_writing_the_report(trained, old_report, monkeypatch, capsys):
    """Simulated: the fourth file's write (metrics.json, after three complete figures) fails with ENOSPC."""
    out, files = old_report
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code, line = run_main(evaluate, evaluate_args(trained, out, "--overwrite", "true"), monkeypatch, capsys)
    assert code == 2 and "failed at metrics.json: No space left on device" in line and "unchanged" in line
    assert unchanged(out, files)  # the old report, whole; no staging folder or temporary file left
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the same command now replaces the report
    assert run_main_ok(evaluate, evaluate_args(trained, out, "--overwrite", "true"), monkeypatch)
    assert sorted(p.name for p in out.iterdir()) == sorted(files) and not unchanged(out, files)
    assert "walk_error" in json.loads((out / "metrics.json").read_text())


# -- library calls (what a notebook or a new component meets) -----------------------------------
def raises(call, match: str) -> str:
    """The SteerError message of ``call()``, which must match ``match``."""
    with pytest.raises(SteerError, match=match) as info:
        call()
    print(f"SteerError: {info.value}")  # shown by pytest -rP: the line docs/BAD_INPUTS.md quotes
    return str(info.value)


@pytest.fixture
def tiny():
    return DCGAN(latent_dim=8, resolution=16, width=4).freeze()


def test_alpha_grid_with_a_zoom_factor_not_above_zero(tiny):
    grid = torch.tensor([[0.5], [-0.5], [2.0]])
    raises(lambda: measure(tiny, Zoom(), LinearWalk(8), n=2, batch_size=2, alphas=grid, progress=False),
           r"Zoom factors must be > 0 \(1 = unchanged\), got -0.5.")


def test_colour_alpha_grid_of_the_wrong_shape(tiny):
    grid = torch.zeros(3, 2)
    raises(lambda: measure(tiny, Color(), LinearWalk(8, 3), n=2, batch_size=2, alphas=grid, progress=False),
           r"Color takes α of shape \(N, 3\), got \(3, 2\).")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_latents_into_a_generator(tiny, bad):
    z = torch.randn(3, 8)
    z[1, 2] = bad
    raises(lambda: tiny(z), r"DCGAN got latents with NaN or infinite values \(1 of 3 rows\)")


@pytest.mark.parametrize("latent, alpha, what", [
    (float("inf"), 0.0, "latents"), (0.0, float("nan"), "α"),
], ids=["inf-latent", "nan-alpha"])
def test_non_finite_latents_or_alpha_into_a_walk(latent, alpha, what):
    z, a = torch.zeros(2, 8), torch.zeros(2, 1)
    z[0, 0], a[1, 0] = latent, alpha
    raises(lambda: LinearWalk(8)(z, a), f"LinearWalk got {what} with NaN or infinite values")


def test_full_disk_while_saving_a_checkpoint_keeps_the_previous_file(tmp_path, monkeypatch):
    """Simulated: torch.save writes half a file into steer.checkpoint.atomic_write's temporary file, then ENOSPC."""
    path = tmp_path / "walk.ckpt"
    steer_checkpoint.save({"w": torch.ones(3)}, path)
    before = path.read_bytes()

    def half_then_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", half_then_full)
        raises(lambda: steer_checkpoint.save({"w": torch.zeros(3)}, path),
               r"writing .*walk.ckpt failed: No space left on device; nothing was written there.")
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]  # no temporary file left
    assert torch.equal(steer_checkpoint.load(path)["w"], torch.ones(3))


# Discovery and comparison commands: one clear error, nothing written.
TINY_GAN = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}
SHIFT = {"class_path": "steer.edits.ShiftX", "init_args": {"max_shift": 3}}


@pytest.mark.parametrize("command, options, words", [
    ("discover sefa", {"checkpoint": "x.ckpt", "generator": TINY_GAN}, "not both"),
    ("discover sefa", {"generator": TINY_GAN, "k": 0}, "1 to latent_dim=8 directions"),
    ("discover trajectories", {"edit": SHIFT, "ts": [1.0], "generator": TINY_GAN, "loss": "l1"},
     "--loss must be one of lowpass, mse, got 'l1'"),
    ("discover trajectories", {"edit": {"class_path": "steer.edits.ShiftX", "init_args": {"shift": 3}},
                               "ts": [1.0], "generator": TINY_GAN}, "has no option 'shift'"),
    ("evaluate compare", {"reports": ["a=nowhere"]}, "no metrics.json"),
    ("evaluate score", {"directions": "d.pt", "factors": ["q"]},
     "--factors must be one of x, y, area, orientation, red, green, blue, got 'q'."),
])
def test_discovery_command_refuses_bad_input_and_writes_nothing(tmp_path, capsys, command, options, words):
    out = tmp_path / "report"
    assert words in steer_fails(capsys, *command.split(), out=str(out), wandb=False, **options)
    assert not out.exists()


def test_steerability_refuses_data_that_are_not_sprites(tmp_path):
    config = tmp_path / "faces.yaml"
    config.write_text("data:\n  class_path: steer.data.LatentDataModule\n")

    with pytest.raises(SteerError, match="has no sprites data.*config of the sprites model"):
        training_factors({}, None, str(config))


# The notebook API (steer.load, Steerable.images, load_from_checkpoint): one SteerError saying what to do.
JOINT = ROOT / "checkpoints" / "sprites" / "joint_shift_x.ckpt"


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"hello", "corrupted, truncated or not a PyTorch"),
    ({"w": torch.zeros(1)}, "neither a steer checkpoint nor a direction"),
], ids=["missing", "text", "foreign"])
def test_load_refuses_a_file_steer_did_not_write(tmp_path, content, message):
    path = tmp_path / "file.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        steer_checkpoint.save(content, path)
    with pytest.raises(SteerError, match=message):
        steer.load(path)


@pytest.mark.parametrize("options, message", [
    ({"alphas": [[1.0, 2.0]]}, r"shape \(A,\) or \(A, 1\) .* got shape \(1, 2\)"),
    ({"alphas": [float("nan")]}, "alphas must be finite"),
    ({"alphas": []}, "alphas must be finite"),
    ({"z": torch.zeros(2, 3)}, r"z must be latents of shape \(N, \d+\), got \(2, 3\)"),
    ({"classes": 1}, "unconditional; leave out classes"),
], ids=["alpha-shape", "alpha-nan", "alpha-empty", "z-shape", "classes"])
def test_images_refuse_bad_requests(options, message):
    with pytest.raises(SteerError, match=message):
        steer.load(JOINT).images(n=1, **options)


def test_images_of_a_run_without_walk_say_what_to_do():
    with pytest.raises(SteerError, match="holds a generator but no walk.*direction file"):
        steer.load(ROOT / "checkpoints" / "sprites" / "gan_white.ckpt").images()


def test_load_from_checkpoint_of_another_module_class_or_with_hparams_file():
    with pytest.raises(SteerError, match="holds a GANModule, not a WalkModule; use GANModule.load_from_checkpoint"):
        WalkModule.load_from_checkpoint(JOINT)
    with pytest.raises(SteerError, match="leave out hparams_file"):
        WalkModule.load_from_checkpoint(JOINT, hparams_file="hparams.yaml")


# Inputs Lightning, torch, PyYAML or W&B answered with a traceback, a hang or silence: one line now.
@pytest.mark.parametrize("extra, message", [
    (["--trainer.max_steps", "-5"], "the trainer refuses its options: `max_steps` must be a non-negative integer or -1"),
    (["--trainer.val_check_interval", "0"], "--trainer.val_check_interval must be > 0 (steps, or a fraction of an "
                                            "epoch), got 0."),
    (["--model.init_args.optimizer.init_args.lr", ".nan"], "the optimizer refuses its options (Invalid learning rate: "
                                                           "nan); check --model.init_args.optimizer"),
    (["--model.init_args.optimizer.init_args.lr", "-1"], "(Invalid learning rate: -1.0)"),
    (["--ckpt_path", "best"], "ckpt holds no best.ckpt (a new run, or no validation yet); resume with --ckpt_path last"),
    (["--data.init_args.batch_size", "100000000"], "latents needs at least 2291.8 GiB of memory and"),
    (["--model.init_args.generator.init_args.latent_dim", "10000000000"], "error: out of memory ("),
], ids=["negative-max-steps", "zero-val-check-interval", "nan-lr", "negative-lr", "best-in-a-fresh-folder",
        "batch-beyond-memory", "latent-beyond-memory"])
def test_trainer_optimizer_and_memory_refusals_are_one_line_before_anything_is_written(
        tmp_path, monkeypatch, capsys, extra, message):
    code, line = run_main(train, train_args(tmp_path, *extra), monkeypatch, capsys)
    assert code == 2 and message in line
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("content, message", [
    (b"seed_everything: 0\nmodel:\n  class_path: \xff\xfe\n", "is not UTF-8 text (byte 0xff at position 40); save it "
                                                              "as UTF-8."),
    (b"seed_everything: 0\nseed_everything: 1\n", "sets 'seed_everything' twice (lines 1 and 2); keep one."),
], ids=["not-utf8", "duplicate-key"])
def test_a_config_file_that_is_not_utf8_or_sets_a_key_twice_is_refused(tmp_path, monkeypatch, capsys, content,
                                                                        message):
    (tmp_path / "bad.yaml").write_bytes(content)
    code, line = run_main(train, train_args(tmp_path, "--config", tmp_path / "bad.yaml"), monkeypatch, capsys)
    assert code == 2 and f"bad.yaml {message}" in line and not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("content, message", [
    ("", "is not a steerability report (JSONDecodeError)"),
    ("{}", "is not a steerability report (no 'alphas')"),
], ids=["empty", "no-metrics"])
def test_compare_refuses_an_empty_or_invalid_metrics_file(tmp_path, capsys, content, message):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(content)
    line = steer_fails(capsys, "evaluate", "compare", reports=[f"a={tmp_path / 'a'}"], out=str(tmp_path / "c"),
                       wandb=False)
    assert message in line and not (tmp_path / "c").exists()


@pytest.mark.parametrize("fields, message", [
    ({"steer_directions": "1"}, "is a damaged direction file (its format is '1', not a number)"),
    ({"generator": "DCGAN"}, "is a damaged direction file: a direction record needs generator: dict; got str."),
    ({"directions": torch.zeros(2, 3)}, "directions must be finite and non-zero; direction(s) [0, 1] are not."),
], ids=["format-key-type", "generator-record-type", "all-zero"])
def test_malformed_direction_files_are_refused(tmp_path, fields, message):
    from steer.formats.directions import FORMAT_KEY, load_directions

    torch.save({FORMAT_KEY: 1, "directions": torch.eye(3)[:2], "scores": torch.ones(2), "method": "m",
                "generator": {}, **fields}, tmp_path / "d.pt")
    with pytest.raises(SteerError) as refused:
        load_directions(tmp_path / "d.pt")
    assert message in str(refused.value)


@pytest.fixture
def wandb_unreachable(monkeypatch):
    """An online W&B with a key but no server (a closed local port), giving up after 3 s."""
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "3")


@pytest.mark.slow
def test_wandb_online_without_a_server_stops_a_run_before_training_with_how_to_go_offline(
        tmp_path, wandb_unreachable):
    result = run_script("train.py", "fit", "--config", str(TINY), "--checkpoint.dirpath", "ckpt", cwd=tmp_path,
                        timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(errors) == 1
    assert "W&B could not start the run" in errors[0] and "WANDB_MODE=offline" in errors[0]
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_wandb_online_without_a_server_keeps_the_report_and_succeeds(tmp_path, wandb_unreachable):
    generator = json.dumps({"class_path": "steer.generators.DCGAN",
                            "init_args": {"latent_dim": 4, "resolution": 16, "width": 4}})
    result = run_script("train.py", "discover", "sefa", "--generator", generator, "--k", "2", "--out", "r",
                        cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "W&B: no run (" in result.stderr and "the report is complete" in result.stderr
    assert (tmp_path / "r" / "directions.json").is_file()


@pytest.mark.slow
def test_sync_batchnorm_on_cpu_ranks_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, line = run_main(train, train_args(tmp_path, "--trainer.strategy", "ddp", "--trainer.devices", "2",
                                            "--trainer.accelerator", "cpu", "--trainer.sync_batchnorm", "true"),
                          monkeypatch, capsys)
    assert code == 2 and "--trainer.sync_batchnorm true needs GPUs" in line
    assert no_checkpoints(tmp_path / "ckpt")
