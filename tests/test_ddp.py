"""DDP over gloo on CPU: train.py with two processes, each recording what it saw (tests/support/probes.py)."""

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.strategies import DDPStrategy

from steer.data.latents import LatentDataModule
from steer.discriminators import DCGANDiscriminator
from steer.edits import Zoom
from steer.errors import SteerError
from steer.formats.trajectories import save_records
from steer.generators import DCGAN
from steer.modules import GANModule
from steer.sprites.histograms import intersection
from tests.support.scripts import ROOT, run_script, start_script
from tests.test_factor_regressor import D as RECORDS_DIM
from tests.test_factor_regressor import synthetic_records

STEPS, BATCH, VAL_SIZE = 4, 4, 8  # tests/configs/tiny_walk.yaml


def fit_args(config: Path, probe: Path, *more: str) -> list[str]:
    return ["fit", "--config", str(config), "--trainer.logger", "false", "--checkpoint.dirpath", "ckpt",
            "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
            "--trainer.callbacks+=tests.support.probes.RecordRank", f"--trainer.callbacks.out={probe}", *more]


def recorded(probe: Path) -> list[dict]:
    return [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


def assert_disjoint_latents_and_one_walk(ranks: list[dict], ckpt: Path) -> None:
    assert [r["world_size"] for r in ranks] == [2, 2]
    z0, z1 = ranks[0]["latents"], ranks[1]["latents"]
    assert z0.shape == z1.shape == (STEPS * BATCH, 8)
    assert not (z0[:, None] == z1[None]).all(-1).any(), "a latent was drawn on both ranks"
    assert torch.equal(ranks[0]["walk"]["w"], ranks[1]["walk"]["w"])
    last = torch.load(ckpt, weights_only=True)
    assert last["global_step"] == STEPS and torch.equal(last["state_dict"]["walk.w"], ranks[0]["walk"]["w"])


@pytest.mark.slow
def test_two_cpu_ranks_draw_disjoint_latents_keep_one_walk_and_log_validation_of_the_union(tiny_config, tmp_path):
    result = run_script("train.py", *fit_args(tiny_config, tmp_path / "probe", "--trainer.devices", "2"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = recorded(tmp_path / "probe")
    assert_disjoint_latents_and_one_walk(ranks, tmp_path / "ckpt" / "last.ckpt")
    # each rank validated its own share; the logged (synced) error is the mean over the union of the shares
    index = [r["val_index"].tolist() for r in ranks]
    assert set(index[0]).isdisjoint(index[1]) and sorted(index[0] + index[1]) == list(range(VAL_SIZE))
    assert ranks[0]["logged"] == ranks[1]["logged"] and len(ranks[0]["logged"]) > 1
    for label, logged in ranks[0]["logged"].items():
        union = torch.cat([r["val_errors"][label] for r in ranks])
        assert logged == pytest.approx(union.mean().item(), rel=1e-5, abs=0), label
    own = {label: e.mean().item() for label, e in ranks[0]["val_errors"].items()}
    assert own != pytest.approx(ranks[0]["logged"], rel=1e-5, abs=0), "rank 0 logged only its own share"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_num_nodes_passes_through_two_single_process_nodes_train_one_walk(tiny_config, tmp_path):
    """Two 'nodes' on this machine, each started as a cluster scheduler would: NODE_RANK, MASTER_ADDR/PORT."""
    args = fit_args(tiny_config, tmp_path / "probe", "--trainer.num_nodes", "2", "--trainer.devices", "1")
    address = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    nodes = [start_script("train.py", *args, cwd=tmp_path, log=tmp_path / f"node{n}.log", NODE_RANK=str(n), **address)
             for n in (0, 1)]
    try:
        codes = [node.wait(timeout=300) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert codes == [0, 0], "\n".join((tmp_path / f"node{n}.log").read_text()[-2000:] for n in (0, 1))
    assert_disjoint_latents_and_one_walk(recorded(tmp_path / "probe"), tmp_path / "ckpt" / "last.ckpt")


@pytest.mark.parametrize("loop", ["val", "test", "predict"])
def test_a_validation_test_or_predict_set_smaller_than_the_number_of_ranks_is_refused(loop):
    data = LatentDataModule(**{f"{loop}_size": 3})
    module = SimpleNamespace(generator=DCGAN(latent_dim=6, resolution=8, width=2), edit=Zoom())
    data.trainer = SimpleNamespace(lightning_module=module, global_rank=0, world_size=4)
    with pytest.raises(SteerError, match=rf"data.{loop}_size \(3\) must be at least the number of ranks \(4\)"):
        getattr(data, f"{loop}_dataloader")()


@pytest.mark.slow
def test_a_nan_on_one_rank_stops_every_rank_with_the_message(tiny_config, tmp_path):
    args = fit_args(tiny_config, tmp_path / "probe", "--trainer.devices", "2",
                    "--model.init_args.edit", "tests.support.faulty_parts.RankOneNaNEdit")
    result = run_script("train.py", *args, cwd=tmp_path, timeout=180)  # before: rank 0 waited for rank 1 forever
    assert result.returncode != 0 and "Traceback" not in result.stderr.split("error: ")[-1]
    assert "the training loss became" in result.stderr and "training stopped" in result.stderr
    assert not (tmp_path / "ckpt" / "last.ckpt").exists()


GAN = ROOT / "tests" / "configs" / "tiny_gan.yaml"
SHIFT = "{class_path: steer.edits.ShiftX, init_args: {max_shift: 3}}"
GAN_MODES = {  # mode: (options, optimizer steps per batch)
    "plain": ([], 2),
    "augment": (["--model.init_args.augment", SHIFT], 2),
    "joint": (["--model.init_args.augment", SHIFT, "--model.init_args.edit", SHIFT,
               "--model.init_args.steer_weight", "1.0"], 3),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(GAN_MODES))
def test_gan_on_two_cpu_ranks_draws_disjoint_data_and_latents_keeps_one_model_and_syncs_histograms(mode, tmp_path):
    """`--trainer.strategy ddp` as a user types it: GANModule turns on DDP's detection of unused parameters itself."""
    options, per_batch = GAN_MODES[mode]
    args = ["fit", "--config", str(GAN), "--trainer.logger", "false", "--checkpoint.dirpath", "ckpt",
            "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
            "--trainer.max_steps", str(2 * per_batch), "--trainer.callbacks+=tests.support.probes.RecordGANRank",
            f"--trainer.callbacks.out={tmp_path / 'probe'}", *options]
    result = run_script("train.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / "probe" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    for key in ("latents", "images"):  # every latent and real image was drawn on one rank only
        a, b = (r[key].flatten(1) for r in ranks)
        assert not (a[:, None] == b[None]).all(-1).any(), f"{key}: one was drawn on both ranks"
    # G, D and w: the same parameters on every rank, and in the checkpoint
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["state_dict"]
    assert ranks[0]["parameters"] and all(p.startswith(("generator.", "discriminator.", "walk."))
                                          for p in ranks[0]["parameters"])
    assert any(p.startswith("walk.") for p in ranks[0]["parameters"]) == (mode == "joint")
    for name in ranks[0]["parameters"]:
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name
        assert torch.equal(saved[name], ranks[0]["state"][name]), name
    # each rank validated its own share of the fixed set; the logged intersection is that of the union
    val = [r["val_images"].flatten(1) for r in ranks]
    assert len(val[0]) + len(val[1]) == 10 and not (val[0][:, None] == val[1][None]).all(-1).any()
    union = {k: ranks[0]["counts"][k] + ranks[1]["counts"][k] for k in ranks[0]["counts"]}
    expected = intersection(union["real_counts"], union["fake_counts"], float(union["real_n"]), float(union["fake_n"]))
    assert ranks[0]["logged"] == ranks[1]["logged"] and list(ranks[0]["logged"]) == ["x", "y", "area"]
    assert list(ranks[0]["logged"].values()) == pytest.approx(expected.tolist(), abs=1e-6)


def test_gan_module_turns_on_ddp_unused_parameter_detection_and_refuses_a_strategy_that_turns_it_off():
    gan = GANModule(DCGAN(latent_dim=8, resolution=8, width=2), DCGANDiscriminator(8, 2))
    chosen = DDPStrategy()
    gan.trainer = SimpleNamespace(strategy=chosen)
    gan.setup("fit")
    assert chosen._ddp_kwargs["find_unused_parameters"] is True
    gan.trainer = SimpleNamespace(strategy=DDPStrategy(find_unused_parameters=False))
    with pytest.raises(SteerError, match="use --trainer.strategy ddp .steer turns the detection on. or "
                                         "ddp_find_unused_parameters_true"):
        gan.setup("fit")


@pytest.mark.slow
def test_gan_under_a_ddp_strategy_without_unused_parameter_detection_is_one_line_on_every_rank(tmp_path):
    result = run_script("train.py", "fit", "--config", str(GAN), "--trainer.logger", "false", "--checkpoint.dirpath",
                        "ckpt", "--trainer.strategy", "ddp_find_unused_parameters_false", "--trainer.devices", "2",
                        "--trainer.accelerator", "cpu", "--trainer.max_steps", "2", cwd=tmp_path, timeout=180)
    errors = {line for line in result.stderr.splitlines() if line.startswith("error: ")}
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1 and "ddp_find_unused_parameters_true" in errors.pop()
    assert not list((tmp_path / "ckpt").glob("*.ckpt"))


@pytest.mark.slow
@pytest.mark.parametrize("module", ["vae", "factor_regressor"])
def test_the_readme_multi_gpu_line_trains_the_vae_and_the_factor_regressor_on_two_cpu_ranks(module, tmp_path):
    """README: `steer fit --config … --trainer.strategy ddp --trainer.devices N` for the modules not tested above."""
    if module == "vae":
        args = ["--config", str(ROOT / "configs/sprites/beta_vae.yaml"), "--trainer.max_steps", "2",
                "--data.init_args.batch_size", "4", "--data.init_args.n_val", "8", "--trainer.val_check_interval", "2"]
    else:
        save_records(synthetic_records()[0], tmp_path / "records.pt")
        args = ["--config", str(ROOT / "configs/discovery/factor_regressor.yaml"), "--model.init_args.latent_dim",
                str(RECORDS_DIM), "--data.init_args.records", "records.pt", "--data.init_args.batch_size", "32",
                "--trainer.max_epochs", "1", "--trainer.check_val_every_n_epoch", "1"]
    result = run_script("train.py", "fit", *args, "--trainer.strategy", "ddp", "--trainer.devices", "2",
                        "--trainer.accelerator", "cpu", "--trainer.logger", "false", "--checkpoint.dirpath", "ckpt",
                        cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()
