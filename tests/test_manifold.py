"""Mask-guided manifold discovery (docs/methods.md §3): the region changes, the rest stays, the springs spread."""

import json

import pytest
import torch

from steer.discovery.manifold import MaskRegion, manifold, springs
from steer.errors import SteerError
from steer.generators import DCGAN, Generator
from steer.losses import MaskedLPIPS
from steer.seeding import rng
from tests.support.scripts import run_script
from tests.support.steer_run import steer_run

TINY = '{"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}'


class Patches(Generator):
    """16 px images tanh(B z): latent coordinates 0-2 paint only the centre 8×8, the other five the whole image."""

    def __init__(self) -> None:
        super().__init__(latent_dim=8, resolution=16)
        basis = torch.randn(3, 16, 16, 8, generator=rng(0, "test-patches"))
        centre = torch.zeros(16, 16)
        centre[4:12, 4:12] = 1
        basis[..., :3] *= centre[None, :, :, None]
        self.register_buffer("basis", basis)

    def synthesize(self, z, y):
        return torch.tanh(0.3 * torch.einsum("chwd,nd->nchw", self.basis, z))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return DCGAN(latent_dim=8, resolution=16, width=4).freeze()


def seed_latent(g, seed=0):
    return g.sample_latent(1, rng(seed, "test-manifold"))


@pytest.fixture(scope="module")
def found():
    g = Patches().freeze()
    return manifold(g, seed_latent(g), MaskRegion(4, 4, 12, 12), k=6, sigma=0.2, steps=60, progress=False)


def test_inside_changes_more_than_outside_and_targets_grow(found):
    assert found.frames.shape == (6, 3, 16, 16) and found.latents.shape == (6, 8)
    assert found.inside_change.mean() > 0.05
    assert found.ratio < 0.15  # mean |Δ| outside / inside; a random move gives about 1
    assert torch.all(found.targets[1:] > found.targets[:-1])  # c_i = c·(i/K)²: the region changes steadily
    assert found.inside_distance[-1] > 4 * found.inside_distance[0]


def test_springs_spread_the_sequence_evenly(found):
    spacing = found.spacing  # seed → w_1 → … → w_K
    assert spacing.std() < 0.2 * spacing.mean()
    assert abs(float(spacing.mean()) - found.settings["sigma"]) < 0.3 * found.settings["sigma"]


def test_spring_energy_is_zero_on_an_evenly_spaced_line():
    line = torch.arange(5.0)[:, None] * torch.tensor([[0.6, 0.8]])  # steps of length 1
    assert springs(line, 1.0, 0.3, 0.1) < 1e-10
    bent = line.clone()
    bent[2] += torch.tensor([0.8, -0.6])
    assert springs(bent, 1.0, 0.3, 0.1) > 0


def test_only_walk_mask_coordinates_move(tiny):
    class Masked(DCGAN):
        @property
        def walk_mask(self):
            return torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0])

    torch.manual_seed(0)
    g = Masked(latent_dim=8, resolution=16, width=4)
    z = seed_latent(g)
    found = manifold(g, z, MaskRegion(4, 4, 12, 12), k=3, steps=5, progress=False)
    assert torch.equal(found.latents[:, 4:], z[:, 4:].expand(3, -1))
    assert (found.latents[:, :4] != z[:, :4]).any()


def test_fraction_and_pixel_masks_agree():
    assert MaskRegion(0.25, 0.5, 0.75, 1.0, fractions=True).pixels(16) == (4, 8, 12, 16)
    assert MaskRegion.parse("4,8,12,16") == MaskRegion(4, 8, 12, 16)
    assert MaskRegion.parse("0.25,0.5,0.75,1.0").pixels(16) == (4, 8, 12, 16)
    m = MaskRegion(4, 8, 12, 16).mask(16)
    assert m.sum() == 8 * 8 and m[0, 0, 8, 4] == 1 and m[0, 0, 7, 4] == 0


@pytest.mark.parametrize("region, message", [
    (lambda: MaskRegion(8, 4, 8, 12), "empty"),
    (lambda: MaskRegion(4, 12, 8, 4), "empty"),
    (lambda: MaskRegion(4, 4, 20, 12).pixels(16), "outside the 16×16 image"),
    (lambda: MaskRegion(-1, 4, 8, 12).pixels(16), "outside"),
    (lambda: MaskRegion(0, 0, 16, 16).pixels(16), "covers the whole"),
    (lambda: MaskRegion(0, 0, 1.0, 1.0, fractions=True).pixels(16), "covers the whole"),
    (lambda: MaskRegion(0.5, 0.5, 0.51, 0.52, fractions=True).pixels(16), "no whole pixel"),
    (lambda: MaskRegion(1.5, 2, 8, 8), "whole numbers"),
    (lambda: MaskRegion.parse("4,4,8"), "four numbers"),
    (lambda: MaskRegion.parse("a,b,c,d"), "four numbers"),
])
def test_bad_masks_are_refused_with_a_clear_message(region, message):
    with pytest.raises(SteerError, match=message):
        region()


def test_lpips_distance_plumbing_with_a_random_backbone():
    # random_backbone=True: an untrained AlexNet, meaningless as a perceptual distance; plumbing only
    lpips = MaskedLPIPS(random_backbone=True)
    torch.manual_seed(0)
    g = DCGAN(latent_dim=8, resolution=32, width=4).freeze()  # AlexNet needs at least 32 px
    found = manifold(g, seed_latent(g), MaskRegion(0, 0, 16, 32), k=3, steps=3, distance=lpips, progress=False)
    assert found.settings["distance"] == "MaskedLPIPS" and found.settings["target_change"] == 0.25
    assert torch.isfinite(found.inside_distance).all() and found.inside_distance.shape == (3,)


def test_adam_option_and_bad_options(tiny):
    z = seed_latent(tiny)
    found = manifold(tiny, z, MaskRegion(4, 4, 12, 12), k=3, steps=10, optimizer="adam", progress=False)
    assert found.settings["optimizer"] == "adam" and (found.latents != z).any()
    with pytest.raises(SteerError, match="optimizer must be one of lbfgs, adam"):
        manifold(tiny, z, MaskRegion(4, 4, 12, 12), optimizer="sgd")
    with pytest.raises(SteerError, match="k ≥ 2"):
        manifold(tiny, z, MaskRegion(4, 4, 12, 12), k=1)
    with pytest.raises(SteerError, match="z_seed must hold 8 values"):
        manifold(tiny, torch.zeros(5), MaskRegion(4, 4, 12, 12))


@pytest.mark.slow
def test_command_writes_the_report_and_logs_it_to_wandb(tmp_path):
    args = ["manifold", "--generator", TINY, "--mask", "4,4,12,12", "--k", "4", "--steps", "10", "--out", "report"]
    done = run_script("evaluate.py", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report"
    summary = json.loads((report / "manifold.json").read_text())
    assert len(summary["inside_change"]) == len(summary["outside_change"]) == 4
    assert summary["settings"]["k"] == 4 and summary["region"] == [4, 4, 12, 12]
    assert summary["outside_inside_ratio"] == pytest.approx(
        sum(summary["outside_change"]) / sum(summary["inside_change"]), rel=1e-5)
    assert summary["provenance"]["config"]["command"] == "discover manifold" and "mean change outside / inside" in done.stdout
    saved = torch.load(report / "latents.pt", weights_only=True)
    assert saved["latents"].shape == (4, 8) and saved["seed_latent"].shape == (8,)
    for name in ("frames.png", "manifold.gif"):
        assert (report / name).stat().st_size > 500
    assert list((tmp_path / "runs" / "wandb").glob("offline-run-*/files/media/images/manifold/frames_*.png"))


def run_command(out, **kwargs):
    kwargs = {"generator": json.loads(TINY), "mask": "4,4,12,12", "k": 3, "steps": 2, "wandb": False, **kwargs}
    steer_run("discover", "manifold", out=str(out), **kwargs)


def test_command_refuses_an_existing_report_unless_overwrite(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "manifold.json").write_text("{}")
    with pytest.raises(SteerError, match="already holds a report.*--overwrite"):
        run_command(out)
    assert (out / "manifold.json").read_text() == "{}"
    run_command(out, overwrite=True)
    assert "outside_inside_ratio" in json.loads((out / "manifold.json").read_text())


def test_command_refuses_a_mask_outside_the_image_and_lpips_without_weights(tmp_path, monkeypatch):
    with pytest.raises(SteerError, match="outside the 16×16 image"):
        run_command(tmp_path / "r", mask="4,4,20,12")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))  # no AlexNet weights there
    with pytest.raises(SteerError, match="alexnet-owt.*--distance l2"):
        run_command(tmp_path / "r", distance="lpips")
    assert not (tmp_path / "r").exists()
