"""BigGAN, StyleGAN2 and a user's own generator through the shipped configs: train.py, evaluate.py, SeFa.

Each family's tiny random model is saved in its real on-disk format; the
shipped config is derived (paths and sizes overridden, a few steps) and run
as a user would run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from steer.discovery import sefa
from steer.restore import load_module
from tests.support.scripts import ROOT, run_script
from tests.support.tiny_generators import STYLEGAN2, save_biggan, save_stylegan2

QUICK = {  # a few steps, one validation at the end, no progress output
    "max_steps": 3,
    "val_check_interval": 3,
    "log_every_n_steps": 1,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "accelerator": "cpu",
}
SMALL = {"batch_size": 2, "val_size": 2}


def derive(config: str, generator: dict[str, Any], data: dict[str, int]) -> dict:
    """The shipped ``configs/<config>`` with the generator's init_args, data and trainer overridden."""
    spec = yaml.safe_load((ROOT / "configs" / config).read_text())
    spec["model"]["init_args"]["generator"]["init_args"].update(generator)
    spec["data"]["init_args"].update(data)
    spec["trainer"].update(QUICK)
    return spec


def train(spec: dict, tmp_path: Path) -> dict:
    """Run ``train.py fit`` on ``spec`` written to a YAML file; the last checkpoint, loaded."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_script("train.py", "fit", "--config", str(path), "--trainer.logger", "false",
                        "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3
    return ckpt


def evaluate(tmp_path: Path) -> dict:
    """Run ``steer evaluate steerability`` on the last checkpoint; the metrics it wrote."""
    result = run_script("evaluate.py", "steerability", "--checkpoint", "ckpt/last.ckpt", "--out", "report",
                        "--n", "4", "--batch_size", "2", "--wandb", "false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert all(torch.isfinite(torch.tensor(metrics["walk_error"])))
    return metrics


@pytest.mark.slow
def test_biggan_class_walk_trains_evaluates_and_yields_sefa_directions(tmp_path):
    save_biggan(tmp_path / "biggan-deep-tiny")
    spec = derive("biggan/class_walk.yaml", {"weights_dir": str(tmp_path / "biggan-deep-tiny")}, SMALL)
    ckpt = train(spec, tmp_path)
    assert ckpt["state_dict"]["walk.w"].shape == (10, 1, 8)  # one zoom direction per class
    assert len(evaluate(tmp_path)["alphas"]) == 13  # zoom 1/16 … 16: 9 inside the training 1/4 … 4, 2 beyond each end
    module, _ = load_module(tmp_path / "ckpt" / "last.ckpt")
    directions, values = sefa(module.generator, 3)
    assert directions.shape == (3, 8) and torch.all(values[:-1] >= values[1:])


@pytest.mark.slow
def test_stylegan2_w_plus_walk_trains_evaluates_and_yields_sefa_directions(tmp_path):
    save_stylegan2(tmp_path / "stylegan2-tiny.pt")
    generator = {**STYLEGAN2, "checkpoint": str(tmp_path / "stylegan2-tiny.pt"), "layers": [3, 4, 5]}
    ckpt = train(derive("stylegan2/wplus_walk.yaml", generator, SMALL), tmp_path)
    assert ckpt["state_dict"]["walk.w"].shape == (3, 4 * 8)  # R, G, B sliders; rows 3, 4, 5 and the others' w
    assert len(evaluate(tmp_path)["alphas"]) == 25  # the identity and each colour slider alone at 8 offsets (±2 max)
    module, _ = load_module(tmp_path / "ckpt" / "last.ckpt")
    directions, _ = sefa(module.generator, 2)
    rows_3, rows_4, _, others = directions.split(8, dim=1)
    torch.testing.assert_close(rows_3, rows_4)  # one w direction written on the listed rows
    assert others.abs().max() == 0


@pytest.mark.slow
def test_users_own_conditional_generator_trains_a_per_class_walk_from_yaml_alone(tmp_path):
    from tests.support.user_models import ConditionalDCGAN

    torch.manual_seed(0)
    torch.save(ConditionalDCGAN(nz=6, num_classes=3).state_dict(), tmp_path / "my_generator.pt")
    generator = {
        "model_class": "tests.support.user_models.ConditionalDCGAN",
        "model_args": {"nz": 6, "num_classes": 3},
        "weights": str(tmp_path / "my_generator.pt"),
        "latent_dim": 6,
        "resolution": 8,
        "num_classes": 3,
    }
    spec = derive("custom/own_generator.yaml", generator, {"batch_size": 8, "val_size": 4})
    spec["model"]["init_args"]["walk"]["init_args"] = {"init_std": 0.0}  # start every class at zero
    w = train(spec, tmp_path)["state_dict"]["walk.w"]
    assert w.shape == (3, 1, 6)  # (classes, sliders, latent_dim)
    assert (w.flatten(1).norm(dim=1) > 0).all()  # every class learned a direction
    assert not torch.allclose(w[0], w[1]) and not torch.allclose(w[1], w[2]) and not torch.allclose(w[0], w[2])
