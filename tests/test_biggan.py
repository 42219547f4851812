"""BigGAN through pytorch-pretrained-biggan: a tiny model saved as config.json + pytorch_model.bin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN as PackageBigGAN

from steer.errors import SteerError
from steer.generators import BigGAN
from tests.support.tiny_generators import save_biggan


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, PackageBigGAN]:
    folder = tmp_path_factory.mktemp("biggan")
    return folder, save_biggan(folder)


@pytest.fixture(scope="module")
def biggan(saved) -> BigGAN:
    return BigGAN(str(saved[0]))


def batch(g: BigGAN, n: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return g.sample_latent(n, rng), g.sample_class(n, rng)


def test_loads_and_matches_the_package_model(saved, biggan):
    assert (biggan.latent_dim, biggan.resolution, biggan.num_classes, biggan.truncation) == (8, 16, 10, 0.4)
    z, y = batch(biggan)
    with torch.no_grad():
        images = biggan(z, y)
        reference = saved[1](z, F.one_hot(y, 10).float(), 0.4)
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1
    torch.testing.assert_close(images, reference)
    with torch.no_grad():
        torch.testing.assert_close(biggan(z, y), images, rtol=0, atol=0)


def test_frozen_generator_stays_in_eval_mode_and_keeps_its_spectral_norm_state(biggan):
    u = biggan.model.generator.gen_z.weight_u.clone()
    biggan.train()
    assert biggan.frozen and not any(m.training for m in biggan.modules())
    assert not any(p.requires_grad for p in biggan.parameters())
    with torch.no_grad():
        biggan(*batch(biggan))
    torch.testing.assert_close(biggan.model.generator.gen_z.weight_u, u, rtol=0, atol=0)


def test_truncation_scales_the_noise_and_selects_the_statistics(saved):
    low, high = BigGAN(str(saved[0]), truncation=0.4), BigGAN(str(saved[0]), truncation=1.0)
    z = low.sample_latent(2000, torch.Generator().manual_seed(1))
    assert z.abs().max() <= 0.4 * 2 and z.abs().max() > 0.4 * 1.9  # ψ·z, z truncated to [-2, 2]
    torch.testing.assert_close(z, 0.4 * high.sample_latent(2000, torch.Generator().manual_seed(1)))
    zs, y = batch(low)
    with torch.no_grad():
        assert not torch.allclose(low(zs, y), high(zs, y))
    with pytest.raises(SteerError, match=r"\(0, 1\]"):
        BigGAN(str(saved[0]), truncation=1.5)


def test_first_projection_is_the_z_part_of_gen_z_and_gives_sefa_directions(biggan):
    a = biggan.first_projection()
    assert a.shape == (4 * 4 * 16 * 4, 8)
    gen_z = biggan.model.generator.gen_z
    z, _ = batch(biggan)
    with torch.no_grad():
        linear_part = gen_z(torch.cat([z, torch.zeros_like(z)], dim=1)) - gen_z.bias  # cond = cat(z, embed(y))
    torch.testing.assert_close(linear_part, z @ a.T)
    rows = a / a.norm(dim=1, keepdim=True)
    values, vectors = torch.linalg.eigh(rows.T @ rows)
    top, bottom = vectors[:, values.argmax()], vectors[:, values.argmin()]
    assert (rows @ top).norm() > (rows @ bottom).norm()  # the top direction moves the projection most


def test_gradients_reach_the_latent_through_the_frozen_generator(biggan):
    z, y = batch(biggan)
    z.requires_grad_(True)
    biggan(z, y).square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0 and torch.isfinite(z.grad).all()
    assert all(p.grad is None for p in biggan.parameters())


def test_class_labels_are_checked(biggan):
    z, _ = batch(biggan, 2)
    with pytest.raises(SteerError, match=r"\[0, 10\)"):
        biggan(z, torch.tensor([0, 10]))
    with pytest.raises(SteerError, match="class indices"):
        biggan(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(SteerError, match="needs class labels"):
        biggan(z)


def test_missing_folder_or_file_says_where_and_how_to_get_them(tmp_path):
    with pytest.raises(SteerError) as err:
        BigGAN(str(tmp_path / "biggan-deep-256"))
    message = str(err.value)
    for part in ("config.json", "pytorch_model.bin", str(tmp_path / "biggan-deep-256"), "does not exist", "internet"):
        assert part in message
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SteerError, match="pytorch_model.bin missing there"):
        BigGAN(str(tmp_path))


def test_wrong_files_are_named_in_one_line(saved, tmp_path):
    folder = tmp_path / "mixed"
    save_biggan(folder, z_dim=6)
    (folder / "config.json").write_text((saved[0] / "config.json").read_text())  # config of another model
    with pytest.raises(SteerError) as err:
        BigGAN(str(folder))
    message = str(err.value)
    assert "another architecture" in message and "shape mismatches" in message and "\n" not in message
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2)}}, folder / "pytorch_model.bin")
    with pytest.raises(SteerError, match="not a state dict"):
        BigGAN(str(folder))
    (folder / "config.json").write_text("not json")
    with pytest.raises(SteerError, match="not readable JSON"):
        BigGAN(str(folder))


@pytest.mark.slow
def test_importing_steer_generators_does_not_import_the_package():
    code = "import sys, steer.generators; sys.exit('pytorch_pretrained_biggan' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
