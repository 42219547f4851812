"""A user's own generator that does not fit what was declared: one line naming the option at fault.

The model is a third-party-style conditional DCGAN at 128 px (tests/support/user_models.py), narrow so the tests
stay fast; every option of CustomGenerator can be set on the command line.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

from steer.cli.lightning import SteerCLI
from steer.config import build
from steer.errors import SteerError
from steer.generators import CustomGenerator, Generator
from tests.support.scripts import ROOT
from tests.support.steer_run import steer_fails

MODEL = "tests.support.user_models.ConditionalDCGAN128"
BUILT_WITH = {"nz": 100, "num_classes": 10, "ngf": 2}  # what the user's model was built (and trained) with
RIGHT = dict(latent_dim=100, resolution=128, num_classes=10, class_input="index", latent_shape="image")


def cgan(**declared) -> CustomGenerator:
    return CustomGenerator(MODEL, model_args=BUILT_WITH, **{**RIGHT, **declared})


def fails(**declared) -> str:
    with pytest.raises(SteerError) as error:
        cgan(**declared)
    message = str(error.value)
    assert "\n" not in message and MODEL in message, message
    return message


def test_the_128_px_model_declared_right_is_built_and_draws_the_declared_classes():
    g = cgan()
    z, y = g.sample(3, torch.Generator().manual_seed(0))
    assert g(z, y).shape == (3, 3, 128, 128)


@pytest.mark.parametrize("declared, fault, hint", [
    (dict(num_classes=20), "IndexError", "Most likely at fault: num_classes (it runs with num_classes=10"),
    (dict(class_input="onehot"), "RuntimeError", "Most likely at fault: class_input (it runs with class_input=index"),
    (dict(latent_dim=120), "RuntimeError", "Most likely at fault: latent_dim (it runs with latent_dim=100"),
    (dict(latent_shape="flat"), "RuntimeError", "Most likely at fault: latent_shape (it runs with latent_shape=image"),
    (dict(num_classes=None), "TypeError", "Most likely at fault: num_classes (it runs with num_classes=10"),
], ids=["num_classes", "class_input", "latent_dim", "latent_shape", "classes-left-out"])
def test_a_wrong_declaration_names_the_option_at_fault(declared, fault, hint):
    message = fails(**declared)
    assert "failed on steer's probe batch" in message and f": {fault}: " in message and hint in message, message


def test_a_class_count_larger_than_the_models_fails_on_the_probe_not_later_in_a_walk():
    message = fails(num_classes=11)  # only class 10 is out of range: the probe draws the first and the last class
    assert "num_classes=10" in message


def test_a_constructor_that_raises_names_model_args():
    with pytest.raises(SteerError) as error:
        CustomGenerator(MODEL, model_args={**BUILT_WITH, "nc": -1}, **RIGHT)
    message = str(error.value)
    assert f"{MODEL}(**model_args) raised RuntimeError: Trying to create tensor with negative dimension" in message
    assert "model_args {" in message and "most likely at fault" in message and "\n" not in message


def test_an_import_that_raises_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "needs_cuda_ops.py").write_text(
        "raise ImportError('libcudart.so.11.0: cannot open shared object file: No such file or directory')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "needs_cuda_ops", raising=False)
    with pytest.raises(SteerError) as error:
        CustomGenerator("needs_cuda_ops.Generator", latent_dim=4, resolution=8)
    message = str(error.value)
    assert "importing 'needs_cuda_ops' (model_class 'needs_cuda_ops.Generator') raised ImportError: libcudart" in message
    assert "copy the model's class into a module of your own" in message and "\n" not in message


def test_a_failure_of_the_forward_after_the_probe_names_what_it_was_given(monkeypatch):
    g = cgan()
    z, y = g.sample(3)

    def broken(noise, labels):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices")

    monkeypatch.setattr(g.module, "forward", broken)
    with pytest.raises(SteerError) as error:
        g(z, y)
    message = str(error.value)
    assert message.startswith(f"{MODEL} failed on a batch (z (3, 100, 1, 1) float32 on cpu, y (3,)): RuntimeError:")
    assert "create tensors inside forward on z.device" in message and "\n" not in message


@pytest.mark.parametrize("declared, message", [
    (dict(num_classes=20), "Most likely at fault: num_classes"),
    (dict(latent_dim=120), "Most likely at fault: latent_dim"),
], ids=["num_classes", "latent_dim"])
def test_the_command_line_prints_the_fault_in_one_line(tmp_path, capsys, declared, message):
    generator = {"class_path": "steer.generators.CustomGenerator",
                 "init_args": {"model_class": MODEL, "model_args": BUILT_WITH, **RIGHT, **declared}}
    line = steer_fails(capsys, "discover", "sefa", generator=generator, out=str(tmp_path / "r"), wandb=False)
    assert message in line and not (tmp_path / "r").exists()


# -- every option from the command line ------------------------------------------------------------------------
def options(weights) -> list[dict]:
    """Two sets of options that together give every CustomGenerator option a value other than its default."""
    return [
        dict(model_class=MODEL, model_args={"nz": 12, "num_classes": 4, "ngf": 2}, latent_dim=12, resolution=128,
             weights=str(weights), state_dict_key="ema", num_classes=4, class_input="index", latent_shape="image",
             output_range="[-2,2]", first_layer="main.0", truncation=0.5, freeze=False),
        dict(model_class="tests.support.user_models.TinyConditional", model_args={"latent_dim": 5, "num_classes": 3},
             latent_dim=5, resolution=4, num_classes=3, class_input="onehot", latent_shape="flat",
             output_range="[0,1]", first_layer="fc", freeze=True),
    ]


@pytest.mark.parametrize("case", [0, 1])
def test_every_option_is_set_from_the_command_line(tmp_path, case, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["steer"])  # SteerCLI takes its arguments from args=, not from pytest's
    from tests.support.user_models import ConditionalDCGAN128

    weights = tmp_path / "g.pt"
    model = ConditionalDCGAN128(nz=12, num_classes=4, ngf=2)
    torch.save({"ema": model.state_dict()}, weights)
    chosen = options(weights)[case]
    args = ["--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false",
            "--model.init_args.generator", "steer.generators.CustomGenerator"]
    for key, value in chosen.items():
        args += [f"--model.init_args.generator.init_args.{key}", value if isinstance(value, str) else json.dumps(value)]
    cli = SteerCLI(args=args, run=False)
    parsed = cli.config["model"]["init_args"]["generator"]
    given = {k: parsed["init_args"][k] for k in chosen}
    assert given == {**chosen, "output_range": given["output_range"]}  # "[0,1]" reads as a pair on the command line
    g = cli.model.generator
    assert (g.model_class, g.latent_dim, g.resolution, g.num_classes) == (
        chosen["model_class"], chosen["latent_dim"], chosen["resolution"], chosen["num_classes"])
    assert (g.class_input, g.latent_shape, g.output_range, g.first_layer, g.truncation) == (
        chosen["class_input"], chosen["latent_shape"], tuple(json.loads(chosen["output_range"])), chosen["first_layer"],
        chosen.get("truncation"))
    if "weights" in chosen:  # the weights file's "ema" entry was loaded
        torch.testing.assert_close(g.module.main[0].weight, model.main[0].weight)
    rebuilt = build(parsed.as_dict(), Generator, "generator")  # WalkModule freezes its generator; this one not
    assert rebuilt.frozen == chosen["freeze"]


def test_the_old_option_names_are_refused_with_the_new_ones(tmp_path, capsys, monkeypatch):
    from steer.cli.driver import main

    monkeypatch.setattr(sys, "argv", ["steer"])

    args = ["fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false",
            "--model.init_args.generator", json.dumps({"class_path": "steer.generators.CustomGenerator", "init_args": {
                "class_path": "tests.support.user_models.TinyDeconv", "init_args": {"latent_dim": 6},
                "latent_dim": 6, "resolution": 8, "latent_shape": "image"}}),
            "--checkpoint.dirpath", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err
    assert "class_path and init_args are now called model_class and model_args" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_forward_that_fails_in_a_walk_step_is_one_line(tmp_path, capsys, monkeypatch):
    from steer.cli.driver import main

    monkeypatch.setattr(sys, "argv", ["steer"])
    generator = {"class_path": "steer.generators.CustomGenerator", "init_args": {
        "model_class": "tests.support.user_models.FixedBatch", "latent_dim": 4, "resolution": 8}}
    with pytest.raises(SystemExit) as stopped:
        main(["fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false",
              "--model.init_args.generator", json.dumps(generator), "--checkpoint.dirpath", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err, err[-2000:]
    line = next(line for line in err.splitlines() if line.startswith("error: "))
    assert line.startswith("error: tests.support.user_models.FixedBatch failed on a batch (z (4, 4) float32 on cpu)")
    assert "the failure depends on this batch (its size or device)" in line
