"""Our fast Fréchet distance equals torch-fidelity's reference formula on both code paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

from decig.evaluate.frechet import frechet_distance


def reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    stats_x = fid_features_to_statistics(torch.from_numpy(x))
    stats_y = fid_features_to_statistics(torch.from_numpy(y))
    return fid_statistics_to_metric(stats_x, stats_y, verbose=False)[KEY_METRIC_FID]


@pytest.mark.parametrize(
    ("n1", "n2", "dims"),
    [
        (20, 30, 64),  # fewer samples than dimensions: nuclear-norm path
        (200, 150, 32),  # more samples than dimensions: symmetric eigen path
        (40, 100, 64),  # mixed: one set above, one below the dimension
    ],
)
def test_matches_torch_fidelity(n1: int, n2: int, dims: int) -> None:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(dims, dims))
    x = (rng.normal(size=(n1, dims)) @ mixing).astype(np.float64)
    y = (rng.normal(size=(n2, dims)) @ mixing * 1.3 + 0.5).astype(np.float64)
    expected = reference_fid(x, y)
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_identical_sets_give_zero_and_order_does_not_matter() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 16))
    y = rng.normal(size=(60, 16)) + 1
    assert abs(frechet_distance(x, x)) < 1e-9
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    assert frechet_distance(x, y) > 10  # means differ by 1 in each of 16 dims
