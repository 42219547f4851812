import itertools
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader

from steer.data.latents import LatentDataModule, LatentStream
from steer.edits import Color
from steer.errors import SteerError
from steer.generators import DCGAN


def sampler():
    gen = DCGAN(latent_dim=6, resolution=8, width=2, num_classes=3)
    edit = Color()

    def sample(n, g):
        return {"z": gen.sample_latent(n, g), "alpha": edit.sample_alpha(n, g), "y": gen.sample_class(n, g)}

    return sample


def take(stream, n, workers=0):
    return list(itertools.islice(DataLoader(stream, batch_size=None, num_workers=workers), n))


def test_same_seed_rank_and_index_give_the_same_batch_whatever_the_worker_count():
    one = take(LatentStream(sampler(), 4, seed=1), 4)
    two = take(LatentStream(sampler(), 4, seed=1), 4, workers=2)
    for a, b in zip(one, two):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [int(b["index"][0]) for b in two] == [0, 1, 2, 3]


def test_ranks_and_batches_never_repeat_latents():
    rank0 = take(LatentStream(sampler(), 8, seed=1, rank=0), 3)
    rank1 = take(LatentStream(sampler(), 8, seed=1, rank=1), 3)
    z = torch.cat([b["z"] for b in rank0 + rank1])
    assert len(torch.unique(z, dim=0)) == len(z)


def test_resumed_stream_continues_where_it_stopped():
    full = take(LatentStream(sampler(), 4, seed=3), 5)
    resumed = take(LatentStream(sampler(), 4, seed=3, start=3), 2)
    assert torch.equal(resumed[0]["z"], full[3]["z"]) and torch.equal(resumed[1]["alpha"], full[4]["alpha"])


def attached(rank=0, world=1, **kwargs):
    dm = LatentDataModule(**kwargs)
    module = SimpleNamespace(generator=DCGAN(latent_dim=6, resolution=8, width=2), edit=Color())
    dm.trainer = SimpleNamespace(lightning_module=module, global_rank=rank, world_size=world, training=True)
    return dm


def test_position_is_saved_and_restored_and_a_new_pass_goes_on_from_it():
    dm = attached(batch_size=2)
    loader = dm.train_dataloader()
    for batch in itertools.islice(loader, 3):
        dm.on_after_batch_transfer(batch, 0)
    assert dm.state_dict() == {"position": 3}
    assert int(next(iter(loader))["index"][0]) == 3  # the next epoch does not start over
    fresh = attached(batch_size=2)
    fresh.load_state_dict(dm.state_dict())
    assert int(next(iter(fresh.train_dataloader()))["index"][0]) == 3


def test_validation_set_is_fixed_and_split_disjointly_across_ranks():
    shards = [list(attached(rank=r, world=2, val_size=10, batch_size=3).val_dataloader()) for r in range(2)]
    idx = [torch.cat([b["index"] for b in shard]) for shard in shards]
    assert set(idx[0].tolist()).isdisjoint(idx[1].tolist())
    assert sorted(torch.cat(idx).tolist()) == list(range(10))
    again = list(attached(rank=0, world=2, val_size=10, batch_size=3).val_dataloader())
    assert torch.equal(again[0]["z"], shards[0][0]["z"])


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size"), ({"val_size": -1}, "val_size"), ({"num_workers": -2}, "num_workers")])
def test_bad_data_settings_are_refused(kwargs, message):
    with pytest.raises(SteerError, match=message):
        LatentDataModule(**kwargs)
