"""FID/KID end to end with the offline weights: ~0 for equal sets, clearly > 0 for degraded ones.

Sets are small (6-8 images) to keep Inception on CPU fast; values are then only meaningful
relative to each other, which is all these tests compare. The whole module runs with every
socket connect and DNS lookup raising, so passing proves the path is offline.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from decig.core.errors import EvaluationError
from decig.evaluate.fid import FidEvaluator, FidResult
from decig.evaluate.image_sources import tensor_batches, to_uint8_rgb
from decig.evaluate.real_stats import RealStatistics

pytestmark = pytest.mark.usefixtures("offline_module")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma)
    coords = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel_1d = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel_1d = kernel_1d / kernel_1d.sum()
    kernel = torch.outer(kernel_1d, kernel_1d).expand(images.shape[1], 1, -1, -1)
    padded = F.pad(images, (radius,) * 4, mode="reflect")
    return F.conv2d(padded, kernel, groups=images.shape[1])


@pytest.fixture(scope="module")
def evaluator(offline_module: None, fid_weights, fid_cache: Path) -> FidEvaluator:  # noqa: ANN001
    return FidEvaluator(cache_dir=fid_cache, weights=fid_weights)


@pytest.fixture(scope="module")
def real_images(image_set) -> torch.Tensor:  # noqa: ANN001
    return image_set(seed=0, count=8)


@pytest.fixture(scope="module")
def real(evaluator: FidEvaluator, real_images: torch.Tensor) -> RealStatistics:
    return evaluator.real_statistics(tensor_batches(real_images, batch_size=5), key="synthetic/val@test")


def _must_not_decode() -> Iterator[torch.Tensor]:
    raise AssertionError("real images were decoded although their statistics are cached")
    yield  # pragma: no cover - makes this a generator


@pytest.fixture(scope="module")
def degraded(evaluator: FidEvaluator, real: RealStatistics, real_images: torch.Tensor) -> FidResult:
    """A blurred, noisy copy of 6 of the real images (unequal counts on purpose)."""
    noise = torch.randn(real_images[:6].shape, generator=torch.Generator().manual_seed(3))
    images = (gaussian_blur(real_images[:6], sigma=2.0) + 0.3 * noise).clamp(-1, 1)
    return evaluator.compare(real, tensor_batches(images))


@pytest.fixture(scope="module")
def itself(evaluator: FidEvaluator, real: RealStatistics, real_images: torch.Tensor) -> FidResult:
    return evaluator.compare(real, tensor_batches(real_images))


def test_a_set_against_itself_scores_zero(itself: FidResult) -> None:
    assert abs(itself.fid) < 1e-2
    # KID's unbiased estimator is slightly negative when both sides hold the very same samples.
    assert itself.kid_mean is not None and abs(itself.kid_mean) < 0.04


def test_degraded_copy_scores_clearly_worse(degraded: FidResult, itself: FidResult) -> None:
    assert degraded.fid > 100
    assert degraded.kid_mean is not None and itself.kid_mean is not None
    assert degraded.kid_mean > 0.1
    assert degraded.kid_mean > 3 * abs(itself.kid_mean)


@pytest.mark.slow
def test_degraded_copy_scores_worse_than_another_draw_of_the_same_distribution(
    evaluator: FidEvaluator, real: RealStatistics, degraded: FidResult, image_set  # noqa: ANN001
) -> None:
    # An independent draw is the honest "≈ 0" reference: at 8 images FID carries a large
    # small-sample bias (~100 here) that the set-against-itself case hides.
    same = evaluator.compare(real, tensor_batches(image_set(seed=1, count=8)))
    assert same.kid_mean is not None and degraded.kid_mean is not None
    assert degraded.fid > 1.5 * same.fid
    assert degraded.kid_mean > 3 * abs(same.kid_mean)


def test_result_carries_its_protocol(evaluator: FidEvaluator, degraded: FidResult) -> None:
    p = degraded.protocol
    assert p["real_set"] == "synthetic/val@test"
    assert (p["real_count"], p["fake_count"]) == (8, 6)
    assert p["feature_layer"] == "2048" and "inception-v3-compat" in p["feature_extractor"]
    assert "299x299" in p["resize"] and "bilinear" in p["resize"]
    assert p["weights_source_sha256"] == evaluator.weights.source_sha256
    assert p["weights_file_sha256"] == evaluator.weights.sha256
    assert p["kid"]["subset_size"] == 6  # the smaller set, since both are below 1000
    assert "unavailable" in p["inception_score"]
    json.dumps(degraded.to_dict())  # JSON-ready


def test_real_statistics_come_from_the_cache(evaluator: FidEvaluator, real: RealStatistics, fid_cache: Path) -> None:
    fresh = FidEvaluator(cache_dir=fid_cache, weights=evaluator.weights)
    cached = fresh.real_statistics(_must_not_decode(), key="synthetic/val@test")
    np.testing.assert_array_equal(cached.features, real.features)
    assert cached.protocol["real_count"] == 8
    with pytest.raises(AssertionError, match="decoded"):
        fresh.real_statistics(_must_not_decode(), key="synthetic/val@other-manifest-hash")


def test_inception_score_is_refused(evaluator: FidEvaluator) -> None:
    with pytest.raises(EvaluationError, match="no 1008-way logits"):
        evaluator.inception_score()


def test_too_few_images_and_bad_kid_subset_are_clear_errors(evaluator: FidEvaluator, real: RealStatistics) -> None:
    one = real.features[:1]
    with pytest.raises(EvaluationError, match="at least 2 images"):
        evaluator.compare_features(real, one)
    with pytest.raises(EvaluationError, match="KID subset size"):
        evaluator.compare_features(real, real.features, kid_subset_size=50)


@pytest.mark.slow
def test_cli_evaluate_fid_on_folders(
    tmp_path: Path, real_images: torch.Tensor, fid_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decig.evaluate.cli import register_cli

    monkeypatch.setenv("DECIG_CACHE", str(fid_cache))
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    for directory, images in ((real_dir, real_images[:3]), (fake_dir, gaussian_blur(real_images[:3], sigma=3.0))):
        directory.mkdir()
        for index, image in enumerate(to_uint8_rgb(images)):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(directory / f"{index:03d}.png")
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    out = tmp_path / "fid.json"
    args = parser.parse_args(["evaluate-fid", "--real", str(real_dir), "--fake", str(fake_dir), "--out", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    assert result["fid"] > 10 and result["kid_mean"] > 0
    assert result["protocol"]["real_dir"] == str(real_dir)
    assert result["protocol"]["real_count"] == result["protocol"]["fake_count"] == 3
