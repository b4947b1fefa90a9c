"""The CycleGAN image pool: reference semantics, seeded choices, exact state round trip."""

import io

import pytest
import torch

from decig.core.errors import CheckpointError
from decig.train.image_pool import ImagePool


def _batches(n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, 4, 4, generator=g) for _ in range(n)]


def test_size_zero_passes_through():
    x = torch.randn(2, 3, 4, 4)
    assert ImagePool(0, seed=0).query(x) is x


def test_fills_first_then_mixes_history():
    pool = ImagePool(4, seed=0)
    batches = _batches(10)
    assert torch.equal(pool.query(batches[0]), batches[0])  # filling: images come back unchanged
    assert torch.equal(pool.query(batches[1]), batches[1])
    assert len(pool.images) == 4
    seen_old = False
    for b in batches[2:]:
        out = pool.query(b)
        assert out.shape == b.shape
        seen_old |= not torch.equal(out, b)
    assert seen_old, "a full pool must sometimes return a stored image"


def test_same_seed_same_choices_other_seed_differs():
    outs = []
    for seed in (3, 3, 4):
        pool = ImagePool(2, seed=seed)
        outs.append(torch.cat([pool.query(b) for b in _batches(12)]))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


def test_state_round_trip_continues_identically_via_weights_only_load():
    batches = _batches(12)
    a = ImagePool(3, seed=7)
    for b in batches[:5]:
        a.query(b)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = ImagePool(3, seed=999)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for x in batches[5:]:
        assert torch.equal(a.query(x), b.query(x))


def test_state_of_other_size_is_refused():
    a = ImagePool(3, seed=0)
    a.query(torch.randn(3, 3, 2, 2))
    with pytest.raises(CheckpointError, match="pool_size"):
        ImagePool(5, seed=0).load_state_dict(a.state_dict())
