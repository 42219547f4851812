"""Direction files of other tools (GANSpace, InterFaceGAN, rosinality's SeFa) run as steer walks and in its scores.

The files are written here with numpy/torch in each tool's layout (no third-party code or output).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from steer.config import TRUST_VARIABLE
from steer.errors import SteerError
from steer.explore.sources import open_source
from steer.formats.directions import is_direction_file, load_directions
from steer.notebook import load
from steer.walks import DirectionWalk
from tests.support.steer_run import steer_fails, steer_run
from tests.test_direction_scores import SpriteAxes

SPRITES = {"class_path": "tests.test_direction_scores.SpriteAxes"}


def ganspace(path, rows, var_ratio=None):
    """A GANSpace components file: np.savez_compressed with lat_comp (k, 1, d) and the activation-space fields."""
    rows = np.asarray(rows, dtype=np.float32)
    k, d = rows.shape
    with open(path, "wb") as f:  # np.savez would append .npz to a name without it
        np.savez_compressed(f, act_comp=np.ones((k, 2, 2, 2), np.float32), act_mean=np.zeros((2, 2, 2), np.float32),
                            act_stdev=np.ones(k, np.float32), lat_comp=rows[:, None, :],
                            lat_mean=np.zeros((1, d), np.float32), lat_stdev=np.full(k, 0.5, np.float32),
                            var_ratio=np.asarray(np.linspace(0.5, 0.1, k) if var_ratio is None else var_ratio,
                                                 np.float32),
                            random_stdevs=np.ones(k, np.float32))
    return path


def interfacegan(path, normal):
    """An InterFaceGAN boundary: np.save of a unit (1, latent_dim) float32 array."""
    n = np.asarray(normal, dtype=np.float32).reshape(1, -1)
    with open(path, "wb") as f:  # np.save would append .npy to a name without it
        np.save(f, n / np.linalg.norm(n))
    return path


def rosinality(path, eigvec):
    """A closed_form_factorization factor: torch.save of {"ckpt": the model's path, "eigvec": V}, one direction per
    column."""
    torch.save({"ckpt": "stylegan2-ffhq-config-f.pt", "eigvec": torch.as_tensor(eigvec, dtype=torch.float32)}, path)
    return path


# Each format under a name that hides it (the format is told by content): (writer, file name, rows written).
FORMATS = {
    "ganspace": (lambda p: ganspace(p, [[0, 3.0, 0], [1.0, 0, 0]]), "components.bin"),
    "interfacegan": (lambda p: interfacegan(p, [0, 2.0, 0]), "boundary.dat"),
    "rosinality": (lambda p: rosinality(p, torch.tensor([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0]])), "factor.npz"),
}


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_is_read_by_content_as_unit_directions(tmp_path, name):
    write, filename = FORMATS[name]
    path = write(tmp_path / filename)
    found = load_directions(path, latent_dim=3)
    torch.testing.assert_close(found.directions[0], torch.tensor([0, 1.0, 0]))  # the first is e1 in every file
    assert is_direction_file(path) and found.generator == {} and found.params["imported_from"] == str(path)
    if name == "ganspace":
        torch.testing.assert_close(found.scores, torch.tensor([0.5, 0.1]))  # explained variance ratio
        assert found.params["lat_stdev"] == [0.5, 0.5] and found.method == "ganspace"
    if name == "rosinality":  # columns of eigvec, largest singular value first
        torch.testing.assert_close(found.directions, torch.tensor([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0]]))
        assert found.method == "sefa" and found.params["ckpt"] == "stylegan2-ffhq-config-f.pt"


@pytest.mark.parametrize("name", FORMATS)
def test_a_peer_direction_runs_as_a_fixed_walk(tmp_path, name):
    write, filename = FORMATS[name]
    walk = DirectionWalk(3, sliders=1, path=str(write(tmp_path / filename)), scale=2.0)
    z = torch.zeros(2, 3)
    torch.testing.assert_close(walk(z, torch.tensor([[1.0], [-0.5]])), torch.tensor([[0, 2.0, 0], [0, -1.0, 0]]))


def test_ganspace_directions_are_scored_on_known_factors(tmp_path):
    path = ganspace(tmp_path / "ganspace.npz", [[0, 1.0, 0], [1.0, 0, 0]])
    steer_run("evaluate", "score", directions=str(path), generator=SPRITES, n=30, max_step=1,
              out=str(tmp_path / "report"), wandb=False)
    summary = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert [d["controlled"] for d in summary["directions"]] == ["y", "x"] and summary["method"] == "ganspace"


def test_without_a_generator_the_score_command_asks_for_one(tmp_path, capsys):
    path = interfacegan(tmp_path / "boundary.npy", [1.0, 0, 0])
    line = steer_fails(capsys, "evaluate", "score", directions=str(path), out=str(tmp_path / "report"), wandb=False)
    assert "records no generator" in line and "--generator" in line and "steer export peer" in line
    assert not (tmp_path / "report").exists()
    with pytest.raises(SteerError, match="records no generator"):
        load(path)  # the notebook cannot tell either


def test_explore_opens_a_peer_file_as_sliders_on_the_explored_generator(tmp_path):
    path = rosinality(tmp_path / "factor.pt", torch.eye(3))
    source = open_source(str(path), SpriteAxes())
    assert len(source.sliders) == 3 and source.sliders[0].name.startswith("factor #0")


def test_export_records_the_generator_so_that_score_finds_it(tmp_path, monkeypatch):
    path = ganspace(tmp_path / "ganspace.npz", [[1.0, 0, 0]])
    out = tmp_path / "directions.pt"
    steer_run("export", "peer", src=str(path), out=str(out), generator=SPRITES)
    found = load_directions(out)
    assert found.generator == SPRITES and found.method == "ganspace" and found.params["format"] == "GANSpace components"
    monkeypatch.setenv(TRUST_VARIABLE, "tests.test_direction_scores")  # the user trusts the recorded class's module
    steer_run("evaluate", "score", directions=str(out), n=30, max_step=1, out=str(tmp_path / "report"), wandb=False)
    assert json.loads((tmp_path / "report" / "scores.json").read_text())["directions"][0]["controlled"] == "x"


@pytest.mark.parametrize("write, message", [
    (lambda p: ganspace(p, np.eye(4)[:2]), r"GANSpace components \(lat_comp of shape \(2, 1, 4\)\): its directions "
                                           r"have 4 coordinates, but the generator's latent_dim is 3"),
    (lambda p: interfacegan(p, np.ones(512)), r"InterFaceGAN boundary \(array of shape \(1, 512\)\): its directions "
                                              r"have 512 coordinates, but the generator's latent_dim is 3"),
    (lambda p: rosinality(p, torch.eye(5)), r"closed_form_factorization factor \(eigvec of shape \(5, 5\)\): its "
                                            r"directions have 5 coordinates, but the generator's latent_dim is 3"),
], ids=["ganspace", "interfacegan", "rosinality"])
def test_a_file_made_for_another_latent_size_names_both_sizes(tmp_path, write, message):
    path = write(tmp_path / "file")
    with pytest.raises(SteerError, match=message) as error:
        DirectionWalk(3, path=str(path))
    assert "\n" not in str(error.value)


def test_files_that_are_not_what_they_look_like_are_refused_in_one_line(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(SteerError, match=r"NumPy archive of weights; a file of GANSpace components holds lat_comp"):
        load_directions(tmp_path / "other.npz")
    with open(tmp_path / "cube.npy", "wb") as f:
        np.save(f, np.ones((2, 3, 4), np.float32))
    with pytest.raises(SteerError, match=r"shape \(2, 3, 4\); an InterFaceGAN boundary is a float array of shape"):
        load_directions(tmp_path / "cube.npy")
    with open(tmp_path / "objects.npy", "wb") as f:
        np.save(f, np.array([{"run": "code"}], dtype=object), allow_pickle=True)
    with pytest.raises(SteerError, match="holds Python objects, which steer does not load"):
        load_directions(tmp_path / "objects.npy")
    data = (tmp_path / "whole.npz")
    ganspace(data, np.eye(3))
    (tmp_path / "cut.npz").write_bytes(data.read_bytes()[:200])
    with pytest.raises(SteerError, match="cannot be read|not a PyTorch file"):
        load_directions(tmp_path / "cut.npz")
    torch.save({"ckpt": "g.pt", "eigvec": torch.ones(3)}, tmp_path / "factor.pt")
    with pytest.raises(SteerError, match=r"eigvec is \(3,\); a rosinality closed_form_factorization factor is a float matrix"):
        load_directions(tmp_path / "factor.pt")
