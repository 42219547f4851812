"""Direction files (any discovery method's output) and DirectionWalk, the fixed walk that reads them."""

import pytest
import torch

from steer.discovery import Directions, load_directions, save_directions
from steer.edits import Zoom
from steer.errors import SteerError
from steer.evaluation.steerability import measure
from steer.walks import DirectionWalk
from tests.support.known_direction import ZoomingGenerator

SPEC = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 4}}


def directions_file(path, rows, **fields):
    rows = torch.as_tensor(rows, dtype=torch.float32)
    found = Directions(rows, torch.arange(len(rows), 0, -1).float(), "sefa", SPEC, **fields)
    save_directions(path, found)
    return path


def test_round_trip_keeps_directions_scores_and_provenance(tmp_path):
    found = Directions(torch.tensor([[3.0, 0, 0, 4.0], [0, 2.0, 0, 0]]), torch.tensor([5.0, 1.0]), "pca", SPEC,
                       score_name="explained variance ratio", params={"layer": "2", "n": 100})
    save_directions(tmp_path / "d.pt", found)
    loaded = load_directions(tmp_path / "d.pt", latent_dim=4)
    torch.testing.assert_close(loaded.directions, torch.tensor([[0.6, 0, 0, 0.8], [0, 1.0, 0, 0]]))  # unit rows
    torch.testing.assert_close(loaded.scores, found.scores)
    assert (loaded.method, loaded.generator, loaded.params) == ("pca", SPEC, {"layer": "2", "n": 100})
    assert loaded.score_name == "explained variance ratio" and len(loaded) == 2 and loaded.latent_dim == 4
    assert loaded.made_by["version"] and isinstance(loaded.made_by["command"], list)
    torch.load(tmp_path / "d.pt", weights_only=True)  # plain tensors and dicts only


def test_bad_direction_files_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(SteerError, match="direction file .*nope.pt does not exist"):
        load_directions(tmp_path / "nope.pt")
    torch.save({"state_dict": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(SteerError, match="is not a direction file; give the directions.pt"):
        load_directions(tmp_path / "ckpt.pt")
    torch.save({"steer_directions": 1, "directions": torch.eye(2)}, tmp_path / "cut.pt")
    with pytest.raises(SteerError, match="damaged direction file"):
        load_directions(tmp_path / "cut.pt")
    torch.save({"steer_directions": 1, "edit": Zoom()}, tmp_path / "code.pt")
    with pytest.raises(SteerError, match="can only be loaded by running code.*steer refuses"):
        load_directions(tmp_path / "code.pt")
    directions_file(tmp_path / "d.pt", torch.eye(4)[:2])
    with pytest.raises(SteerError, match="directions in a 4-d latent, but the generator's latent size is 8.*DCGAN"):
        load_directions(tmp_path / "d.pt", latent_dim=8)


def test_directions_without_one_score_each_are_refused():
    with pytest.raises(SteerError, match=r"one score each, got \(2, 4\) and scores \(3,\)"):
        Directions(torch.ones(2, 4), torch.ones(3), "sefa", SPEC)


def test_direction_walk_moves_along_the_chosen_directions_of_the_file(tmp_path):
    path = directions_file(tmp_path / "d.pt", torch.eye(4)[[2, 0, 3]])  # u0 = e2, u1 = e0, u2 = e3
    walk = DirectionWalk(4, sliders=2, path=str(path), index=[2, 0], scale=0.5)
    z = torch.randn(3, 4)
    alpha = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-2.0, 4.0]])
    expected = z.clone()
    expected[:, 3] += 0.5 * alpha[:, 0]  # slider 0: direction 2 = e3
    expected[:, 2] += 0.5 * alpha[:, 1]  # slider 1: direction 0 = e2
    torch.testing.assert_close(walk(z, alpha), expected)
    assert not list(walk.parameters()) and "directions" in walk.state_dict()
    one = DirectionWalk(4, path=str(path), index=1)
    torch.testing.assert_close(one(z, torch.ones(3, 1)), z + torch.eye(4)[0])
    assert torch.equal(DirectionWalk(4, path=str(path)).directions, torch.eye(4)[[2]])  # default: the first


@pytest.mark.parametrize("build, message", [
    (lambda p: DirectionWalk(8, path=p), "4-d latent, but the generator's latent size is 8"),
    (lambda p: DirectionWalk(4, sliders=3, path=p, index=[0, 1]), "3 slider.* index chooses 2 direction"),
    (lambda p: DirectionWalk(4, sliders=3, path=p), r"index \[0, 1, 2\] is out of range; .* holds 2 directions"),
    (lambda p: DirectionWalk(4, path=p, index=5), r"index \[5\] is out of range; .* holds 2 directions"),
    (lambda p: DirectionWalk(4), "needs path"),
])
def test_direction_walk_refuses_mismatched_files_and_indices(tmp_path, build, message):
    path = directions_file(tmp_path / "d.pt", torch.eye(4)[:2])
    with pytest.raises(SteerError, match=message):
        build(str(path))


def test_a_direction_walk_plugs_into_the_steerability_measurement(tmp_path):
    torch.manual_seed(0)
    g = ZoomingGenerator(latent_dim=5).freeze()  # zooms by exp(z[:, -1]): the zoom direction is e4
    path = directions_file(tmp_path / "zoom.pt", torch.eye(5)[[4]])
    result = measure(g, Zoom(), DirectionWalk(5, path=str(path)), n=4, batch_size=4, alphas=torch.tensor([[0.5], [2.0]]),
                     progress=False)
    assert torch.all(result.walk_error < 0.05 * result.baseline_error)
