"""Paper presets (docs/PAPER_PRESETS.md): each option does what the paper's code does, the defaults stay as they
were, and every configs/papers/*.yaml builds and trains."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import yaml

from steer.data.latents import LatentDataModule
from steer.discovery import manifold as manifold_module
from steer.discovery.manifold import MaskRegion, change_targets, manifold
from steer.edits import Rotate2D, ShiftX, Zoom
from steer.errors import SteerError
from steer.generators import DCGAN
from steer.losses import MaskedLPIPS
from steer.walks import LinearWalk, NNWalk
from tests.support.scripts import ROOT, run_script
from tests.support.steer_run import steer_fails, steer_run
from tests.test_gan import changed, fit, module

PAPERS = ROOT / "configs" / "papers"
TINY = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 16, "width": 4}}


# -- GANModule: the walk's adversarial term and the D, G, w, G, w schedule ---------------------------------------
@pytest.mark.slow
def test_walk_adversarial_term_changes_only_the_walks_step():
    """With μ > 0 the walk's step gets a gradient through D; D's and G's weights (stepped before w) are the same.
    (D's BatchNorm running statistics do differ: the walk's adversarial term passes its images through D.)"""
    runs = {}
    for mu in (0.0, 1.0):
        gan = module(edit=ShiftX(3), steer_weight=1.0, walk_adversarial=mu)
        before = {k: v.clone() for k, v in gan.named_parameters()}
        fit(gan)
        runs[mu] = {k: v.clone() for k, v in gan.named_parameters()}
    assert not changed(runs[0.0], runs[1.0], "discriminator.") and not changed(runs[0.0], runs[1.0], "generator.")
    assert changed(runs[0.0], runs[1.0], "walk.") and changed(before, runs[1.0], "walk.")


def test_walk_adversarial_term_reaches_the_walk_through_the_discriminator():
    gan = module(edit=ShiftX(3), walk_adversarial=1.0)
    z, _ = gan.generator.sample(4, torch.Generator().manual_seed(0))
    walked = gan.generator(gan.walk(z, torch.full((4, 1), 0.5)))
    gan.adversarial.generator(gan.discriminator(walked)).backward()
    assert gan.walk.w.grad is not None and gan.walk.w.grad.abs().sum() > 0


@pytest.mark.slow
def test_dgwgw_schedule_steps_g_and_w_twice_per_batch():
    gan = module(edit=ShiftX(3), steer_weight=1.0, schedule="DGwGw")
    assert gan.steps_per_batch == 5
    assert fit(gan, batches=2) == ["discriminator", "generator", "walk", "generator", "walk"] * 2
    assert gan.global_step == 10  # manual optimisation: global_step counts every optimizer step
    plain = module(schedule="DGwGw")
    assert plain.steps_per_batch == 3 and fit(plain) == ["discriminator", "generator", "generator"]


def test_default_schedule_and_steps_per_batch_are_unchanged():
    assert module().steps_per_batch == 2 and module(edit=ShiftX(3)).steps_per_batch == 3
    gan = module(edit=ShiftX(3))
    assert gan.schedule == "DGw" and gan.walk_adversarial == 0.0


@pytest.mark.parametrize("options, message", [
    ({"edit": ShiftX(3), "walk_adversarial": -1.0}, "walk_adversarial.*≥ 0"),
    ({"walk_adversarial": 1.0}, "walk_adversarial > 0 needs model.edit"),
    ({"edit": ShiftX(3), "schedule": "DGG"}, "schedule must be one of DGw, DGwGw"),
])
def test_bad_gan_preset_options_are_refused(options, message):
    with pytest.raises(SteerError, match=message):
        module(**options)


# -- walks and edits ----------------------------------------------------------------------------------------------
def test_linear_walk_uniform_init_draws_from_minus_one_to_one_and_the_default_is_unchanged():
    torch.manual_seed(0)
    default = LinearWalk(64, 2).w
    torch.manual_seed(0)
    assert torch.equal(default, torch.randn(2, 64) * 0.1)
    w = LinearWalk(4096, 1, init="uniform").w
    assert w.min() >= -1 and w.max() <= 1 and w.abs().max() > 0.99 and w.std() > 0.5
    with pytest.raises(SteerError, match="init must be normal.*or uniform"):
        LinearWalk(4, init="xavier")


def test_nn_walk_integer_steps_take_whole_steps_only():
    torch.manual_seed(0)
    walk = NNWalk(8, step_size=0.25, hidden=16)
    for net in (walk.forward_step, walk.backward_step):
        torch.nn.init.normal_(net[2].weight, std=0.3)
    z = torch.randn(3, 8)
    whole = NNWalk(8, step_size=0.25, hidden=16, integer_steps=True)
    whole.load_state_dict(walk.state_dict())
    for alpha, steps in ((0.3, 0.25), (0.4, 0.5), (-0.6, -0.5), (0.1, 0.0)):
        a = torch.full((3, 1), alpha)
        assert torch.allclose(whole(z, a), walk(z, torch.full((3, 1), steps)))  # round(|α|/ε) whole steps
    assert not torch.allclose(walk(z, torch.full((3, 1), 0.3)), walk(z, torch.full((3, 1), 0.25)))  # fractional


@pytest.mark.parametrize("edit, scale", [(ShiftX(8), 8), (Rotate2D(20), 20)])
def test_raw_alpha_hands_the_walk_alpha_in_the_edits_units(edit, scale):
    alpha = torch.tensor([[-5.0], [3.0]])
    assert torch.equal(edit.walk_alpha(alpha), alpha / scale)  # default unchanged
    raw = type(edit)(scale, raw_alpha=True)
    assert torch.equal(raw.walk_alpha(alpha), alpha) and torch.equal(raw.alpha_from_walk(alpha), alpha)


# -- one α per batch ----------------------------------------------------------------------------------------------
def attached(**options) -> LatentDataModule:
    dm = LatentDataModule(batch_size=6, **options)
    dm.trainer = SimpleNamespace(lightning_module=SimpleNamespace(generator=DCGAN(6, 8, 2), edit=Zoom()),
                                 global_rank=0, world_size=1, training=True)
    return dm


def test_alpha_per_batch_gives_every_pair_of_a_batch_one_alpha():
    dm = attached(alpha_per_batch=True)
    loader = iter(dm.train_dataloader())
    batches = [next(loader) for _ in range(3)]
    assert all(torch.equal(b["alpha"], b["alpha"][:1].expand(6, 1)) for b in batches)
    assert len({float(b["alpha"][0]) for b in batches}) == 3  # a new α each batch


def test_default_draws_one_alpha_per_pair_as_before():
    from steer.seeding import rng
    dm = attached()
    first = next(iter(dm.train_dataloader()))
    g = rng(0, "train", 0, 0)
    module = dm.trainer.lightning_module
    assert torch.equal(first["z"], module.generator.sample_latent(6, g))
    assert torch.equal(first["alpha"], module.edit.sample_alpha(6, g)) and len(torch.unique(first["alpha"])) > 1


def test_alpha_per_batch_with_several_alphas_per_latent_is_refused():
    with pytest.raises(SteerError, match="alpha_per_batch.*alphas_per_latent"):
        LatentDataModule(batch_size=4, alphas_per_latent=2, alpha_per_batch=True)


# -- mask-guided: constant target ---------------------------------------------------------------------------------
def test_constant_targets_ask_every_latent_for_c_and_the_ramp_is_unchanged():
    assert torch.equal(change_targets(0.25, 4, "constant"), torch.full((4,), 0.25))
    assert torch.allclose(change_targets(0.25, 4), 0.25 * torch.tensor([1, 4, 9, 16]) / 16)
    torch.manual_seed(0)
    g = DCGAN(latent_dim=8, resolution=16, width=4).freeze()
    found = manifold(g, torch.zeros(8), MaskRegion(4, 4, 12, 12), k=3, steps=2, targets="constant", progress=False)
    assert found.targets.tolist() == pytest.approx([0.05] * 3) and found.settings["targets"] == "constant"
    with pytest.raises(SteerError, match="targets must be one of ramp, constant"):
        manifold(g, torch.zeros(8), MaskRegion(4, 4, 12, 12), k=3, steps=2, targets="linear", progress=False)


def test_manifold_command_refuses_unknown_targets_in_one_line(capsys, tmp_path):
    line = steer_fails(capsys, "discover", "manifold", generator=TINY, mask="4,4,12,12", targets="linear",
                       out=str(tmp_path / "r"), wandb=False)
    assert "targets" in line and "ramp" in line and "constant" in line
    assert not (tmp_path / "r").exists()


# -- the preset configs -------------------------------------------------------------------------------------------
def test_every_preset_is_documented():
    page = (ROOT / "docs" / "PAPER_PRESETS.md").read_text()
    assert sorted(PAPERS.glob("*.yaml")) and all(f"configs/papers/{p.name}" in page for p in PAPERS.glob("*.yaml"))


def quick(name: str, tmp_path, **data) -> str:
    """configs/papers/NAME with a tiny batch, 2 batches and no validation, written to tmp_path."""
    spec = yaml.safe_load((PAPERS / name).read_text())
    spec["data"]["init_args"].update(data)
    spec["trainer"].update(max_steps=2, val_check_interval=None, limit_val_batches=0, log_every_n_steps=1,
                           enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("name, data, per_batch", [
    ("steerability_joint.yaml", {"batch_size": 4, "n_val": 4}, 5),
    ("steerability_walk.yaml", {"batch_size": 2, "val_size": 2}, 1),
    ("steerability_nn_walk.yaml", {"batch_size": 2, "val_size": 2}, 1),
])
def test_preset_config_builds_and_trains_two_batches(tmp_path, name, data, per_batch):
    config = quick(name, tmp_path, **data)
    spec = yaml.safe_load(open(config))
    spec["trainer"]["max_steps"] = 2 * per_batch
    open(config, "w").write(yaml.safe_dump(spec))
    done = run_script("train.py", "fit", "--config", config, "--trainer.logger", "false",
                      "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2 * per_batch


@pytest.mark.slow
def test_joint_preset_sets_every_paper_option(tmp_path):
    done = run_script("train.py", "fit", "--config", str(PAPERS / "steerability_joint.yaml"), "--print_config",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    model = yaml.safe_load(done.stdout)["model"]["init_args"]
    assert model["walk_adversarial"] == 1.0 and model["schedule"] == "DGwGw" and model["steer_weight"] == 1.0
    assert model["walk"]["init_args"]["init"] == "uniform" and model["edit"]["init_args"]["raw_alpha"] is True


def test_mask_guided_preset_runs_by_name_with_constant_lpips_targets(tmp_path, monkeypatch):
    """The preset through `steer discover manifold --config`, with a random LPIPS backbone (no weights here)."""
    monkeypatch.setattr(manifold_module, "MaskedLPIPS", lambda: MaskedLPIPS(random_backbone=True))
    generator = {"class_path": "steer.generators.DCGAN", "init_args": {"latent_dim": 8, "resolution": 32, "width": 4}}
    steer_run("discover", "manifold", config=str(PAPERS / "mask_guided.yaml"), generator=generator, mask="0,0,16,32",
              k=3, steps=2, out=str(tmp_path / "r"), wandb=False)
    summary = json.loads((tmp_path / "r" / "manifold.json").read_text())
    assert summary["targets"] == [0.25] * 3 and summary["settings"]["distance"] == "MaskedLPIPS"
    assert summary["settings"]["targets"] == "constant"


@pytest.mark.slow
@pytest.mark.parametrize("name, args, message", [
    ("steerability_joint.yaml", ["--model.init_args.walk_adversarial", "-1"], "walk_adversarial (μ) must be ≥ 0"),
    ("steerability_joint.yaml", ["--model.init_args.schedule", "DGG"],
     "--schedule must be one of DGw, DGwGw, got 'DGG'."),
    ("steerability_joint.yaml", ["--model.init_args.walk.init_args.init", "xavier"],
     "--init must be one of normal, uniform, got 'xavier'."),
    ("steerability_walk.yaml", ["--data.init_args.alphas_per_latent", "2"],
     "data.alpha_per_batch gives every pair of a batch the same α"),
])
def test_bad_preset_values_give_one_line_and_exit_code_2(tmp_path, name, args, message):
    data = {"batch_size": 4, "n_val": 4} if name == "steerability_joint.yaml" else {"batch_size": 4, "val_size": 2}
    config = quick(name, tmp_path, **data)
    done = run_script("train.py", "fit", "--config", config, "--trainer.logger", "false", *args, cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 2 and len(errors) == 1 and message in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not (tmp_path / "checkpoints").exists()
