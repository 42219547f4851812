"""The notebook API: steer.load(path) for checkpoints and direction files, walked images, strips, GIFs; the
documented session runs; Lightning's load_from_checkpoint rebuilds steer's modules from their record."""

import re
import subprocess
import sys

import pytest
import torch
from PIL import Image

import steer
from steer import checkpoint
from steer.discovery import Directions, save_directions
from steer.edits import Zoom
from steer.generators import DCGAN
from steer.modules import GANModule, WalkModule
from tests.support.scripts import ROOT

JOINT = ROOT / "checkpoints" / "sprites" / "joint_shift_x.ckpt"
GAN = ROOT / "checkpoints" / "sprites" / "gan_white.ckpt"
TINY = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 6, "resolution": 16, "width": 4}}


@pytest.fixture(scope="module")
def joint():
    return steer.load(JOINT)


@pytest.mark.slow
def test_import_steer_stays_light_and_load_is_there():
    code = "import sys, steer; assert 'torch' not in sys.modules; assert callable(steer.load); print('ok')"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip() == "ok"


def test_a_joint_run_gives_generator_walk_edit_and_walked_images(joint):
    assert joint.walk is not None and joint.edit is not None and torch.equal(joint.alphas, joint.edit.test_alphas())
    images = joint.images(n=3, seed=1)
    a = len(joint.alphas)
    assert images.shape == (3, a, 3, 32, 32) and images.device.type == "cpu"
    assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, joint.images(n=3, seed=1)) and not torch.equal(images, joint.images(n=3, seed=2))


def test_zero_alpha_gives_the_unwalked_image_of_the_given_latents(joint):
    z = torch.randn(2, joint.generator.latent_dim, generator=torch.Generator().manual_seed(0))
    images = joint.images(z=z, alphas=[0.0, 4.0])
    assert images.shape[:2] == (2, 2)
    with torch.no_grad():
        assert torch.allclose(images[:, 0], joint.generator(z), atol=1e-6)
    assert not torch.allclose(images[:, 1], images[:, 0])


def test_strip_and_gif_files(joint, tmp_path):
    images = joint.images(n=2, alphas=[-4.0, 0.0, 4.0])
    strip = joint.save_strip(tmp_path / "strip.png", images)
    with Image.open(strip) as png:
        assert png.size == (3 * 34 + 2, 2 * 34 + 2)  # 3 α × 2 latents of 32 px, padded 2 px
    gif = joint.save_gif(tmp_path / "walk.gif", n=2, alphas=[-4.0, 0.0, 4.0])
    with Image.open(gif) as frames:
        assert frames.n_frames == 4  # three α, forward and back


def test_a_gan_run_gives_its_generator_without_walk_or_edit():
    gan = steer.load(GAN)
    assert gan.walk is None and gan.edit is None and gan.alphas is None and gan.generator.frozen


def test_a_direction_file_walks_in_sigmas_along_the_chosen_direction(tmp_path):
    directions = torch.eye(6)[:3] * 2.0
    path = save_directions(tmp_path / "d.pt", Directions(directions, torch.arange(3.0, 0, -1), "sefa", TINY))
    found = steer.load(path, direction=2)
    assert found.edit is None and isinstance(found.generator, DCGAN)
    assert torch.equal(found.walk.directions[0], torch.eye(6)[2])
    assert found.walk.scale == pytest.approx(1.0, abs=0.1)  # latents ~ N(0, I): σ along a unit direction is 1
    assert found.alphas[:, 0].tolist() == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    z = torch.zeros(1, 6)
    images = found.images(z=z, alphas=[0.0, 1.0])
    with torch.no_grad():
        assert torch.allclose(images[0, 0], found.generator(z)[0], atol=1e-6)
        moved = z.clone()
        moved[0, 2] = found.walk.scale
        assert torch.allclose(images[0, 1], found.generator(moved)[0], atol=1e-6)


def test_the_documented_session_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "notebook.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "checkpoints").symlink_to(ROOT / "checkpoints")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/notebook.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["DCGAN LinearWalk ShiftX", "(4, 13, 3, 32, 32)"]
    assert (tmp_path / "shift_strip.png").stat().st_size > 0 and (tmp_path / "shift.gif").stat().st_size > 0


def walk_checkpoint(path, **init_args):
    """A WalkModule saved as train.py saves one: weights and steer's record of the config."""
    module = WalkModule(DCGAN(latent_dim=6, resolution=16, width=4), Zoom())
    spec = {"class_path": "steer.modules.WalkModule",
            "init_args": {"generator": TINY, "edit": {"class_path": "steer.edits.Zoom"}, **init_args}}
    for weight in module.walk.parameters():
        torch.nn.init.normal_(weight)  # a trained-looking walk, unlike a fresh one
    checkpoint.save({"state_dict": module.state_dict(), "steer": {"config": {"model": spec}}}, path)
    return module


def test_walk_module_load_from_checkpoint_rebuilds_it_from_the_record(tmp_path):
    saved = walk_checkpoint(tmp_path / "walk.ckpt", strip_latents=2)
    loaded = WalkModule.load_from_checkpoint(tmp_path / "walk.ckpt")
    assert not loaded.training and loaded.strip_latents == 2 and isinstance(loaded.edit, Zoom)
    for key, value in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert WalkModule.load_from_checkpoint(tmp_path / "walk.ckpt", strip_latents=5).strip_latents == 5


def test_gan_module_load_from_checkpoint_of_a_shipped_joint_run():
    module = GANModule.load_from_checkpoint(JOINT)
    assert module.walk is not None and not module.training
