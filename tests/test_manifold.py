"""Mask-guided manifold discovery (docs/methods.md §3): the region changes, the rest stays, the springs spread."""

import json

import pytest
import torch

from steer.discovery.manifold import (
    MaskRegion,
    manifold,
    random_direction_ratios,
    random_direction_sequences,
    springs,
)
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


def test_the_ratio_is_printed_beside_a_random_direction_baseline_that_it_beats(found):
    # Patches: coordinates 0-2 paint only the mask, 3-7 everything, so a random direction changes the outside too
    mean, std = found.random_ratio
    assert found.random_ratios.shape == (8,) and std > 0
    assert found.ratio < 0.5 * mean and mean > 0.3
    assert f"{found.ratio:.3f} (random directions with the same steps: {mean:.3f} ± {std:.3f}, 8 draws)" in (
        found.ratio_line())
    summary = found.to_json()["random_direction_ratio"]
    assert summary["mean"] == pytest.approx(mean) and len(summary["draws"]) == 8


def test_the_baseline_walks_the_sequences_steps_along_random_directions_and_is_seeded(found):
    draw = lambda: rng(0, "manifold", "random-directions")  # noqa: E731
    movable = torch.ones(8)
    sequences = random_direction_sequences(found.seed_latent, found.latents, movable, 5, draw())
    assert torch.equal(sequences, random_direction_sequences(found.seed_latent, found.latents, movable, 5, draw()))
    steps = (torch.diff(sequences, dim=1, prepend=found.seed_latent.expand(5, 1, 8))).norm(dim=2)
    assert torch.allclose(steps, found.spacing.expand(5, -1), atol=1e-5)  # the same step sizes, straight lines
    g = Patches().freeze()
    args = (g, found.seed_latent, found.latents, found.seed_frame, MaskRegion(4, 4, 12, 12).mask(16))
    assert torch.equal(random_direction_ratios(*args, draws=8, seed=0), found.random_ratios)
    assert not torch.equal(random_direction_ratios(*args, draws=8, seed=1), found.random_ratios)


def test_the_baseline_moves_only_walk_mask_coordinates():
    class CentreOnly(Patches):  # only the coordinates that paint the mask may move: nothing changes outside
        @property
        def walk_mask(self):
            return torch.tensor([1.0, 1, 1, 0, 0, 0, 0, 0])

    g = CentreOnly().freeze()
    z = seed_latent(g)
    latents = z + 0.3 * torch.arange(1, 4.0)[:, None] * torch.nn.functional.one_hot(torch.tensor(0), 8)
    ratios = random_direction_ratios(g, z[0], latents, g(z)[0], MaskRegion(4, 4, 12, 12).mask(16), draws=4, seed=0)
    assert ratios.max() < 1e-5  # float rounding of the einsum only


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
    with pytest.raises(SteerError, match="random_draws must be ≥ 2"):
        manifold(tiny, z, MaskRegion(4, 4, 12, 12), random_draws=1)


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
    assert "random directions with the same steps" in done.stdout and len(summary["random_direction_ratio"]["draws"]) == 8
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
