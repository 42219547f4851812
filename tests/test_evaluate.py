"""evaluate.py steerability: the report, its figures, and every bad input."""

import json

import pytest
import torch

from steer.cli import SteerCLI
from steer.edits import Color, Zoom
from steer.errors import SteerError
from steer.evaluation.steerability import Steerability, measure
from steer.walks import Walk
from tests.support.known_direction import ZoomingGenerator
from tests.support.scripts import run_script
from tests.support.steer_run import steer_run


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tests.support.scripts import ROOT

    folder = tmp_path_factory.mktemp("trained")
    SteerCLI(args=["fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false",
                   "--checkpoint.dirpath", str(folder)])
    return folder / "last.ckpt"


def evaluate(checkpoint, out, **kwargs):
    options = {"checkpoint": None if checkpoint is None else str(checkpoint), "n": 8, "batch_size": 4, "wandb": False}
    steer_run("evaluate", "steerability", out=str(out), **{**options, **kwargs})


def direction_walk(tmp_path, latent_dim, axis):
    """A --walk spec: DirectionWalk along the latent axis ``axis``, from a direction file written to tmp_path."""
    from steer.discovery import Directions, save_directions

    path = tmp_path / "directions.pt"
    save_directions(path, Directions(torch.eye(latent_dim)[[axis]], torch.ones(1), "sefa", {}))
    return {"class_path": "steer.walks.DirectionWalk", "init_args": {"path": str(path)}}


@pytest.mark.slow
def test_report_has_metrics_curves_grid_and_gif(checkpoint, tmp_path):
    evaluate(checkpoint, tmp_path / "report")
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    n = len(Zoom().test_alphas())
    for key in ("alphas", "walk_error", "baseline_error", "achieved_alpha"):
        assert len(metrics[key]) == n
    assert set(metrics["limit"]) == {"negative", "positive"} and "Zoom" in metrics["edit"]
    assert metrics["trained"]["config"]["model"]["init_args"]["edit"]["class_path"] == "steer.edits.Zoom"
    identity = metrics["alphas"].index(1.0)
    assert metrics["walk_error"][identity] < 1e-12 and metrics["achieved_alpha"][identity] == 1.0
    for name in ("curves.png", "walk_grid.png", "walk.gif"):
        assert (tmp_path / "report" / name).stat().st_size > 1000


@pytest.mark.slow
def test_report_is_logged_to_an_offline_wandb_run(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evaluate(checkpoint, tmp_path / "report", wandb=True)
    run = next((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert list(run.glob("files/media/images/steerability/curves_*.png"))
    assert list(run.glob("files/media/videos/steerability/walk_*.gif"))


@pytest.mark.slow
def test_existing_report_is_refused_unless_overwrite(checkpoint, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(SteerError, match="already holds a report.*--overwrite"):
        evaluate(checkpoint, out)
    assert (out / "metrics.json").read_text() == "{}"
    evaluate(checkpoint, out, overwrite=True)
    assert "walk_error" in json.loads((out / "metrics.json").read_text())


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SteerError, match="does not exist"):
        evaluate(tmp_path / "nope.ckpt", tmp_path / "r")


def test_file_that_is_not_a_steer_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    with pytest.raises(SteerError, match="not a steer checkpoint"):
        evaluate(tmp_path / "other.ckpt", tmp_path / "r")


@pytest.mark.slow
def test_corrupted_and_truncated_checkpoints(checkpoint, tmp_path):
    data = checkpoint.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(SteerError, match="corrupted, truncated"):
        evaluate(tmp_path / "cut.ckpt", tmp_path / "r")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(SteerError, match="empty"):
        evaluate(tmp_path / "empty.ckpt", tmp_path / "r")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_that_needs_code_execution_is_refused_not_run(tmp_path, capsys):
    torch.save({"steer": Payload(), "state_dict": {}}, tmp_path / "evil.ckpt")
    with pytest.raises(SteerError, match="refuses such files"):
        evaluate(tmp_path / "evil.ckpt", tmp_path / "r")
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.slow
def test_generator_other_than_the_walks_is_refused(checkpoint, tmp_path):
    other_size = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 12, "resolution": 16, "width": 4}}
    with pytest.raises(SteerError, match="do not fit|latent"):
        evaluate(checkpoint, tmp_path / "r", generator=other_size)
    other_family = {"class_path": "steer.generators.DigiFaceDCGAN"}
    with pytest.raises(SteerError, match="trained on steer.generators.DCGAN, not on the given steer.generators.DigiFaceDCGAN"):
        evaluate(checkpoint, tmp_path / "r", generator=other_family)
    assert not (tmp_path / "r").exists()


def test_a_discovered_direction_is_evaluated_with_walk_and_edit_on_a_generator(tmp_path):
    walk = direction_walk(tmp_path, 5, axis=4)  # ZoomingGenerator zooms by exp(z[:, 4])
    generator = {"class_path": "tests.support.known_direction.ZoomingGenerator", "init_args": {"latent_dim": 5}}
    evaluate(None, tmp_path / "r", generator=generator, walk=walk, edit={"class_path": "steer.edits.Zoom"})
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    moved = [a != 1.0 for a in metrics["alphas"]]
    walk_error = [e for e, m in zip(metrics["walk_error"], moved) if m]
    baseline = [e for e, m in zip(metrics["baseline_error"], moved) if m]
    assert all(w < 0.05 * b for w, b in zip(walk_error, baseline))  # the direction is the zoom
    made_by = metrics["provenance"]["config"]  # the resolved options of the command
    assert made_by["checkpoint"] is None and made_by["generator"]["class_path"] == generator["class_path"]
    assert made_by["edit"]["class_path"] == "steer.edits.Zoom" and made_by["walk"]["init_args"]["path"] == walk["init_args"]["path"]


@pytest.mark.slow
def test_walk_replaces_the_checkpoints_walk_on_its_generator_and_edit(checkpoint, tmp_path):
    from steer.restore import load_generator

    walk = direction_walk(tmp_path, load_generator(str(checkpoint)).latent_dim, axis=0)
    evaluate(checkpoint, tmp_path / "r", walk=walk)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    made_by = metrics["provenance"]["config"]
    assert "Zoom" in metrics["edit"] and made_by["walk"]["class_path"] == walk["class_path"]
    assert made_by["checkpoint"] == str(checkpoint) and made_by["edit"] is None


@pytest.mark.parametrize("options, message", [
    ({}, r"needs a trained walk \(--checkpoint RUN/last.ckpt\), or a walk to try and its edit \(--walk and --edit"),
    ({"walk": "WALK"}, r"needs a trained walk .*, or a walk to try and its edit \(--walk and --edit"),
    ({"checkpoint": "GAN"}, "gan_white.ckpt holds no edit to measure the walk against; give --edit"),
    ({"checkpoint": "GAN", "edit": {"class_path": "steer.edits.ShiftX"}}, "gan_white.ckpt holds no walk; give one with --walk"),
])
def test_walk_and_edit_that_are_missing_are_named(tmp_path, options, message):
    from tests.support.scripts import ROOT

    gan = ROOT / "checkpoints" / "sprites" / "gan_white.ckpt"
    options = {**options, **({"walk": direction_walk(tmp_path, 16, 0)} if "walk" in options else {})}
    checkpoint = gan if options.pop("checkpoint", None) == "GAN" else None
    generator = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 16, "resolution": 16, "width": 4}}
    with pytest.raises(SteerError, match=message):
        evaluate(checkpoint, tmp_path / "r", **options, **({} if checkpoint else {"generator": generator}))
    assert not (tmp_path / "r").exists()


def test_a_walk_whose_direction_file_is_missing_gets_the_walks_own_message(tmp_path):
    generator = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 4, "resolution": 16, "width": 4}}
    walk = {"class_path": "steer.walks.DirectionWalk", "init_args": {"path": str(tmp_path / "none.pt")}}
    with pytest.raises(SteerError, match=r"^direction file .*none.pt does not exist. Check the path.$"):
        evaluate(None, tmp_path / "r", generator=generator, walk=walk, edit={"class_path": "steer.edits.ShiftX"})
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = run_script("evaluate.py", "steerability", "--checkpoint", "missing.ckpt", "--out", "r", cwd=tmp_path)
    assert result.returncode == 2 and "missing.ckpt does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def synthetic(edit, achieved, alphas=None):
    alphas = edit.test_alphas() if alphas is None else alphas
    zeros = torch.zeros(len(alphas))
    empty = torch.zeros(len(alphas), 1, 3, 4, 4)
    return Steerability(edit, alphas, zeros, zeros, achieved, 0.8, empty, empty, 1)


def test_limit_is_the_last_alpha_before_the_walk_stops_following_on_each_side():
    edit = Zoom()
    alphas = edit.test_alphas()  # 0.25 … 4, identity in the middle
    achieved = alphas.clone()
    achieved[-1] = 2.9  # ×4 requested, ×2.9 reached: log ratio 0.77 < 0.8
    achieved[0] = 0.3  # ×0.25 requested, ×0.3 reached: log ratio 0.87 ≥ 0.8, still follows
    limit = synthetic(edit, achieved).limits()
    assert limit == {"negative": 0.25, "positive": pytest.approx(2 ** 1.5)}


def test_limit_per_colour_slider_and_none_when_the_first_step_fails():
    edit = Color()
    alphas = edit.test_alphas()
    achieved = alphas.clone()
    achieved[1:5, 0] = 0  # R never moves
    limit = synthetic(edit, achieved).limits()
    assert limit["R"] == {"negative": None, "positive": None}
    assert limit["G"] == {"negative": -0.5, "positive": 0.5}


class PartialWalk(Walk):
    """Moves the zoom coordinate by 0.6 × the requested graph α."""

    def move(self, z, walk_alpha, y):
        return torch.cat([z[:, :8], z[:, 8:] + 0.6 * walk_alpha], 1)


def test_registration_finds_the_edit_strength_a_walk_really_applies():
    edit = Zoom()
    result = measure(ZoomingGenerator(), edit, PartialWalk(9), n=8, batch_size=8, progress=False)
    requested = edit.walk_alpha(result.alphas)[:, 0]
    achieved = edit.walk_alpha(result.achieved)[:, 0]
    moved = requested != 0
    assert torch.allclose(achieved[moved] / requested[moved], torch.full((int(moved.sum()),), 0.6), atol=0.05)


@pytest.mark.parametrize("edit", [Zoom(), Color()], ids=["zoom", "colour"])
def test_registration_warps_each_distinct_candidate_once_per_batch_with_the_errors_of_one_warp_per_alpha(edit):
    from steer.generators import DCGAN
    from steer.losses import MaskedL2
    from steer.objective import steer_grid
    from steer.steerability_metric import SteerabilityMetric
    from steer.walks import LinearWalk

    torch.manual_seed(0)
    generator, walk = DCGAN(latent_dim=8, resolution=16, width=4).freeze(), LinearWalk(8, edit.sliders, init_std=0.5)
    alphas = edit.test_alphas()
    metric = SteerabilityMetric(edit, alphas)
    z = generator.sample_latent(4)
    with torch.no_grad():
        pairs = list(steer_grid(generator, edit, walk, z, alphas))
        warps = []
        apply = edit.apply
        edit.apply = lambda images, alpha: (warps.append(1), apply(images, alpha))[1]
        metric.update(pairs)
        del edit.apply
        # the reference: every α warps G(z) anew at each of its own 41 candidates
        tried = [[edit.alpha_from_walk(c * metric.units[a:a + 1]) for c in metric.offsets] for a in range(len(alphas))]
        reference = torch.stack([torch.stack([MaskedL2()(p.walked, *edit(p.source, c.expand(len(z), -1)), "none").sum()
                                              for c in tried[a]]) for a, p in enumerate(pairs)])
    assert len(warps) == len(metric.candidates) < len(alphas) * 41 / 4
    assert torch.equal(metric.reg_sum, reference)
    for sums, a, b in ((metric.walk_sum, "walked", "target"), (metric.base_sum, "source", "target")):
        one_by_one = [MaskedL2()(getattr(p, a), getattr(p, b), p.mask, "none").sum() for p in pairs]
        assert torch.equal(sums, torch.stack(one_by_one))
