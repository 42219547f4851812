"""bench/gpu.py, the script for a CUDA machine, runs end to end on the CPU in its dry mode."""

import pytest

from tests.support.scripts import run_script


@pytest.mark.slow
def test_gpu_bench_dry_run_prints_a_row_per_network_and_precision(tmp_path):
    done = run_script("bench/gpu.py", "--dry", "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "px)" in line]
    assert [(r.split("|")[1].split()[0], r.split("|")[4].strip()) for r in rows] == [
        ("digiface", "fp32"), ("digiface", "bf16"), ("stylegan2", "fp32"), ("stylegan2", "bf16")]
    assert "matmul peak" in done.stdout and "of bf16 peak" in done.stdout


@pytest.mark.slow
def test_gpu_bench_without_cuda_asks_for_the_dry_run(tmp_path):
    done = run_script("bench/gpu.py", "--device", "cpu", "--networks", "digiface", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "run with --dry for a code check on the CPU" in done.stderr
