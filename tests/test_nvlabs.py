"""NVlabs network pickles: read without running their code, rebuilt as steer's networks, steered; bad files refused.

Every pickle here is written by tests/support/nvlabs_writer.py from steer's
own networks in NVlabs' snapshot format (no NVlabs code or output).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from steer.discovery import sefa
from steer.errors import SteerError
from steer.formats.nvlabs_pickle import load_snapshot
from steer.generators import NVlabsStyleGAN
from steer.generators.nvlabs_layers import FullyConnectedLayer, MappingNetwork, StyleGAN3MappingNetwork
from tests.support.nvlabs_writer import (
    SOURCES,
    STYLEGAN3_R,
    persistent,
    snapshot,
    tiny_networks,
    write_nvlabs_pickle,
    write_pickle,
)
from tests.support.steer_run import steer_fails, steer_run

FAMILIES = ("training.networks", "training.networks_stylegan2")  # stylegan2-ada-pytorch; stylegan3 repo 'stylegan2'


@pytest.fixture(scope="module")
def pickles(tmp_path_factory) -> dict[tuple[str, int], tuple[Path, torch.nn.Module, torch.nn.Module]]:
    """(family, c_dim) → (path, mapping, synthesis) of a tiny snapshot of each family, unconditional and with 3 classes."""
    folder = tmp_path_factory.mktemp("nvlabs")
    out = {}
    for family in FAMILIES:
        for c_dim in (0, 3):
            path = folder / f"{family}-{c_dim}.pkl"
            out[family, c_dim] = (path, *write_nvlabs_pickle(path, family, c_dim=c_dim))
    return out


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("c_dim", [0, 3])
@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_a_snapshot_draws_the_images_of_the_networks_it_holds(pickles, family, c_dim, space):
    path, mapping, synthesis = pickles[family, c_dim]
    g = NVlabsStyleGAN(str(path), latent_space=space, truncation_psi=0.7)
    assert (g.resolution, g.num_classes, g.synthesis.num_ws) == (8, c_dim or None, 4)
    assert g.latent_dim == {"z": 8, "w": 8, "w+": 32}[space]
    draw = torch.Generator().manual_seed(0)
    z, y = g.sample(3, draw)
    same = torch.Generator().manual_seed(0)  # z, then the classes, drawn in that order
    z0 = torch.randn(3, 8, generator=same)
    c = F.one_hot(torch.randint(c_dim, (3,), generator=same), c_dim).float() if c_dim else None
    with torch.no_grad():
        expected = synthesis(mapping.ws(z0, c, truncation_psi=0.7)).clamp(-1, 1)
        torch.testing.assert_close(g(z, y), expected, atol=1e-5, rtol=0)


def test_a_conditional_w_latent_is_mapped_with_the_class_drawn_next_also_from_the_global_stream(pickles):
    path, mapping, _ = pickles["training.networks", 3]
    g = NVlabsStyleGAN(str(path), latent_space="w")
    torch.manual_seed(3)
    w, y = g.sample_latent(4), g.sample_class(4)
    torch.manual_seed(3)
    z0, y0 = torch.randn(4, 8), torch.randint(3, (4,))
    assert torch.equal(y, y0)
    torch.testing.assert_close(w, mapping(z0, F.one_hot(y0, 3).float()), atol=1e-6, rtol=0)


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_every_pickle_protocol_python_3_writes_reads_the_same(tmp_path, protocol):
    """NVlabs' snapshots use the default protocol (3 on Python 3.7, 4 from 3.8); re-saved files may use others."""
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    write_pickle(tmp_path / "default.pkl", data)
    write_pickle(tmp_path / "other.pkl", data, protocol=protocol)
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(NVlabsStyleGAN(str(tmp_path / "other.pkl"))(z), NVlabsStyleGAN(str(tmp_path / "default.pkl"))(z))


def test_truncation_pulls_every_row_toward_the_stored_w_avg(pickles):
    path, mapping, _ = pickles["training.networks", 0]
    g = NVlabsStyleGAN(str(path), latent_space="w", truncation_psi=0.5)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    w = g.sample_latent(4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(w, mapping.w_avg + 0.5 * (mapping(z) - mapping.w_avg), atol=1e-6, rtol=0)
    torch.testing.assert_close(g.latent_avg, mapping.w_avg, atol=0, rtol=0)


def test_noise_modes_const_and_none_are_pure_and_random_draws_noise(pickles):
    path = str(pickles["training.networks", 0][0])
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        const, none = (NVlabsStyleGAN(path, noise_mode=m) for m in ("const", "none"))
        assert torch.equal(const(z), const(z)) and torch.equal(none(z), none(z))
        assert not torch.equal(const(z), none(z))
        random = NVlabsStyleGAN(path, noise_mode="random")
        assert not torch.equal(random(z), random(z))


def test_walks_in_chosen_w_plus_rows_leave_the_others_alone(pickles):
    path = str(pickles["training.networks_stylegan2", 0][0])
    g = NVlabsStyleGAN(path, latent_space="w+", layers=[2, 3])
    assert g.latent_dim == 3 * 8 and g.walk_mask.tolist() == [1.0] * 16 + [0.0] * 8
    latent = g.sample_latent(2, torch.Generator().manual_seed(0))
    rows = g.rows(latent)
    assert torch.equal(rows[:, 0], rows[:, 1]) and torch.equal(rows[:, 2], rows[:, 3])


def test_sefa_reads_the_effective_style_weights_of_the_listed_conv_rows(pickles):
    path, _, synthesis = pickles["training.networks", 0]
    g = NVlabsStyleGAN(str(path), latent_space="w", layers=[0, 2])
    convs = [synthesis.b4.conv1, synthesis.b8.conv0, synthesis.b8.conv1]
    expected = torch.cat([convs[r].affine.weight * convs[r].affine.weight_gain for r in (0, 2)])
    torch.testing.assert_close(g.first_projection(), expected, atol=0, rtol=0)
    directions, values = sefa(g, 3)
    assert directions.shape == (3, 8) and torch.all(values[:-1] >= values[1:])
    with pytest.raises(SteerError, match="read w, not z"):
        NVlabsStyleGAN(str(path), latent_space="z").first_projection()


def test_fully_connected_layer_is_equalised_and_lrelu_has_gain_root_two():
    torch.manual_seed(0)
    layer = FullyConnectedLayer(4, 3, activation="lrelu", lr_multiplier=0.1, bias_init=0.5)
    x = torch.randn(5, 4)
    effective_w, effective_b = layer.weight * 0.1 / 2, layer.bias * 0.1
    torch.testing.assert_close(effective_b, torch.full((3,), 0.5))
    expected = F.leaky_relu(x @ effective_w.T + effective_b, 0.2) * 2**0.5
    torch.testing.assert_close(layer(x), expected)
    per_output = FullyConnectedLayer(4, 3, weight_init=0, bias_init=[1, 0, 0], lr_multiplier=0.5)  # StyleGAN3's input
    torch.testing.assert_close(per_output(x), torch.tensor([[1.0, 0.0, 0.0]]).expand(5, 3))


def test_stylegan3_mapping_has_its_names_and_the_stylegan2_maths_with_a_truncation_cutoff():
    torch.manual_seed(0)
    sg3 = StyleGAN3MappingNetwork(z_dim=6, c_dim=2, w_dim=5, num_ws=4)
    assert set(sg3.state_dict()) == {"embed.weight", "embed.bias", "fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias",
                                     "w_avg"}
    sg2 = MappingNetwork(z_dim=6, c_dim=2, w_dim=5, num_ws=4, num_layers=2)
    sg2.load_state_dict(sg3.state_dict())
    sg3.w_avg.normal_()
    sg2.w_avg.copy_(sg3.w_avg)
    z, c = torch.randn(3, 6), F.one_hot(torch.tensor([0, 1, 1]), 2).float()
    ws = sg3.ws(z, c, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(ws, sg2.ws(z, c, truncation_psi=0.5, truncation_cutoff=2))
    w = sg3(z, c)
    torch.testing.assert_close(ws[:, 0], sg3.w_avg + 0.5 * (w - sg3.w_avg))
    torch.testing.assert_close(ws[:, 3], w)  # rows from the cutoff on are left as they are


def test_the_stored_source_is_never_run(tmp_path):
    """A snapshot whose module_src would create a file when executed loads, and the file never appears."""
    marker = tmp_path / "ran"
    mapping, synthesis, kwargs = tiny_networks()
    SOURCES["evil"] = SOURCES["training.networks"] + f"open({str(marker)!r}, 'w').close()\n"
    try:
        write_pickle(tmp_path / "evil.pkl", snapshot(mapping, synthesis, kwargs, "evil"))
    finally:
        del SOURCES["evil"]
    g = NVlabsStyleGAN(str(tmp_path / "evil.pkl"))
    assert g(torch.zeros(1, 8)).shape == (1, 3, 8, 8) and not marker.exists()


# -- through the command line and configs -------------------------------------------------------------
def generator_spec(path: Path, **options) -> dict:
    return {"class_path": "steer.generators.NVlabsStyleGAN", "init_args": {"pickle": str(path), **options}}


@pytest.mark.parametrize("config, c_dim", [("nvlabs/wplus_walk.yaml", 0), ("nvlabs/class_walk.yaml", 3)])
def test_the_shipped_configs_generator_section_builds_from_yaml(pickles, config, c_dim):
    from steer.config import build
    from steer.generators import Generator
    from tests.support.scripts import ROOT

    spec = yaml.safe_load((ROOT / "configs" / config).read_text())["model"]["init_args"]["generator"]
    spec["init_args"]["pickle"] = str(pickles["training.networks", c_dim][0])
    spec["init_args"]["layers"] = spec["init_args"].get("layers") and [1, 2]  # the tiny network has 4 W+ rows
    g = build(spec, Generator, "generator")
    assert isinstance(g, NVlabsStyleGAN) and g.num_classes == (c_dim or None) and g.frozen
    assert g(*g.sample(2, torch.Generator().manual_seed(0))).shape == (2, 3, 8, 8)


def test_sefa_command_writes_directions_for_a_snapshot(pickles, tmp_path):
    path = pickles["training.networks", 0][0]
    steer_run("discover", "sefa", out=str(tmp_path / "sefa"), k=2, wandb=False,
              generator=generator_spec(path, latent_space="w+", layers=[1, 2]))
    saved = torch.load(tmp_path / "sefa" / "directions.pt", weights_only=True)
    assert saved["directions"].shape == (2, 3 * 8)


def test_steerability_report_for_a_conditional_snapshot(pickles, tmp_path):
    path = pickles["training.networks_stylegan2", 3][0]
    steer_run("discover", "sefa", out=str(tmp_path / "sefa"), k=1, wandb=False, generator=generator_spec(path))
    walk = {"class_path": "steer.walks.DirectionWalk", "init_args": {"path": str(tmp_path / "sefa" / "directions.pt")}}
    steer_run("evaluate", "steerability", generator=generator_spec(path), walk=walk, edit={"class_path": "steer.edits.Zoom"},
              out=str(tmp_path / "report"), n=4, batch_size=2, wandb=False)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["provenance"]["config"]["generator"]["init_args"]["pickle"] == str(path)


@pytest.mark.slow
@pytest.mark.parametrize("config, network, c_dim, options", [
    ("nvlabs/wplus_walk.yaml", "stylegan2", 0, {"layers": [1, 2, 3]}),
    ("nvlabs/class_walk.yaml", "stylegan2", 3, {}),
    ("nvlabs/wplus_walk.yaml", "stylegan3-r", 0, {"layers": [1, 2, 3]}),
    ("nvlabs/class_walk.yaml", "stylegan3-t", 2, {}),
])
def test_shipped_config_trains_a_walk_on_a_snapshot(pickles, stylegan3, tmp_path, config, network, c_dim, options):
    from tests.support.scripts import ROOT, run_script

    path = pickles["training.networks_stylegan2", c_dim][0] if network == "stylegan2" else stylegan3[network[-1]][0]
    spec = yaml.safe_load((ROOT / "configs" / config).read_text())
    spec["model"]["init_args"]["generator"]["init_args"].update(pickle=str(path), **options)
    spec["data"]["init_args"].update(batch_size=2, val_size=2)
    spec["trainer"].update(max_steps=3, val_check_interval=3, log_every_n_steps=1, enable_progress_bar=False,
                           enable_model_summary=False, accelerator="cpu")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(spec))
    result = run_script("train.py", "fit", "--config", "config.yaml", "--trainer.logger", "false",
                        "--checkpoint.dirpath", "ckpt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3
    assert ckpt["state_dict"]["walk.w"].shape == ((3, 4 * 8) if c_dim == 0 else (c_dim, 1, 8))
    result = run_script("evaluate.py", "steerability", "--checkpoint", "ckpt/last.ckpt", "--out", "report", "--n", "4",
                        "--batch_size", "2", "--wandb", "false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["walk_error"]


# -- bad files ---------------------------------------------------------------------------------------
class Payload:
    """Unpickling this with plain pickle would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def sefa_fails(capsys, path: Path, **options) -> str:
    return steer_fails(capsys, "discover", "sefa", out=str(path.parent / "out"), k=1, wandb=False,
                       generator=generator_spec(path, **options))


def test_a_code_running_payload_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "payload.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Payload(marker)}))
    line = sefa_fails(capsys, path)
    assert "global posix.system" in line or "global os.system" in line
    assert not marker.exists()


def test_foreign_globals_inside_a_snapshot_are_refused(pickles, tmp_path, capsys):
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    data["training_set_kwargs"] = {"when": __import__("datetime").date(2021, 1, 1)}
    write_pickle(tmp_path / "foreign.pkl", data)
    assert "datetime.date" in sefa_fails(capsys, tmp_path / "foreign.pkl")
    assert not (tmp_path / "out").exists()


def test_a_truncated_pickle_is_refused(pickles, tmp_path, capsys):
    data = pickles["training.networks", 0][0].read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    assert "truncated, corrupted or not a pickle" in sefa_fails(capsys, tmp_path / "cut.pkl")


def test_a_pickle_that_is_not_a_snapshot_is_refused(tmp_path, capsys):
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    assert "not an NVlabs network snapshot" in sefa_fails(capsys, tmp_path / "plain.pkl")


def test_a_network_steer_does_not_implement_is_named(tmp_path, capsys):
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    data["G_ema"].meta["module_src"] = "# a fork's networks.py, unlike NVlabs' own\n"
    write_pickle(tmp_path / "fork.pkl", data)
    assert "is a unknown.Generator network, which this steer does not implement" in sefa_fails(capsys, tmp_path / "fork.pkl")


def test_an_architecture_steer_does_not_implement_is_named(tmp_path, capsys):
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    data["G_ema"].meta["state"]["_modules"]["synthesis"].meta["state"]["_init_kwargs"]["architecture"] = "resnet"
    write_pickle(tmp_path / "resnet.pkl", data)
    assert "architecture 'resnet'" in sefa_fails(capsys, tmp_path / "resnet.pkl")


def test_a_state_that_does_not_fit_the_stored_arguments_is_named(tmp_path):
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    data["G_ema"].meta["state"]["_modules"]["synthesis"].meta["state"]["_init_kwargs"]["channel_max"] = 4
    write_pickle(tmp_path / "fork.pkl", data)
    with pytest.raises(SteerError, match=r"SynthesisNetwork network of NVlabs pickle .*fork.pkl was made for another "
                                         r"architecture: shape mismatches"):
        NVlabsStyleGAN(str(tmp_path / "fork.pkl"))


def test_a_persistent_object_of_another_persistence_version_is_refused(tmp_path):
    mapping, synthesis, kwargs = tiny_networks()
    data = snapshot(mapping, synthesis, kwargs, "training.networks")
    data["G_ema"].meta["version"] = 5
    write_pickle(tmp_path / "old.pkl", data)
    with pytest.raises(SteerError, match=r"old.pkl holds an NVlabs persistent object of type 'class', version 5"):
        load_snapshot(tmp_path / "old.pkl")


def test_a_missing_pickle_and_a_discriminator_are_refused(pickles, tmp_path, capsys):
    assert "does not exist" in sefa_fails(capsys, tmp_path / "none.pkl")
    assert "network must be one of G_ema, G" in sefa_fails(capsys, pickles["training.networks", 0][0], network="D")


def test_records_flatten_to_torch_state_dict_names(pickles):
    path, mapping, synthesis = pickles["training.networks", 0]
    record = load_snapshot(path)["G_ema"]
    assert record.qualified_name == "training.networks.Generator"
    state = record.state_dict()
    assert state.keys() == {**{f"mapping.{k}": v for k, v in mapping.state_dict().items()},
                            **{f"synthesis.{k}": v for k, v in synthesis.state_dict().items()}}.keys()


def test_persistent_writer_keeps_submodule_records(pickles):
    mapping, synthesis, kwargs = tiny_networks()
    record = persistent(mapping, SOURCES["training.networks"], {mapping: {"z_dim": 8}})
    assert record.meta["class_name"] == "MappingNetwork" and record.meta["state"]["_init_kwargs"] == {"z_dim": 8}
    assert set(record.meta["state"]["_modules"]) == {"fc0", "fc1"}


# -- StyleGAN3 (configs stylegan3-t and stylegan3-r) -------------------------------------------------------------
@pytest.fixture(scope="module")
def stylegan3(tmp_path_factory) -> dict[str, tuple[Path, torch.nn.Module, torch.nn.Module]]:
    """config → (path, mapping, synthesis) of tiny stylegan3-t (conditional, 2 classes) and -r snapshots."""
    folder = tmp_path_factory.mktemp("stylegan3")
    made = {}
    for config, c_dim, options in (("t", 2, {}), ("r", 0, STYLEGAN3_R)):
        path = folder / f"stylegan3-{config}.pkl"
        made[config] = (path, *write_nvlabs_pickle(path, "training.networks_stylegan3", c_dim=c_dim, **options))
    return made


@pytest.mark.parametrize("config", ["t", "r"])
def test_a_stylegan3_snapshot_draws_the_images_of_the_networks_it_holds(stylegan3, config):
    path, mapping, synthesis = stylegan3[config]
    g = NVlabsStyleGAN(str(path), latent_space="z", truncation_psi=0.7)
    assert g.resolution == 16 and g.synthesis.num_ws == 16
    z, y = g.sample(2, torch.Generator().manual_seed(0))
    c = None if y is None else F.one_hot(y, 2).float()
    with torch.no_grad():
        expected = synthesis(mapping.ws(z, c, truncation_psi=0.7)).clamp(-1, 1)
        torch.testing.assert_close(g(z, y), expected, atol=1e-5, rtol=0)


def test_stylegan3_sefa_reads_the_layer_styles_but_not_the_input_transform_or_torgb(stylegan3):
    g = NVlabsStyleGAN(str(stylegan3["r"][0]), latent_space="w")
    synthesis = g.synthesis
    layers = [getattr(synthesis, name) for name in synthesis.layer_names[:-1]]
    expected = torch.cat([layer.affine.weight * layer.affine.weight_gain for layer in layers])
    torch.testing.assert_close(g.first_projection(), expected)


def test_stylegan3_sefa_pca_and_steerability_run_from_the_command(stylegan3, tmp_path):
    path = stylegan3["t"][0]
    steer_run("discover", "sefa", out=str(tmp_path / "sefa"), k=1, wandb=False, generator=generator_spec(path))
    steer_run("discover", "pca", out=str(tmp_path / "pca"), k=2, n=24, batch_size=8, wandb=False,
              generator=generator_spec(path, latent_space="z"))
    assert torch.load(tmp_path / "pca" / "directions.pt", weights_only=True)["directions"].shape == (2, 8)
    walk = {"class_path": "steer.walks.DirectionWalk", "init_args": {"path": str(tmp_path / "sefa" / "directions.pt")}}
    steer_run("evaluate", "steerability", generator=generator_spec(path), walk=walk,
              edit={"class_path": "steer.edits.ShiftX", "init_args": {"max_shift": 4}}, out=str(tmp_path / "report"), n=2, batch_size=2,
              classes=[1], wandb=False)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["classes"] == [1]
