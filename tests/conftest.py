"""Test-wide settings: one CPU thread (2 shared cores), W&B offline, files under tmp paths."""

import os
from pathlib import Path

import pytest
import torch

from tests.support.scripts import ROOT

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def tiny_config() -> Path:
    return ROOT / "tests" / "configs" / "tiny_walk.yaml"
