"""Procedural sprites: factor distributions, rendering, and the seeded, resumable data stream."""

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader

from steer.errors import SteerError
from steer.sprites import (
    FACTORS,
    SHAPES,
    Fixed,
    Normal,
    SpriteFactors,
    SpritesDataModule,
    SpritesDataset,
    Uniform,
    render,
    shape_area,
)

SIZE = 16


def scalar(value: float) -> torch.Tensor:
    return torch.tensor([float(value)])


def one(shape: str, x: float, y: float, scale: float, rotation: float = 0.0, size: int = 32) -> torch.Tensor:
    """One white sprite as an (H, W) coverage map in [0, 1]."""
    index = torch.tensor([SHAPES.index(shape)])
    image = render(index, scalar(x), scalar(y), scalar(scale), scalar(rotation), torch.ones(1, 3), size)
    return (image[0, 0] + 1) / 2


def indices(loader: DataLoader) -> list[int]:
    return [int(b["index"][0]) for b in loader]


# -- distributions ------------------------------------------------------------------
def test_biased_distribution_stays_in_its_range():
    draws = Normal(16.0, 2.0, low=12.0, high=20.0).sample(4000, torch.Generator().manual_seed(0))
    assert draws.min() >= 12 and draws.max() <= 20
    assert abs(draws.mean().item() - 16) < 0.1
    assert 1.5 < draws.std().item() < 2.0  # truncation at ±2σ narrows the spread


def test_unbounded_normal_has_its_mean_and_std():
    draws = Normal(-3.0, 0.5).sample(4000, torch.Generator().manual_seed(1))
    assert abs(draws.mean().item() + 3) < 0.03 and abs(draws.std().item() - 0.5) < 0.03


def test_one_sided_normal_is_truncated_on_that_side_only():
    draws = Normal(0.3, 0.1, low=0.25).sample(2000, torch.Generator().manual_seed(2))
    assert draws.min() >= 0.25 and draws.max() > 0.45


def test_uniform_and_fixed_draw_what_they_say():
    g = torch.Generator().manual_seed(3)
    u = Uniform(2.0, 5.0).sample(2000, g)
    assert u.min() >= 2 and u.max() <= 5 and abs(u.mean().item() - 3.5) < 0.1
    assert torch.equal(Fixed(0.7).sample(5, g), torch.full((5,), 0.7))
    assert torch.equal(Normal(1.0, 0.0).sample(3, g), torch.ones(3))


def test_shape_probabilities_choose_the_shapes():
    factors = SpriteFactors(SIZE, shapes={"heart": 1.0}).sample(50, torch.Generator().manual_seed(0))
    assert (factors["shape"] == SHAPES.index("heart")).all()
    mixed = SpriteFactors(SIZE, shapes={"square": 3, "ellipse": 1}).sample(2000, torch.Generator().manual_seed(0))
    share = (mixed["shape"] == SHAPES.index("square")).float().mean().item()
    assert abs(share - 0.75) < 0.04 and not (mixed["shape"] == SHAPES.index("heart")).any()


def test_distributions_load_from_a_yaml_class_path(tmp_path):
    from jsonargparse import ArgumentParser

    config = tmp_path / "data.yaml"
    config.write_text(
        "data:\n  factors:\n    size: 16\n    shapes: {ellipse: 1.0}\n"
        "    x:\n      class_path: steer.data.sprites.Normal\n      init_args: {mean: 8, std: 1, low: 6, high: 10}\n"
        "    scale:\n      class_path: steer.data.sprites.Fixed\n      init_args: {value: 0.25}\n"
    )
    parser = ArgumentParser()
    parser.add_class_arguments(SpritesDataModule, "data")
    dm = parser.instantiate(parser.parse_path(config)).data
    assert dm.factors.dists["x"] == Normal(8.0, 1.0, low=6.0, high=10.0)
    assert dm.factors.dists["scale"] == Fixed(0.25)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Uniform(3.0, 1.0), "low ≤ high"),
        (lambda: Normal(0.0, 1.0, low=2.0, high=1.0), "low ≤ high"),
        (lambda: Normal(0.0, -1.0), "std must be ≥ 0"),
        (lambda: Fixed(float("nan")), "finite"),
        (lambda: SpriteFactors(0), "positive number of pixels"),
        (lambda: SpriteFactors(SIZE, shapes={"triangle": 1.0}), "unknown sprite shape"),
        (lambda: SpriteFactors(SIZE, shapes={"square": 0.0}), "positive sum"),
        (lambda: SpriteFactors(SIZE, scale=Normal(0.3, 0.1)), "scale must stay > 0"),
        (lambda: SpriteFactors(SIZE, red=Uniform(0.5, 1.5)), "red must stay in [0, 1]"),
        (lambda: SpriteFactors(SIZE, x=0.5), "needs a Fixed, Uniform or Normal"),
        (lambda: SpritesDataModule(SpriteFactors(SIZE), batch_size=0), "batch_size must be ≥ 1"),
    ],
)
def test_bad_factor_settings_raise_a_clear_error(make, words):
    with pytest.raises(SteerError, match=words.replace("[", r"\[").replace("]", r"\]")):
        make()


# -- rendering ------------------------------------------------------------------------
def test_render_gives_nchw_images_in_minus_one_to_one_with_a_black_background():
    factors = SpriteFactors(SIZE).sample(6, torch.Generator().manual_seed(0))
    colour = torch.stack([factors[c] for c in ("red", "green", "blue")], 1)
    images = render(factors["shape"], factors["x"], factors["y"], factors["scale"], factors["rotation"], colour, SIZE)
    assert images.shape == (6, 3, SIZE, SIZE) and images.dtype == torch.float32
    assert images.min() == -1 and images.max() <= 1
    assert (images[:, :, 0, 0] == -1).all()  # corners stay background


def test_edges_are_anti_aliased_by_pixel_coverage():
    # a 10 px square centred half a pixel off the grid: its edges cover half of the pixels they cross
    square = one("square", 16.5, 16.0, 10 / 32)
    assert square.sum().item() == pytest.approx(100.0)
    assert square[16, 11].item() == pytest.approx(0.5) and square[16, 21].item() == pytest.approx(0.5)
    assert square[16, 12].item() == 1.0


@pytest.mark.parametrize("shape", SHAPES)
def test_rendered_area_matches_the_exact_area(shape):
    image = one(shape, 16.3, 15.8, 0.5, rotation=20.0, size=32)
    exact = shape_area(torch.tensor([SHAPES.index(shape)]), torch.tensor([0.5]), 32).item()
    assert image.sum().item() == pytest.approx(exact, rel=0.01)


def test_rotation_is_counter_clockwise_as_seen():
    ellipse = one("ellipse", 16.0, 16.0, 0.6, rotation=45.0)
    # image rows grow downwards: up-right of the centre is (row 16 − d, column 16 + d)
    assert ellipse[16 - 5, 16 + 5] == 1 and ellipse[16 + 5, 16 + 5] == 0
    upright = one("ellipse", 16.0, 16.0, 0.6, rotation=90.0)
    assert upright[16 - 8, 16] == 1 and upright[16, 16 + 8] == 0


def test_heart_is_centred_on_its_centroid_with_lobes_up():
    heart = one("heart", 16.0, 16.0, 0.6)
    rows = torch.arange(32) + 0.5
    centroid_y = (heart.sum(1) * rows).sum() / heart.sum()
    assert centroid_y.item() == pytest.approx(16.0, abs=0.05)
    assert heart[9, 12] == 1 and heart[9, 16] < 1  # a lobe, and the notch between the lobes, at the top
    assert heart[25].sum() < 2 < heart[10].sum()  # the point at the bottom


def test_render_rejects_mismatched_factors():
    with pytest.raises(SteerError, match="colour"):
        render(torch.zeros(2, dtype=torch.long), *(torch.zeros(2),) * 4, torch.ones(2, 4), SIZE)
    with pytest.raises(SteerError, match="shape indices"):
        render(torch.tensor([3]), *(torch.ones(1),) * 4, torch.ones(1, 3), SIZE)
    with pytest.raises(SteerError, match="size > 0"):
        render(torch.tensor([0]), *(torch.ones(1),) * 4, torch.ones(1, 3), 0)


# -- the stream ---------------------------------------------------------------------------
def test_same_seed_and_index_give_same_batch_whatever_the_worker_count():
    dataset = SpritesDataset(SpriteFactors(SIZE), batch_size=3, seed=7, start=1, batches_per_epoch=6)
    alone = list(DataLoader(dataset, batch_size=None, num_workers=0))
    shared = list(DataLoader(dataset, batch_size=None, num_workers=2))
    assert indices(alone) == indices(shared) == [1, 2, 3, 4, 5]
    for a, b in zip(alone, shared):
        assert torch.equal(a["image"], b["image"])
        assert all(torch.equal(a["factors"][k], b["factors"][k]) for k in a["factors"])
    assert torch.equal(dataset.batch(3)["image"], alone[2]["image"])


def test_batch_factors_describe_the_batch_images():
    batch = SpritesDataset(SpriteFactors(SIZE), batch_size=4, seed=0).batch(0)
    assert batch["image"].shape == (4, 3, SIZE, SIZE)
    assert tuple(batch["factors"]) == FACTORS
    assert all(v.shape == (4,) for v in batch["factors"].values())
    assert batch["factors"]["shape"].dtype == torch.long
    assert torch.equal(batch["index"], torch.zeros(4, dtype=torch.long))
    # the brightest channel value of each image is its sprite's colour (its interior pixels are fully covered)
    peak = ((batch["image"] + 1) / 2).amax(dim=(2, 3))
    colour = torch.stack([batch["factors"][c] for c in ("red", "green", "blue")], 1)
    assert torch.allclose(peak, colour, atol=1e-6)


def test_ranks_draw_different_sprites():
    factors = SpriteFactors(SIZE)
    rank0 = SpritesDataset(factors, batch_size=4, seed=0, rank=0).batch(0)
    rank1 = SpritesDataset(factors, batch_size=4, seed=0, rank=1).batch(0)
    assert not torch.equal(rank0["factors"]["x"], rank1["factors"]["x"])
    again = SpritesDataset(factors, batch_size=4, seed=0, rank=1).batch(0)
    assert torch.equal(rank1["image"], again["image"])


def test_seeds_draw_different_sprites():
    factors = SpriteFactors(SIZE)
    a = SpritesDataset(factors, batch_size=4, seed=0).batch(0)
    b = SpritesDataset(factors, batch_size=4, seed=1).batch(0)
    assert not torch.equal(a["factors"]["x"], b["factors"]["x"])


def test_a_pass_ends_on_the_next_epoch_boundary():
    dataset = SpritesDataset(SpriteFactors(SIZE), batch_size=1, seed=0, start=7, batches_per_epoch=5)
    assert indices(DataLoader(dataset, batch_size=None)) == [7, 8, 9]


def test_resumed_stream_continues_where_it_stopped():
    dm = SpritesDataModule(SpriteFactors(SIZE), batch_size=2, seed=3, n_val=4, batches_per_epoch=4)
    dm.setup("fit")
    stream = iter(dm.train_dataloader())
    for _ in range(3):
        dm.on_after_batch_transfer(next(stream), 0)
    following = next(stream)
    state = dm.state_dict()
    assert state == {"position": 3}

    resumed = SpritesDataModule(SpriteFactors(SIZE), batch_size=2, seed=3, n_val=4, batches_per_epoch=4)
    resumed.load_state_dict(state)
    resumed.setup("fit")
    first = next(iter(resumed.train_dataloader()))
    assert int(first["index"][0]) == 3 and torch.equal(first["image"], following["image"])
    # the next pass (epoch) starts after the last batch that reached the model
    dm.on_after_batch_transfer(following, 0)
    assert indices(dm.train_dataloader()) == [4, 5, 6, 7]


def test_validation_batches_do_not_move_the_stream():
    dm = SpritesDataModule(SpriteFactors(SIZE), batch_size=2, n_val=4)
    dm.setup("fit")
    dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert dm.state_dict() == {"position": 0}


def test_validation_set_is_split_disjointly_across_ranks():
    def val_x(rank: int, world: int) -> torch.Tensor:
        dm = SpritesDataModule(SpriteFactors(SIZE), batch_size=4, seed=5, n_val=10)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=world)
        dm.setup("validate")
        return torch.cat([b["factors"]["x"] for b in dm.val_dataloader()])

    whole = val_x(0, 1)
    parts = [val_x(r, 3) for r in range(3)]
    assert len(whole) == 10 and [len(p) for p in parts] == [4, 3, 3]
    for r, part in enumerate(parts):
        assert torch.equal(part, whole[r::3])


@pytest.mark.slow
def test_lightning_fit_resumes_the_stream_from_a_checkpoint(tmp_path):
    import pytorch_lightning as pl

    class Recorder(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen: list[int] = []
            self.validated = 0

        def training_step(self, batch, batch_idx):
            self.seen.append(int(batch["index"][0]))
            return (self.weight * batch["image"].mean()).sum()

        def validation_step(self, batch, batch_idx):
            self.validated += len(batch["image"])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    def fit(epochs: int, ckpt=None) -> tuple[Recorder, pl.Trainer]:
        model = Recorder()
        trainer = pl.Trainer(max_epochs=epochs, default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
        dm = SpritesDataModule(SpriteFactors(8), batch_size=2, n_val=2, batches_per_epoch=3)
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
        return model, trainer

    first, trainer = fit(2)
    assert first.seen == [0, 1, 2, 3, 4, 5] and first.validated > 0  # validation batches leave the stream alone
    ckpt = tmp_path / "two.ckpt"
    trainer.save_checkpoint(ckpt)
    assert torch.load(ckpt, weights_only=True)["SpritesDataModule"] == {"position": 6}
    resumed, _ = fit(3, ckpt)
    assert resumed.seen == [6, 7, 8]
