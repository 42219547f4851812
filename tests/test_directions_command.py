"""steer discover sefa|pca: SeFa and PCA directions saved as a direction file with a grid, a GIF and a JSON."""

import json
import re

import pytest
import torch
from PIL import Image

from steer.discovery import load_directions
from steer.errors import SteerError
from steer.walks import DirectionWalk
from tests.support.scripts import run_script
from tests.support.steer_run import steer_fails, steer_run

SPEC = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}
FILES = ("directions.pt", "directions.png", "directions.gif", "directions.json")


def find(out, method="sefa", **options):
    steer_run("discover", method, out=str(out), **{"generator": SPEC, "k": 3, "wandb": False, **options})


@pytest.mark.slow
def test_sefa_report_holds_the_file_grid_gif_and_json_and_is_logged_offline(tmp_path):
    result = run_script("evaluate.py", "directions", "--method", "sefa", "--generator", json.dumps(SPEC), "--k", "3",
                        "--out", "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^sefa: 3 directions in \d+\.\d{3} s$", result.stdout, re.MULTILINE)
    out = tmp_path / "report"
    summary = json.loads((out / "directions.json").read_text())
    assert summary["method"] == "sefa" and summary["score_name"] == "eigenvalue"
    assert summary["generator"]["class_path"] == SPEC["class_path"]
    assert summary["generator"]["init_args"].items() >= SPEC["init_args"].items()  # the spec, defaults resolved
    assert len(summary["scores"]) == 3 and summary["seconds"] < 1.0
    assert summary["provenance"]["config"]["command"] == "discover sefa"
    found = load_directions(out / "directions.pt", latent_dim=8)
    torch.testing.assert_close(found.directions @ found.directions.T, torch.eye(3), atol=1e-5, rtol=0)
    assert found.scores.tolist() == pytest.approx(summary["scores"]) and found.generator == summary["generator"]
    assert Image.open(out / "directions.gif").n_frames == 2 * 7 - 2  # 7 steps, played forward and back
    assert Image.open(out / "directions.png").size[1] > 200
    run = next((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert list(run.glob("files/media/images/directions/grid_*.png"))
    assert list(run.glob("files/media/videos/directions/walk_*.gif"))


@pytest.mark.slow
def test_pca_report_records_its_settings_and_the_file_drives_a_walk(tmp_path):
    result = run_script("evaluate.py", "directions", "--method", "pca", "--generator", json.dumps(SPEC), "--k", "4",
                        "--layer", "main.2", "--n", "64", "--batch_size", "32", "--steps", "3", "--latents", "2",
                        "--out", "report", "--wandb", "false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^pca: 4 directions in \d+\.\d{3} s$", result.stdout, re.MULTILINE)
    summary = json.loads((tmp_path / "report" / "directions.json").read_text())
    assert summary["params"] == {"layer": "main.2", "n": 64, "batch_size": 32, "seed": 0}
    assert summary["score_name"] == "explained variance ratio" and 0 < sum(summary["scores"]) < 1
    assert summary["alphas"] == [-3.0, 0.0, 3.0]
    found = load_directions(tmp_path / "report" / "directions.pt")
    walk = DirectionWalk(8, path=str(tmp_path / "report" / "directions.pt"), index=1, scale=2.0)
    z = torch.zeros(1, 8)
    torch.testing.assert_close(walk(z, torch.ones(1, 1)), 2.0 * found.directions[1:2])
    assert not (tmp_path / "runs").exists()


def test_same_seed_same_directions_and_pictures(tmp_path):
    for name in ("a", "b"):
        torch.manual_seed(0)  # the spec's DCGAN draws its initial weights from the global generator
        find(tmp_path / name, method="pca", layer="main.2", n=40, batch_size=20, steps=2, latents=1)
    assert torch.equal(load_directions(tmp_path / "a" / "directions.pt").directions,
                       load_directions(tmp_path / "b" / "directions.pt").directions)
    assert (tmp_path / "a" / "directions.gif").read_bytes() == (tmp_path / "b" / "directions.gif").read_bytes()


def test_existing_report_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "directions.json").write_text("{}")
    with pytest.raises(SteerError, match="already holds a report.*--overwrite"):
        find(out)
    assert (out / "directions.json").read_text() == "{}" and not (out / "directions.pt").exists()
    find(out, overwrite=True)
    assert json.loads((out / "directions.json").read_text())["method"] == "sefa"


ZOOMING = {"class_path": "tests.support.known_direction.ZoomingGenerator"}  # has neither first_projection nor features


@pytest.mark.parametrize("options, message", [
    (dict(method="pca"), "PCA on DCGAN needs --layer, the module path of the layer whose features to analyse, "
                         "e.g. main, main.0, main.1, main.2, main.3, main.4."),
    (dict(method="ica"), "invalid choice: 'ica'"),
    (dict(k=9), "1 to latent_dim=8 directions; asked for k=9"),
    (dict(method="pca", layer="99"), "DCGAN has no layer '99'; layers are module paths from the generator: main, "),
    (dict(steps=1), "steps ≥ 2"),
    (dict(generator=ZOOMING), "does not expose its first projection"),
    (dict(generator=ZOOMING, method="pca", layer="0"), "ZoomingGenerator has no layer '0'; layers are module paths "
                                                       "from the generator: texture, norm."),
])
def test_bad_requests_are_refused_and_write_nothing(tmp_path, capsys, options, message):
    method = options.pop("method", "sefa")
    assert message in steer_fails(capsys, "discover", method, out=str(tmp_path / "report"),
                                  **{"generator": SPEC, "k": 3, "wandb": False, **options})
    assert not (tmp_path / "report").exists()



def test_the_record_names_the_checkpoint_the_spec_or_the_default_generators_class(tmp_path, monkeypatch):
    from steer.discovery.direction_report import generator_record
    from steer.generators import DCGAN

    monkeypatch.chdir(tmp_path)
    g = DCGAN(latent_dim=8, resolution=8, width=2)
    assert generator_record(g, "runs/last.ckpt", None) == {"checkpoint": str(tmp_path / "runs" / "last.ckpt")}
    assert generator_record(g, None, SPEC) == SPEC
    assert generator_record(g, None, None) == {"class_path": "steer.generators.dcgan.DCGAN", "init_args": {}}
