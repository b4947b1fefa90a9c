"""Evaluate saved generators side by side: quality, fidelity to a teacher, FID/KID, cost, latency.

:func:`evaluate_models` takes named saved-model directories (e.g. ``vanilla``, ``teacher``,
``student``) and a paired test split and writes ``metrics.json`` with every number:

* generated test outputs as PNGs under ``out_dir/samples/<model>/`` (and the inputs / ground
  truth under ``samples/_input`` and ``samples/_real_B``),
* PSNR/SSIM against ground truth (per image, then averaged; see :mod:`paired_metrics`),
* fidelity to the teacher's outputs (PSNR in dB and L1), when a teacher is named; a model
  identical to the teacher scores PSNR = inf,
* FID/KID against the real test B images with the offline Inception (protocol recorded; the
  real features are cached under a key that includes a hash of the test files' bytes),
* cost: params, true and convention MACs, weights size in MB,
* interleaved batch-1 latency via :func:`decig.evaluate.benchmark.benchmark`, with speedups and
  MAC/param/size reductions against the baseline model.

Models run in ``eval()`` mode (dropout off, so outputs are deterministic). All models see the
same batches, so teacher fidelity needs no stored copy of the teacher's outputs.

``metrics.json`` is strict JSON: non-finite floats (PSNR of identical images) are written as
the strings ``"inf"``, ``"-inf"``, ``"nan"``; the returned dict keeps them as floats.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from decig.core.errors import EvaluationError
from decig.evaluate.benchmark import NamedModel, benchmark
from decig.evaluate.cost_metrics import model_cost
from decig.evaluate.image_sources import to_uint8_rgb
from decig.evaluate.latency import DEFAULT_REPEATS, DEFAULT_WARMUP
from decig.evaluate.paired_metrics import PairedMetrics, TeacherFidelity
from decig.core.log import get_logger

log = get_logger(__name__)

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
SAMPLES_DIR = "samples"
INPUT_DIR = "_input"
REAL_DIR = "_real_B"
DEFAULT_BATCH_SIZE = 8


Batch = tuple[torch.Tensor, torch.Tensor, list[str], list[str]]


def _batches(dataset: Any, count: int, batch_size: int) -> Iterator[Batch]:
    """(A, B, names, B paths) batches of the first ``count`` samples; a batch is cut early when the size changes."""
    items: list[dict[str, Any]] = []

    def flush() -> Batch:
        a = torch.stack([s["A"] for s in items])
        b = torch.stack([s["B"] for s in items])
        names = [Path(s["A_path"]).stem for s in items]
        return a, b, names, [str(s["B_path"]) for s in items]

    for index in range(count):
        sample = dataset[index]
        if items and (len(items) == batch_size or sample["A"].shape != items[0]["A"].shape):
            yield flush()
            items = []
        items.append(sample)
    if items:
        yield flush()


def _unique_names(names: list[str], seen: dict[str, int]) -> list[str]:
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}_{n}")
    return out


def _save_pngs(images: torch.Tensor, directory: Path, names: Sequence[str]) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8_rgb(images).permute(0, 2, 3, 1).numpy()
    files = []
    for array, name in zip(pixels, names, strict=True):
        path = directory / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(array)).save(path)
        files.append(path.name)
    return files


def _files_digest(paths: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by strings so the record is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_metrics(metrics: dict[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(metrics), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Load ``metrics.json`` turning "inf"/"-inf"/"nan" strings back into floats."""

    def restore(value: Any) -> Any:
        if value in ("inf", "-inf", "nan"):
            return float(value)
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value

    return restore(json.loads(Path(path).read_text()))


def evaluate_models(
    models: Mapping[str, str | Path],
    data_root: str | Path,
    data_format: str,
    out_dir: str | Path,
    *,
    baseline: str = "vanilla",
    teacher: str | None = "teacher",
    direction: str = "AtoB",
    split: str = "test",
    transform: Any = None,
    max_images: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fid: bool = True,
    kid: bool = True,
    fid_cache_dir: str | Path | None = None,
    fid_weights: Any = None,
    backends: Sequence[str] = ("eager", "onnx"),
    threads: int = 1,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    latency: bool = True,
) -> dict[str, Any]:
    """Evaluate every named saved model on ``split`` and write ``out_dir/metrics.json``; return the record.

    ``transform`` is a :class:`~decig.data.transforms.TransformConfig` (default: no resize, no
    flip). ``teacher=None`` skips teacher fidelity; ``fid=False`` skips the Inception pass;
    ``latency=False`` skips timing (ratios then cover cost only).
    """
    from decig.data.factory import load_dataset
    from decig.data.transforms import TransformConfig
    from decig.models.persistence import load_model

    if not models:
        raise EvaluationError("no models to evaluate")
    names = list(models)
    if baseline not in names:
        raise EvaluationError(f"baseline {baseline!r} is not among the models ({', '.join(names)})")
    if teacher is not None and teacher not in names:
        raise EvaluationError(f"teacher {teacher!r} is not among the models ({', '.join(names)})")
    if any(name.startswith("_") or "/" in name for name in names):
        raise EvaluationError(f"model names may not start with '_' or contain '/': {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    loaded = {}
    for name in names:
        model, manifest = load_model(models[name])
        loaded[name] = (model.eval(), manifest)

    transform = transform if transform is not None else TransformConfig(preprocess="none", flip=False)
    dataset = load_dataset(data_format, data_root, split, direction=direction, transform=transform)
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    if count < 1:
        raise EvaluationError(f"no test images in {data_root}/{split}")

    evaluator = None
    if fid:
        from decig.evaluate.fid import FidEvaluator

        evaluator = FidEvaluator(cache_dir=fid_cache_dir, weights=fid_weights)

    samples = out / SAMPLES_DIR
    quality = {name: PairedMetrics() for name in names}
    fidelity = {name: TeacherFidelity() for name in names} if teacher is not None else {}
    features: dict[str, list[np.ndarray]] = {name: [] for name in names}
    sample_files: dict[str, list[str]] = {name: [] for name in [INPUT_DIR, REAL_DIR, *names]}
    used_paths: list[str] = []
    seen: dict[str, int] = {}
    with torch.inference_mode():
        for a, b, stems, paths in _batches(dataset, count, batch_size):
            stems = _unique_names(stems, seen)
            used_paths.extend(paths)
            sample_files[INPUT_DIR] += _save_pngs(a, samples / INPUT_DIR, stems)
            sample_files[REAL_DIR] += _save_pngs(b, samples / REAL_DIR, stems)
            outputs = {name: loaded[name][0](a) for name in names}
            for name, fake in outputs.items():
                quality[name].update(fake, b)
                if teacher is not None:
                    fidelity[name].update(fake, outputs[teacher])
                sample_files[name] += _save_pngs(fake, samples / name, stems)
                if evaluator is not None:
                    features[name].append(evaluator.embed([to_uint8_rgb(fake)]))

    fid_results: dict[str, Any] = {}
    fid_protocol = None
    if evaluator is not None:
        # The key pins everything the real pixels depend on: files' bytes, direction, count, preprocessing.
        prep = f"{transform.preprocess}-{transform.load_size}-{transform.crop_size}"
        key = f"{data_format}/{Path(data_root).name}/{split}/{direction}/{prep}/n{count}/{_files_digest(used_paths)}"

        def real_source() -> Iterator[torch.Tensor]:
            for _, b, _, _ in _batches(dataset, count, batch_size):
                yield to_uint8_rgb(b)

        real = evaluator.real_statistics(real_source(), key=key)
        for name in names:
            result = evaluator.compare_features(real, np.concatenate(features[name]), kid=kid and count >= 2)
            fid_results[name] = {"fid": result.fid, "kid_mean": result.kid_mean, "kid_std": result.kid_std}
            fid_protocol = result.protocol

    costs = {name: model_cost(model, manifest) for name, (model, manifest) in loaded.items()}
    bench = None
    if latency:
        bench = benchmark(
            [NamedModel(name, loaded[name][0], loaded[name][1], str(models[name])) for name in names],
            baseline=baseline,
            backends=backends,
            threads=threads,
            repeats=repeats,
            warmup=warmup,
        )

    base_cost = costs[baseline]
    rows: dict[str, Any] = {}
    for name in names:
        cost = costs[name]
        row: dict[str, Any] = {
            "source": str(models[name]),
            "family": loaded[name][1].family,
            "quality": quality[name].result(),
            "teacher_fidelity": fidelity[name].result() if teacher is not None else None,
            "fid": fid_results.get(name),
            "cost": cost.to_dict(),
            "mac_reduction_vs_baseline": base_cost.macs_true / cost.macs_true,
            "param_reduction_vs_baseline": base_cost.params / cost.params,
            "size_reduction_vs_baseline": base_cost.weights_bytes / cost.weights_bytes,
            "latency": {},
        }
        if bench is not None:
            for timing in bench["timings"]:
                if timing["model"] == name:
                    row["latency"][timing["backend"]] = {
                        key: timing[key]
                        for key in (
                            "median_ms",
                            "p90_ms",
                            "fps",
                            "speedup_vs_baseline",
                            "speedup_same_backend",
                            "speedup_over_mac_reduction",
                        )
                    }
        rows[name] = row

    metrics: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "baseline": baseline,
        "teacher": teacher,
        "dataset": {
            "root": str(Path(data_root).resolve()),
            "format": data_format,
            "split": split,
            "direction": direction,
            "count": count,
            "transform": {k: getattr(transform, k) for k in ("preprocess", "load_size", "crop_size", "flip")},
        },
        "models": rows,
        "fid_protocol": fid_protocol,
        "latency_settings": None
        if bench is None
        else {"baseline": bench["baseline"], "settings": bench["settings"], "machine": bench["machine"]},
        "benchmark": bench,
        "samples": {"dir": SAMPLES_DIR, "files": sample_files},
        "notes": {
            "psnr_ssim": "per image on [0,1] (from [-1,1]), then averaged; PSNR inf = identical images",
            "macs": "macs_true = as computed; macs_convention = transposed convs charged at output resolution (papers)",
            "speedup_vs_baseline": "baseline model on the baseline backend (eager) / this, by median latency",
            "speedup_same_backend": "baseline model on the same backend / this",
            "size": "MB = 10^6 bytes of torch.save(state_dict)",
        },
        "elapsed_s": time.perf_counter() - started,
    }
    write_metrics(metrics, out)
    log.info("evaluated %d models on %d images in %.1f s -> %s", len(names), count, metrics["elapsed_s"], out)
    return metrics
