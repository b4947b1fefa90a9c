"""The seeded epoch order: reproducible, sharded without overlap, resumable by step."""

import pytest

from decig.core.errors import DataError
from decig.train.order import EpochOrder


def test_order_is_a_function_of_seed_and_epoch():
    o = EpochOrder(num_samples=20, batch_size=4, seed=1)
    assert o.permutation(0) == EpochOrder(20, 4, seed=1).permutation(0)
    assert sorted(o.permutation(0)) == list(range(20))
    assert o.permutation(0) != o.permutation(1)
    assert o.permutation(0) != EpochOrder(20, 4, seed=2).permutation(0)


def test_shards_cover_the_epoch_without_overlap():
    shards = [EpochOrder(10, 2, seed=0, rank=r, world_size=2).shard(3) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert set(shards[0]).isdisjoint(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_uneven_split_pads_by_wrapping_so_ranks_stay_in_step():
    orders = [EpochOrder(7, 2, seed=0, rank=r, world_size=3) for r in range(3)]
    shards = [o.shard(0) for o in orders]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert set().union(*shards) == set(range(7))
    assert {o.batches_per_epoch for o in orders} == {2}


def test_batches_and_locate_resume_mid_epoch():
    o = EpochOrder(10, 3, seed=0)
    assert o.batches_per_epoch == 4  # last batch holds 1 sample
    full = o.batches(2)
    assert [len(b) for b in full] == [3, 3, 3, 1]
    assert o.batches(2, start=2) == full[2:]
    assert o.locate(0) == (0, 0) and o.locate(9) == (2, 1)
    assert EpochOrder(10, 3, seed=0, drop_last=True).batches_per_epoch == 3


def test_bad_sizes_are_reported():
    with pytest.raises(DataError, match="empty"):
        EpochOrder(0, 2, seed=0)
    with pytest.raises(DataError, match="fewer than one batch"):
        EpochOrder(3, 4, seed=0, drop_last=True)
    with pytest.raises(ValueError, match="rank"):
        EpochOrder(3, 1, seed=0, rank=2, world_size=2)
