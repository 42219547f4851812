"""steer evaluate faces: the face detector on DigiFace samples, the walked-vs-edited analysis, the command."""

import json

import pytest
import torch

from steer.edits import Color, ShiftX, ShiftY, Zoom
from steer.errors import SteerError
from steer.evaluation.face_attributes import FaceDetector, FaceSteering, face_attribute, measure_faces
from steer.generators import DCGAN, DigiFaceDCGAN
from steer.walks import LinearWalk
from tests.support.scripts import ROOT
from tests.support.steer_run import steer_fails, steer_run

SPRITE_WALK = ROOT / "checkpoints" / "sprites" / "joint_shift_x.ckpt"  # a shift walk on a sprite (non-face) GAN


@pytest.fixture(scope="module")
def digiface():
    return DigiFaceDCGAN().eval()


def test_the_bundled_cascade_finds_digiface_faces_near_the_centre(digiface):
    with torch.no_grad():
        faces = FaceDetector()(digiface(digiface.sample(8, torch.Generator().manual_seed(0))[0]))
    found = faces[~faces[:, 0].isnan()]
    assert len(found) >= 5  # about 80 % of samples
    assert ((found[:, :2] - 32).abs() < 8).all() and ((found[:, 2] > 30) & (found[:, 2] < 64)).all()


def test_no_face_in_a_blank_image_is_nan():
    assert FaceDetector()(torch.zeros(2, 3, 64, 64)).isnan().all()


def test_each_geometric_edit_names_its_face_attribute_and_colour_has_none():
    assert [face_attribute(e) for e in (Zoom(), ShiftX(), ShiftY())] == ["size", "x", "y"]
    with pytest.raises(SteerError, match="Color moves no face attribute"):
        face_attribute(Color())


def test_rates_means_and_intersections_of_a_tiny_fixture():
    nan = float("nan")
    walked = torch.tensor([[10.0, 10.0, nan, nan], [40.0, 40.0, 40.0, 40.0]])
    edited = torch.tensor([[10.0, 10.0, 10.0, 10.0], [10.0, 10.0, 10.0, 10.0]])
    result = FaceSteering(ShiftX(), torch.tensor([[0.0], [8.0]]), "x", walked, edited, 64).to_json()
    assert result["walked"]["detection_rate"] == [0.5, 1.0] and result["edited"]["detection_rate"] == [1.0, 1.0]
    assert result["walked"]["mean"] == [10.0, 40.0] and result["walked"]["std"] == [0.0, 0.0]
    assert result["hist_intersection"] == [0.5, 0.0]  # the lost faces count against the walk
    assert result["hist_intersection_detected"] == [1.0, 0.0]  # the found ones have the same shape


def test_measure_walks_and_edits_every_test_alpha_and_refuses_a_generator_without_faces(digiface):
    found = []
    edit = ShiftX(8)

    def detector(images):
        found.append(len(images))
        return torch.full((len(images), 3), 32.0)

    result = measure_faces(digiface, edit, LinearWalk(100), detector, n=4, batch_size=2, progress=False)
    assert result.walked.shape == result.edited.shape == (len(edit.test_alphas()), 4)
    assert len(found) == 1 + 2 * 2 * len(edit.test_alphas())  # the face check once, then walked and edited per α and batch
    with pytest.raises(SteerError, match="no face found in any of 2 samples"):
        measure_faces(DCGAN(8, 16, 4), edit, LinearWalk(8), lambda x: torch.full((len(x), 3), torch.nan), n=4,
                      batch_size=2, progress=False)


def test_an_edit_without_a_face_attribute_is_refused(tmp_path, capsys):
    line = steer_fails(capsys, "evaluate", "faces", checkpoint=str(SPRITE_WALK), out=str(tmp_path / "r"),
                       edit={"class_path": "steer.edits.Color"}, wandb=False)
    assert "Color moves no face attribute" in line and not (tmp_path / "r").exists()


def test_a_generator_that_draws_no_faces_is_named(tmp_path, capsys):
    line = steer_fails(capsys, "evaluate", "faces", checkpoint=str(SPRITE_WALK), out=str(tmp_path / "r"), n=4,
                       batch_size=4, wandb=False)
    assert "no face found in any of 4 samples" in line and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_command_writes_metrics_and_the_histogram_figure(tmp_path):
    from steer.cli import SteerCLI

    SteerCLI(args=["fit", "--config", str(ROOT / "configs/digiface/zoom_linear.yaml"), "--trainer.max_steps", "2",
                   "--trainer.val_check_interval", "1", "--data.val_size", "4", "--trainer.logger", "false",
                   "--checkpoint.dirpath", str(tmp_path / "run")])
    steer_run("evaluate", "faces", checkpoint=str(tmp_path / "run" / "last.ckpt"), out=str(tmp_path / "r"), n=4,
              batch_size=4, wandb=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["attribute"] == "size" and len(metrics["hist_intersection"]) == len(Zoom().test_alphas())
    assert 0 < metrics["edited"]["detection_rate"][len(Zoom().test_alphas()) // 2] <= 1
    assert (tmp_path / "r" / "faces.png").stat().st_size > 0
