"""`steer explore` without a browser: what fits the generator, what is cached, the exports, and the refusals."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

import steer
from steer.cli.driver import build_parser
from steer.errors import SteerError
from steer.explore import exports
from steer.explore.session import STRIP, Explorer, State
from steer.formats.directions import Directions, save_directions
from steer.restore import load_generator
from tests.support.scripts import ROOT
from tests.support.steer_run import steer_fails

JOINT = str(ROOT / "checkpoints/sprites/joint_shift_x.ckpt")  # a DCGAN (16-d latent) and a shift-x walk
GAN = str(ROOT / "checkpoints/sprites/gan_white.ckpt")  # another 16-d DCGAN, no walk
GAN_Z4 = str(ROOT / "checkpoints/sprites/gan_white_z4.ckpt")  # a 4-d DCGAN


def directions(path: Path, latent_dim: int, found_on: str) -> str:
    """A direction file of two random directions, recorded as found on the generator of ``found_on``."""
    d = torch.nn.functional.normalize(torch.randn(2, latent_dim, generator=torch.Generator().manual_seed(0)), dim=1)
    save_directions(path, Directions(d, torch.tensor([2.0, 1.0]), "random", {"checkpoint": found_on}))
    return str(path)


@pytest.fixture
def explorer() -> Explorer:
    explorer = Explorer(load_generator(JOINT))
    explorer.add(JOINT)
    return explorer


def test_the_explorer_shows_steer_loads_images_for_walks_and_directions(explorer: Explorer, tmp_path: Path) -> None:
    state = explorer.start(State(seed=5), [6.0])
    view = explorer.view(state)
    model = steer.load(JOINT)
    assert torch.equal(view.walked, model.images(n=1, seed=5, alphas=[6.0])[0, 0])
    assert torch.equal(view.strip, model.images(n=1, seed=5, alphas=explorer.path(state))[0])
    assert view.target is not None and view.loss is not None and "+6px" in view.caption
    path = directions(tmp_path / "d.pt", 16, JOINT)
    explorer.add(path)
    state = explorer.start(State(seed=5, source=path, moved=1), [0.0, -2.0])
    assert torch.allclose(explorer.view(state).walked,
                          steer.load(path, direction=1).images(n=1, seed=5, alphas=[-2.0])[0, 0], atol=1e-6)


def test_moving_a_slider_generates_only_the_moved_image(explorer: Explorer) -> None:
    calls = []
    explorer.generator.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    explorer.view(explorer.start(State(seed=1)))
    assert len(calls) == 1 + 1 + STRIP  # G(z) for the target, the walked image, the strip
    calls.clear()
    explorer.view(State(1, None, None, JOINT, (4.0,), 0))
    assert calls == [1]  # the strip and G(z) are reused: only the slider moved
    calls.clear()
    explorer.view(State(2, None, None, JOINT, (4.0,), 0))
    assert len(calls) == 1 + 1 + STRIP  # a new latent


def test_exports_are_a_gif_an_mp4_and_a_config_that_reopens_the_page(explorer: Explorer, tmp_path: Path) -> None:
    state = explorer.start(State(seed=7), [-4.0])
    strip = explorer.strip(state)
    gif = exports.save_path_gif(strip, tmp_path / "p.gif")
    mp4 = exports.save_path_mp4(strip, tmp_path / "p.mp4")
    assert iio.imread(gif).shape[0] == iio.imread(mp4).shape[0] == 2 * STRIP - 2
    options = {"generator": None, "checkpoint": JOINT, "walks": [JOINT], "directions": []}
    saved = exports.save_state(tmp_path / "p.json", exports.state_config(options, explorer, state))
    parsed = build_parser().parse_args(["explore", "--config", str(saved)]).explore
    again = Explorer(load_generator(parsed.checkpoint))
    for path in parsed.walks:
        again.add(path)
    reopened = again.start(State(parsed.seed, parsed.class_index, parsed.truncation, parsed.source), parsed.alpha)
    assert reopened == state and torch.equal(again.view(reopened).walked, explorer.view(state).walked)
    assert json.loads(saved.read_text())["alpha"] == [-4.0]


def test_files_that_do_not_fit_the_generator_say_why(explorer: Explorer, tmp_path: Path) -> None:
    with pytest.raises(SteerError, match="another generator"):
        Explorer(load_generator(GAN)).add(JOINT)
    with pytest.raises(SteerError, match="4-d latents"):
        Explorer(load_generator(GAN_Z4)).add(JOINT)
    with pytest.raises(SteerError, match="weights differ"):
        explorer.add(directions(tmp_path / "other.pt", 16, GAN))
    with pytest.raises(SteerError, match="holds a generator but no walk"):
        explorer.add(GAN)


@pytest.mark.parametrize(("options", "says"), [
    ({"host": "0.0.0.0"}, "--host 0.0.0.0 would expose the page to other machines"),
    ({"host": "192.168.1.7"}, "pass --expose true"),
    ({"checkpoint": GAN, "walks": [JOINT]}, "was trained on another generator"),
    ({"checkpoint": GAN_Z4, "walks": [JOINT]}, "the walk in"),
    ({"checkpoint": JOINT, "directions": ["D5"]}, "holds directions in a 5-d latent, but the generator's latent size is 16"),
    ({"checkpoint": JOINT, "walks": [JOINT], "alpha": [1.0, 2.0]}, "has 1 slider(s); give one α for each, got 2"),
], ids=["any-address", "lan-address", "walk-of-another-generator", "walk-of-another-latent-size",
        "directions-of-another-latent-size", "alpha-count"])
def test_bad_input_is_one_line_and_exit_code_2(capsys, tmp_path: Path, options: dict, says: str) -> None:
    if options.get("directions") == ["D5"]:
        options["directions"] = [directions(tmp_path / "d5.pt", 5, GAN_Z4)]
    line = steer_fails(capsys, "explore", port=_free_port(), **options)
    assert says in line, line


def test_a_port_in_use_is_named(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = steer_fails(capsys, "explore", checkpoint=JOINT, port=port)
    assert line == f"error: port {port} on 127.0.0.1 is in use; choose another with --port."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
