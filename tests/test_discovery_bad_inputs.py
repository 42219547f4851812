"""Bad inputs to the discovery and comparison commands: one clear error, nothing written."""

import pytest
from steer_run import steer_fails

from steer.errors import SteerError

TINY = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}
SHIFT = {"class_path": "steer.edits.ShiftX", "init_args": {"max_shift": 3}}


@pytest.mark.parametrize("command, options, words", [
    ("discover sefa", {"checkpoint": "x.ckpt", "generator": TINY}, "not both"),
    ("discover sefa", {"generator": TINY, "k": 0}, "1 to latent_dim=8 directions"),
    ("discover trajectories", {"edit": SHIFT, "ts": [1.0], "generator": TINY, "loss": "l1"},
     "--loss must be one of lowpass, mse, got 'l1'"),
    ("discover trajectories", {"edit": {"class_path": "steer.edits.ShiftX", "init_args": {"shift": 3}},
                               "ts": [1.0], "generator": TINY}, "has no option 'shift'"),
    ("evaluate compare", {"reports": ["a=nowhere"]}, "no metrics.json"),
])
def test_discovery_command_refuses_bad_input_and_writes_nothing(tmp_path, capsys, command, options, words):
    out = tmp_path / "report"
    assert words in steer_fails(capsys, *command.split(), out=str(out), wandb=False, **options)
    assert not out.exists()


def test_steerability_refuses_data_that_are_not_sprites(tmp_path):
    config = tmp_path / "faces.yaml"
    config.write_text("data:\n  class_path: steer.data.LatentDataModule\n")
    from steer.restore import training_factors

    with pytest.raises(SteerError, match="has no sprites data.*config of the sprites model"):
        training_factors({}, None, str(config))
