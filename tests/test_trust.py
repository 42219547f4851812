"""Nothing from a file decides what code runs: a checkpoint, direction file or CustomGenerator spec may name only
classes of steer and the libraries it trusts, or modules the user names too; nothing is imported from the
current folder because a file asks for it."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest
import torch
from pytorch_lightning import LightningModule

import steer
from steer.checkpoint import save
from steer.config import TRUST_VARIABLE, build, trusting
from steer.errors import SteerError
from steer.formats.directions import Directions, save_directions
from steer.modules import WalkModule
from steer.restore import load_module
from tests.support.steer_run import steer_fails, steer_run

# A user's model whose import leaves a mark: proof that its top-level code ran.
MODULE = '''
import pathlib
import torch

pathlib.Path({marker!r}).write_text("imported")


class Net(torch.nn.Module):
    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(latent_dim, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 8, 8)
'''


def custom_walk(module: str) -> dict:
    """A walk run's model config on a CustomGenerator of ``module``.Net."""
    generator = {"class_path": "steer.generators.CustomGenerator",
                 "init_args": {"model_class": f"{module}.Net", "latent_dim": 4, "resolution": 8}}
    return {"class_path": "steer.modules.WalkModule",
            "init_args": {"generator": generator, "edit": {"class_path": "steer.edits.Zoom"},
                          "walk": {"class_path": "steer.walks.LinearWalk"}}}


class UserModule:
    """A module with side effects on import, written to ``folder``, importable (as a user's would be)."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = f"user_model_{uuid.uuid4().hex[:8]}"
        self.marker = folder / f"{self.name}.imported"
        (folder / f"{self.name}.py").write_text(MODULE.format(marker=str(self.marker)))
        monkeypatch.setattr(sys, "path", [str(folder), *sys.path])  # restored after the test
        monkeypatch.delitem(sys.modules, self.name, raising=False)

    def forget(self) -> None:
        """As if it had never been imported."""
        sys.modules.pop(self.name, None)
        self.marker.unlink(missing_ok=True)

    def checkpoint(self, path: Path, model: dict | None = None) -> Path:
        """A steer checkpoint of a walk on this module's Net (really built, so it loads when trusted)."""
        model = model or custom_walk(self.name)
        with trusting([self.name]):
            state = build(model, LightningModule, "model").state_dict()
        self.forget()
        return save({"steer": {"config": {"model": model}}, "state_dict": state}, path)


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> UserModule:
    folder = tmp_path / "site"
    folder.mkdir()
    return UserModule(folder, monkeypatch)


def refused(error: pytest.ExceptionInfo, module: str) -> None:
    message = str(error.value)
    assert f"names {module}.Net" in message and f"{TRUST_VARIABLE}={module}" in message and "\n" not in message


def test_a_checkpoint_naming_an_untrusted_module_is_refused_before_it_is_imported(user_module, tmp_path):
    ckpt = user_module.checkpoint(tmp_path / "run.ckpt")
    with pytest.raises(SteerError) as error:
        load_module(ckpt)
    refused(error, user_module.name)
    with pytest.raises(SteerError) as error:
        steer.load(ckpt)
    refused(error, user_module.name)
    with pytest.raises(SteerError) as error:
        WalkModule.load_from_checkpoint(ckpt)
    refused(error, user_module.name)
    assert not user_module.marker.exists()


def test_a_module_the_user_trusts_loads(user_module, tmp_path, monkeypatch):
    ckpt = user_module.checkpoint(tmp_path / "run.ckpt")
    assert steer.load(ckpt, trust=[user_module.name]).generator.latent_dim == 4
    assert user_module.marker.exists()
    user_module.forget()
    monkeypatch.setenv(TRUST_VARIABLE, f"other.models,{user_module.name}")
    module, _ = load_module(ckpt)
    assert type(module.generator.module).__name__ == "Net"


def test_the_command_line_refuses_it_in_one_line(user_module, tmp_path, capsys):
    ckpt = user_module.checkpoint(tmp_path / "run.ckpt")
    line = steer_fails(capsys, "evaluate", "steerability", checkpoint=str(ckpt), out=str(tmp_path / "report"),
                       n=4, wandb=False)
    assert f"names {user_module.name}.Net" in line and f"{TRUST_VARIABLE}={user_module.name}" in line
    assert not user_module.marker.exists() and not (tmp_path / "report").exists()


def test_a_module_the_user_names_on_the_command_line_is_trusted_in_the_checkpoint_too(user_module, tmp_path):
    ckpt = user_module.checkpoint(tmp_path / "run.ckpt")
    generator = custom_walk(user_module.name)["init_args"]["generator"]
    steer_run("evaluate", "steerability", checkpoint=str(ckpt), generator=generator, out=str(tmp_path / "report"),
              n=4, batch_size=4, wandb=False)
    assert (tmp_path / "report" / "metrics.json").exists()


def test_a_class_named_as_a_plain_string_is_checked_too(user_module, tmp_path):
    """jsonargparse imports a dotted string given for a class or callable option (here the optimizer)."""
    model = custom_walk("steer_never_imports_this")
    model["init_args"]["optimizer"] = f"{user_module.name}.Net"
    path = save({"steer": {"config": {"model": model}}, "state_dict": {}}, tmp_path / "run.ckpt")
    with pytest.raises(SteerError, match=f"names {user_module.name}.Net, which is neither steer's"):
        with trusting(["steer_never_imports_this"]):
            load_module(path)
    assert not user_module.marker.exists()


def test_a_direction_files_generator_record_is_checked(user_module, tmp_path, capsys):
    spec = custom_walk(user_module.name)["init_args"]["generator"]
    path = save_directions(tmp_path / "directions.pt",
                           Directions(torch.eye(4)[:2], torch.ones(2), "sefa", spec))
    with pytest.raises(SteerError) as error:
        steer.load(path)
    refused(error, user_module.name)
    line = steer_fails(capsys, "evaluate", "score", directions=str(path), out=str(tmp_path / "report"), n=4,
                       wandb=False)
    assert f"{TRUST_VARIABLE}={user_module.name}" in line
    through_checkpoint = save_directions(tmp_path / "of_run.pt", Directions(
        torch.eye(4)[:2], torch.ones(2), "sefa", {"checkpoint": str(user_module.checkpoint(tmp_path / "run.ckpt"))}))
    with pytest.raises(SteerError) as error:
        steer.load(through_checkpoint)
    refused(error, user_module.name)
    assert not user_module.marker.exists()


def test_a_trained_generator_in_the_users_config_does_not_trust_what_its_checkpoint_names(user_module, tmp_path,
                                                                                          capsys):
    ckpt = user_module.checkpoint(tmp_path / "gan.ckpt")
    line = steer_fails(capsys, "fit", "--config", str(Path(__file__).parent / "configs" / "tiny_walk.yaml"),
                       "--model.init_args.generator", "steer.generators.TrainedGenerator",
                       "--model.init_args.generator.checkpoint", str(ckpt), "--trainer.logger", "false",
                       "--checkpoint.dirpath", str(tmp_path / "run"))
    assert f"{TRUST_VARIABLE}={user_module.name}" in line
    assert not user_module.marker.exists() and not (tmp_path / "run").exists()


def test_a_module_in_the_current_folder_is_not_imported_because_a_checkpoint_names_it(tmp_path, monkeypatch):
    """Library use from a folder holding a .py of the name a checkpoint's CustomGenerator asks for."""
    user = UserModule(tmp_path, monkeypatch)
    ckpt = user.checkpoint(tmp_path / "run.ckpt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", *(p for p in sys.path if p != str(tmp_path))])  # as in python -c, Jupyter
    importlib.invalidate_caches()
    with pytest.raises(SteerError) as error:
        load_module(ckpt)
    refused(error, user.name)
    assert not user.marker.exists()
    with trusting([user.name]):
        load_module(ckpt)
    assert user.marker.exists()  # trusted by the user: their own file is their choice


def test_a_default_trusted_package_is_not_taken_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    (tmp_path / "lightning").mkdir()
    (tmp_path / "lightning" / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    model = {"class_path": "steer.modules.WalkModule", "init_args": {
        "generator": {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 4, "resolution": 16}},
        "edit": {"class_path": "steer.edits.Zoom"}, "walk": {"class_path": "lightning.pytorch.callbacks.Walk"}}}
    path = save({"steer": {"config": {"model": model}}, "state_dict": {}}, tmp_path / "run.ckpt")
    with pytest.raises(SteerError, match="package lightning would be imported from the current folder"):
        load_module(path)
    assert not (tmp_path / "ran").exists()
