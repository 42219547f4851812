"""Walk checkpoints reference their pretrained generator's weights file (spec, path, sha256) instead of embedding it.

The pretrained DigiFace DCGAN is read from a copy of its weights file (its ``weights`` option), which tests move,
change and delete.
"""

import shutil
from pathlib import Path

import pytest
import torch

import steer
from steer import checkpoint
from steer.config import build
from steer.errors import SteerError
from steer.formats.provenance import file_sha256, provenance
from steer.generators.digiface import digiface_weights_path
from steer.generators.trained import load_generator
from steer.modules import WalkModule
from tests.support.nvlabs_writer import write_nvlabs_pickle
from tests.support.steer_run import steer_fails
from tests.support.tiny_generators import STYLEGAN2 as TINY_STYLEGAN2
from tests.support.tiny_generators import save_stylegan2

MB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "digiface" / "zoom_linear.yaml"
SPRITES_GAN = ROOT / "checkpoints" / "sprites" / "gan_biased_x.ckpt"


def digiface(weights: Path) -> dict:
    return {"class_path": "steer.generators.DigiFaceDCGAN", "init_args": {"weights": str(weights)}}


def model_config(generator: dict, **options) -> dict:
    return {"class_path": "steer.modules.WalkModule",
            "init_args": {"generator": generator, "edit": {"class_path": "steer.edits.Zoom"}, **options}}


def save_walk(path: Path, generator: dict, **options) -> Path:
    """A walk checkpoint as `steer fit` writes it (state dict, record, the module's save hook), with a random walk."""
    config = {"model": model_config(generator, **options)}
    module = build(config["model"], WalkModule, "walk")
    torch.nn.init.normal_(module.walk.w, generator=torch.Generator().manual_seed(0))
    ckpt = {"state_dict": module.state_dict(), "steer": provenance(config, module.generator)}
    module.on_save_checkpoint(ckpt)
    return checkpoint.save(ckpt, path)


def altered(weights: Path, to: Path, by: float = 1e-3) -> Path:
    """A copy of the DigiFace weights file ``weights`` at ``to`` with one weight moved by ``by``."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state["netG_state_dict"]["main.0.weight"] += by
    torch.save(state, to)
    return to


@pytest.fixture
def weights(tmp_path) -> Path:
    """A copy of the DigiFace DCGAN weights file."""
    return Path(shutil.copy(digiface_weights_path(), tmp_path / "digiface.tar"))


@pytest.fixture
def walk(tmp_path, weights) -> Path:
    return save_walk(tmp_path / "walk.ckpt", digiface(weights))


def test_a_walk_on_a_pretrained_generator_references_its_weights_file_instead_of_embedding_them(walk, weights):
    ckpt = torch.load(walk, weights_only=True)
    entry = ckpt["steer"]["generator"]
    assert entry["weights"] == "reference" and entry["option"] == "weights"
    assert entry["files"] == [{"path": str(weights), "sha256": file_sha256(str(weights))}]
    assert list(ckpt["state_dict"]) == ["walk.w"]
    assert walk.stat().st_size < MB < weights.stat().st_size


def test_a_referenced_walk_loads_with_the_generator_read_from_its_file(walk, weights):
    fresh = build(digiface(weights), torch.nn.Module, "generator")
    for loaded in (steer.load(walk).generator, WalkModule.load_from_checkpoint(walk).generator, load_generator(walk)):
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), fresh.state_dict().values()))
    saved = torch.load(walk, weights_only=True)["state_dict"]["walk.w"]
    assert torch.equal(steer.load(walk).walk.w, saved)


@pytest.mark.parametrize("kind", ["DigiFaceDCGAN", "TrainedGenerator"])
def test_embed_generator_keeps_the_weights_and_loads_after_the_weights_file_is_gone(tmp_path, weights, kind):
    if kind == "TrainedGenerator":  # a walk on a GAN steer trained: its weights file is the GAN's checkpoint
        weights = Path(shutil.copy(SPRITES_GAN, tmp_path / "gan.ckpt"))
        spec = {"class_path": "steer.generators.TrainedGenerator", "init_args": {"checkpoint": str(weights)}}
    else:
        spec = digiface(weights)
    referenced = save_walk(tmp_path / "referenced.ckpt", spec)
    walk = save_walk(tmp_path / "embedded.ckpt", spec, embed_generator=True)
    assert torch.load(walk, weights_only=True)["steer"]["generator"]["weights"] == "embedded"
    assert walk.stat().st_size > weights.stat().st_size / 10 > referenced.stat().st_size
    before = steer.load(walk).images(n=2)
    weights.unlink()
    model = steer.load(walk)  # the network without the file; the weights from the checkpoint
    assert torch.equal(model.images(n=2), before)
    with pytest.raises(SteerError, match="references are gone"):
        steer.load(referenced)


def test_a_generator_that_reads_no_weights_file_is_embedded(tmp_path):
    walk = save_walk(tmp_path / "walk.ckpt", {"class_path": "steer.generators.DCGAN",
                                              "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}})
    ckpt = torch.load(walk, weights_only=True)
    assert ckpt["steer"]["generator"]["weights"] == "embedded" and ckpt["steer"]["generator"]["files"] == []
    assert any(k.startswith("generator.") for k in ckpt["state_dict"])
    assert torch.equal(steer.load(walk).generator.main[0].weight, ckpt["state_dict"]["generator.main.0.weight"])


def test_a_moved_weights_file_is_given_anew_with_the_generator_option(walk, weights, tmp_path):
    moved = weights.rename(tmp_path / "elsewhere.tar")
    model = steer.load(walk, generator=digiface(moved))
    assert torch.equal(model.walk.w, torch.load(walk, weights_only=True)["state_dict"]["walk.w"])


# -- bad input ----------------------------------------------------------------------------
def test_a_checkpoint_whose_referenced_weights_moved_says_where_and_how_to_point_steer_at_them(walk, weights, capsys):
    weights.unlink()
    for load in (steer.load, WalkModule.load_from_checkpoint, load_generator):
        with pytest.raises(SteerError, match=r"digiface\.tar that the walk in .*walk\.ckpt references are gone.*"
                                             r"--model\.init_args\.generator\.init_args\.weights PATH"):
            load(walk)
    line = steer_fails(capsys, "evaluate", "steerability", "--checkpoint", str(walk), "--out", str(walk.parent / "r"),
                       "--n", "2", "--wandb", "false")
    assert "references are gone" in line and not (walk.parent / "r").exists()


def test_a_checkpoint_whose_referenced_weights_changed_is_refused(walk, weights, capsys):
    altered(weights, weights)
    with pytest.raises(SteerError, match=r"digiface\.tar changed since the walk in .*walk\.ckpt was trained on them "
                                         r"\(recorded sha256 [0-9a-f]{12}…, now sha256 [0-9a-f]{12}…\)"):
        steer.load(walk)
    line = steer_fails(capsys, "evaluate", "steerability", "--checkpoint", str(walk), "--out", str(walk.parent / "r"),
                       "--n", "2", "--wandb", "false")
    assert "changed since the walk" in line


def test_weights_given_anew_with_other_bytes_are_refused(walk, weights, tmp_path):
    other = altered(weights, tmp_path / "other.tar")
    with pytest.raises(SteerError, match=r"other\.tar given for the walk in .*walk\.ckpt are not the ones it was "
                                         r"trained on \(.*digiface\.tar, sha256"):
        steer.load(walk, generator=digiface(other))
    with pytest.raises(SteerError, match="are not the ones it was trained on"):
        WalkModule.load_from_checkpoint(walk, generator=digiface(other))


# -- through the command line: the demo's checkpoint, resumed and evaluated ------------------------------------------
def fit(dirpath: Path, steps: int, *extra: str) -> list[str]:
    return ["fit", "--config", str(DEMO), "--trainer.logger", "false", "--trainer.max_steps", str(steps),
            "--trainer.val_check_interval", "2", "--data.init_args.batch_size", "2", "--data.init_args.val_size", "2",
            "--checkpoint.dirpath", str(dirpath), *extra]


@pytest.mark.slow
def test_the_demo_walk_checkpoint_is_small_and_resumes_and_evaluates(tmp_path):
    from steer.cli import SteerCLI
    from tests.support.steer_run import steer_run

    SteerCLI(args=fit(tmp_path / "run", 2))
    last = tmp_path / "run" / "last.ckpt"
    assert last.stat().st_size < MB
    SteerCLI(args=fit(tmp_path / "run", 4, "--ckpt_path", "last"))
    assert torch.load(last, weights_only=True)["global_step"] == 4 and last.stat().st_size < MB
    steer_run("evaluate", "steerability", checkpoint=str(last), out=str(tmp_path / "report"), n=2, batch_size=2,
              wandb=False)
    assert (tmp_path / "report" / "metrics.json").is_file()


@pytest.mark.slow
def test_resuming_a_walk_whose_weights_moved_or_changed_is_refused_and_writes_nothing(tmp_path, weights, capsys):
    from steer.cli import SteerCLI

    option = "--model.init_args.generator.init_args.weights"
    SteerCLI(args=fit(tmp_path / "run", 2, option, str(weights)))
    last, config = tmp_path / "run" / "last.ckpt", tmp_path / "run" / "config.yaml"
    saved = last.read_bytes(), config.read_bytes()
    moved = weights.rename(tmp_path / "moved.tar")
    line = steer_fails(capsys, *fit(tmp_path / "run", 4, option, str(weights), "--ckpt_path", "last"))
    assert "references are gone" in line and option in line
    line = steer_fails(capsys, "validate", "--config", str(DEMO), option, str(weights), "--trainer.logger", "false",
                       "--ckpt_path", str(last))
    assert "references are gone" in line
    changed = altered(moved, tmp_path / "changed.tar")
    line = steer_fails(capsys, *fit(tmp_path / "run", 4, option, str(changed), "--ckpt_path", "last"))
    assert "are not the ones it was trained on" in line
    assert (last.read_bytes(), config.read_bytes()) == saved
    SteerCLI(args=fit(tmp_path / "run", 4, option, str(moved), "--ckpt_path", "last"))  # the new place of the same bytes
    assert torch.load(last, weights_only=True)["global_step"] == 4


def stylegan2_spec(tmp_path: Path) -> dict:
    save_stylegan2(tmp_path / "stylegan2.pt")
    return {"class_path": "steer.generators.StyleGAN2",
            "init_args": {"checkpoint": str(tmp_path / "stylegan2.pt"), **TINY_STYLEGAN2}}


def nvlabs_spec(tmp_path: Path) -> dict:
    write_nvlabs_pickle(tmp_path / "network.pkl")
    return {"class_path": "steer.generators.NVlabsStyleGAN", "init_args": {"pickle": str(tmp_path / "network.pkl")}}


def custom_spec(tmp_path: Path) -> dict:
    spec = {"model_class": "tests.support.user_models.TinyDeconv", "latent_dim": 6, "resolution": 8,
            "latent_shape": "image"}
    generator = build({"class_path": "steer.generators.CustomGenerator", "init_args": spec}, torch.nn.Module, "g")
    torch.save(generator.module.state_dict(), tmp_path / "weights.pt")
    return {"class_path": "steer.generators.CustomGenerator",
            "init_args": {**spec, "weights": str(tmp_path / "weights.pt")}}


@pytest.mark.parametrize("spec", [stylegan2_spec, nvlabs_spec, custom_spec], ids=["StyleGAN2", "NVlabs", "custom"])
def test_every_family_with_a_weights_file_is_referenced_and_reloads(tmp_path, spec):
    generator = spec(tmp_path)
    walk = save_walk(tmp_path / "walk.ckpt", generator)
    entry = torch.load(walk, weights_only=True)["steer"]["generator"]
    option = {"StyleGAN2": "checkpoint", "NVlabsStyleGAN": "pickle", "CustomGenerator": "weights"}
    assert entry["weights"] == "reference" and entry["option"] == option[generator["class_path"].rsplit(".", 1)[1]]
    assert list(torch.load(walk, weights_only=True)["state_dict"]) == ["walk.w"]
    fresh = build(generator, torch.nn.Module, "generator")
    loaded = steer.load(walk, trust=["tests.support.user_models"]).generator
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), fresh.state_dict().values()))
