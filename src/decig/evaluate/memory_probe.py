"""Subprocess entry point: peak resident memory of one CPU inference of a saved model.

Run as ``python -m decig.evaluate.memory_probe MODEL_DIR --threads N``; prints one JSON object.

Why a fresh process: CPU memory has no allocator statistics like CUDA's, and RSS in a long-lived
process carries whatever earlier work left mapped (other models, glibc arenas, cached
activations). A fresh interpreter that only loads this model gives a clean baseline. The kernel's
high-water mark (VmHWM) is reset right before the inference by writing ``5`` to
``/proc/self/clear_refs`` (Linux >= 4.0), so the peak is that of the inference, not of loading the
weights. The first inference is measured (cold), because its one-time allocations (thread pools,
oneDNN primitive caches) are memory a deployed model needs too; it is an upper bound on later calls.
A second call, after returning freed heap pages to the OS with glibc's ``malloc_trim``, is measured
the same way (``steady_peak_delta_mb``): without the one-time part it isolates activations and
workspaces, which is what differs between a model and its pruned version.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
from pathlib import Path

_KIB = 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(model_dir: Path, threads: int) -> dict[str, object]:
    import torch

    from decig.models.persistence import load_model

    torch.set_num_threads(threads)
    model, manifest = load_model(model_dir)
    model.eval()
    x = torch.rand(1, manifest.input_nc, *manifest.input_size) * 2 - 1
    cold = _one_call(model, x)
    # Freed activations stay resident in glibc's heap; without handing them back the second call
    # would reuse those pages and show (almost) no rise. malloc_trim returns them to the OS.
    trimmed = _malloc_trim()
    warm = _one_call(model, x)
    return {
        "rss_before_mb": cold["before_mb"],
        "peak_rss_mb": cold["peak_mb"],
        "inference_peak_delta_mb": cold["delta_mb"],
        "steady_peak_delta_mb": warm["delta_mb"] if trimmed else None,
        "peak_reset": cold["reset"] and warm["reset"],
        "threads": threads,
        "input_shape": list(x.shape),
    }


def _malloc_trim() -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):  # not glibc: the steady figure would be meaningless
        return False


def _one_call(model: object, x: object) -> dict[str, float | bool]:
    import torch

    gc.collect()
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    with torch.inference_mode():
        model(x)  # type: ignore[operator]
    peak = _status_kib("VmHWM")
    # Without a reset the high-water mark may be from loading; the delta is then a lower bound only.
    return {
        "before_mb": before * _KIB / 1e6,
        "peak_mb": peak * _KIB / 1e6,
        "delta_mb": max(0, peak - before) * _KIB / 1e6,
        "reset": reset,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    json.dump(measure(args.model_dir, args.threads), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
