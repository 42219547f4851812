"""Algorithm 1 (trajectories by inversion) on a generator whose shift direction is known."""

import json
import math

import pytest
import torch

from steer.discovery.trajectories import sharpness, trajectories
from steer.edits import Color, ShiftX, Zoom
from steer.errors import SteerError
from steer.formats.trajectories import load_records, save_records
from steer.generators import DCGAN, Generator
from steer.losses import MaskedL2, MaskedLowPass
from tests.support.scripts import run_script
from tests.support.steer_run import steer_run

U = torch.tensor([1.0, 1.0, 0.0, 0.0]) / math.sqrt(2)  # the shift direction
PIXELS_PER_UNIT = 2.0


class BlobGenerator(Generator):
    """A Gaussian blob at x = 8 + 2⟨u, z⟩ pixels, y = 8, on a 16 px dark image: ShiftX by t is Δ⟨u, z⟩ = t/2."""

    def __init__(self) -> None:
        super().__init__(latent_dim=4, resolution=16)
        self.u = torch.nn.Parameter(U.clone())  # a weight, so that freezing is visible

    def synthesize(self, z, y):
        x = 8 + PIXELS_PER_UNIT * (z @ self.u)
        cols = torch.arange(16) + 0.5
        blob = torch.exp(-((cols - x[:, None]) ** 2)[:, None, :] / (2 * 1.5**2) - ((cols - 8)[:, None] ** 2) / (2 * 1.5**2))
        return (2 * blob - 1)[:, None].expand(-1, 3, -1, -1)


def starts(n=6):
    z = torch.randn(n, 4, generator=torch.Generator().manual_seed(0)) * 0.3
    return z - (z @ U)[:, None] * U  # blobs at the centre


def test_inversions_move_along_the_shift_direction_by_the_requested_amount():
    generator, z0 = BlobGenerator(), starts()
    records = trajectories(generator, ShiftX(max_shift=4), z0, [-2, -1, 0, 1, 2], MaskedL2(), steps=80, lr=0.05,
                           progress=False)
    assert len(records) == 4 * len(z0) and 0.0 not in records.t.tolist()  # the identity is skipped
    moved = records.z_t - records.z0
    along = moved @ U
    assert torch.allclose(along, records.t / PIXELS_PER_UNIT, atol=0.05)
    assert (moved - along[:, None] * U).norm(dim=1).max() < 1e-4  # nothing orthogonal to u moves
    assert torch.equal(records.delta, records.t) and records.loss.max() < 1e-3
    assert torch.equal(records.z0, z0[records.start])
    assert not generator.u.requires_grad and not generator.training  # frozen


def test_latents_stay_in_the_ball_of_radius_sqrt_d():
    generator = BlobGenerator()
    z0 = torch.randn(5, 4, generator=torch.Generator().manual_seed(1)) * 3  # most outside the ball
    records = trajectories(generator, ShiftX(max_shift=8), z0, [6.0, 12.0], MaskedL2(), steps=30, lr=0.1,
                           progress=False)
    radius = math.sqrt(4)
    assert records.z0.norm(dim=1).max() <= radius * (1 + 1e-6)
    assert records.z_t.norm(dim=1).max() <= radius * (1 + 1e-6)
    assert torch.isclose(records.z0.norm(dim=1), torch.tensor(radius)).any()


def test_warm_start_carries_each_solution_outwards():
    """With a small budget per target only the stepwise path (each target from the last solution) gets far."""
    generator, z0 = BlobGenerator(), starts(4)
    path = trajectories(generator, ShiftX(max_shift=4), z0, [0.5, 1.0, 1.5, 2.0], MaskedL2(), steps=12, lr=0.02,
                        progress=False)
    direct = trajectories(generator, ShiftX(max_shift=4), z0, [2.0], MaskedL2(), steps=12, lr=0.02, progress=False)
    far = path.t == 2.0
    assert ((path.z_t[far] - path.z0[far]) @ U).min() > 0.8  # 2 px = 1 unit
    assert ((direct.z_t - direct.z0) @ U).max() < 0.4
    assert path.loss[far].mean() < direct.loss.mean() / 10


def test_records_keep_their_order_and_both_signs_walk_outwards():
    records = trajectories(BlobGenerator(), ShiftX(max_shift=4), starts(3), [2, -1, 1, -2], MaskedLowPass(),
                           steps=5, progress=False)
    assert records.t.tolist() == [1.0] * 3 + [2.0] * 3 + [-1.0] * 3 + [-2.0] * 3
    assert records.settings["loss"]["class_path"] == "steer.losses.MaskedLowPass"
    assert records.settings["edit"] == {"class_path": "steer.edits.ShiftX",
                                        "init_args": {"max_shift": 4, "raw_alpha": False}}


def test_multiplicative_edit_records_log_factor_changes():
    records = trajectories(DCGAN(latent_dim=8, resolution=16, width=4), Zoom(), torch.randn(2, 8), [0.5, 1.0, 2.0],
                           MaskedL2(), steps=2, progress=False)
    assert sorted(records.t.unique().tolist()) == [0.5, 2.0]
    assert torch.allclose(records.delta, records.t.log())


def test_records_round_trip_and_foreign_files_are_refused(tmp_path):
    records = trajectories(BlobGenerator(), ShiftX(max_shift=4), starts(2), [1.0], MaskedL2(), steps=2, progress=False)
    save_records(records, tmp_path / "records.pt")
    back = load_records(tmp_path / "records.pt")
    assert torch.equal(back.z_t, records.z_t) and back.settings == records.settings
    assert len(back.best(0.5)) == 1 and back.best(0.5).loss[0] == records.loss.min()
    torch.save({"z0": torch.zeros(2, 4)}, tmp_path / "other.pt")
    with pytest.raises(SteerError, match="not a trajectory records file"):
        load_records(tmp_path / "other.pt")


def test_bad_requests_are_user_errors():
    generator = BlobGenerator()
    with pytest.raises(SteerError, match="one-slider edit"):
        trajectories(generator, Color(), starts(2), [0.1], MaskedL2(), progress=False)
    with pytest.raises(SteerError, match=r"z0 must be \(N, 4\)"):
        trajectories(generator, ShiftX(4), torch.zeros(2, 3), [1.0], MaskedL2(), progress=False)


def test_sharpness_compares_both_losses_on_the_same_latents():
    result = sharpness(DCGAN(latent_dim=8, resolution=16, width=4), ShiftX(max_shift=4), [2.0], n=2, steps=2)
    assert set(result) == {"lowpass", "mse", "lowpass_mse", "mse_mse"}
    assert all(math.isfinite(v) and v >= 0 for v in result.values())


@pytest.mark.slow
def test_evaluate_trajectories_writes_its_report_and_refuses_an_existing_one(tmp_path):
    generator = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}
    edit = {"class_path": "steer.edits.ShiftX", "init_args": {"max_shift": 4}}
    done = run_script("evaluate.py", "trajectories", "--generator", json.dumps(generator), "--edit", json.dumps(edit),
                      "--ts", "[-2, -1, 1, 2]", "--n", "3", "--steps", "3", "--loss", "lowpass", "--out", "report",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "trajectories.json").read_text())
    assert report["ts"] == [-2.0, -1.0, 1.0, 2.0] and len(report["mean_loss"]) == 4
    assert report["settings"]["loss"]["class_path"] == "steer.losses.MaskedLowPass" and report["provenance"]["command"]
    assert len(load_records(tmp_path / "report" / "records.pt")) == 12
    for name in ("trajectories.png", "trajectories.gif"):
        assert (tmp_path / "report" / name).stat().st_size > 500
    assert list((tmp_path / "runs" / "wandb").glob("offline-run-*/files/media/images/trajectories/grid_*.png"))

    def again(**kwargs):
        steer_run("discover", "trajectories", edit=edit, ts=[1.0], out=str(tmp_path / "report"), generator=generator,
                  n=2, steps=1, wandb=False, **kwargs)

    with pytest.raises(SteerError, match="already holds a report.*--overwrite"):
        again()
    again(overwrite=True)
    assert json.loads((tmp_path / "report" / "trajectories.json").read_text())["ts"] == [1.0]
