"""Seeding and the process-global RNG states, in a form ``torch.load(weights_only=True)`` accepts.

Exact resume needs every random stream back where it was: torch's CPU generator (dropout), the
CUDA generators, Python's ``random`` and NumPy's legacy global generator (used by some
augmentation libraries). Python and NumPy expose their state as tuples holding NumPy arrays,
which the safe unpickler refuses, so they are stored as plain ints and int64 tensors and
rebuilt on restore.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch

from decig.core.errors import CheckpointError


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. ``derive_seed(seed, "rank", 1)``.

    Hashing (rather than ``seed + rank``) keeps derived streams unrelated: seed 0 / rank 1 and
    seed 1 / rank 0 would otherwise share one stream. SHA-256 is stable across processes,
    unlike ``hash()``, which Python salts per process.
    """
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and all CUDA devices), Python ``random`` and NumPy's global generator."""
    torch.manual_seed(seed)  # also seeds every CUDA device
    random.seed(seed)
    np.random.seed(seed % (2**32))  # NumPy's legacy seeding takes 32 bits


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state as tensors / ints / lists (safe-unpickler friendly)."""
    version, mt_state, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch_cpu": torch.get_rng_state(),
        "python": {
            "version": int(version),
            "state": torch.tensor(mt_state, dtype=torch.int64),
            "gauss": gauss,  # None or a float
        },
        "numpy": {
            "bit_generator": str(np_state["bit_generator"]),
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch_cuda": [],
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = [t.cpu() for t in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`; CheckpointError when the record is malformed."""
    try:
        torch.set_rng_state(state["torch_cpu"].to(torch.uint8))
        py = state["python"]
        random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
        npd = state["numpy"]
        np.random.set_state(
            {
                "bit_generator": npd["bit_generator"],
                "state": {"key": npd["key"].numpy().astype(np.uint32), "pos": npd["pos"]},
                "has_gauss": npd["has_gauss"],
                "gauss": npd["gauss"],
            }
        )
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"checkpoint RNG state is malformed ({type(err).__name__}: {err})") from None
    cuda_states = state.get("torch_cuda") or []
    if cuda_states:
        if not torch.cuda.is_available():
            # Resuming a GPU run on CPU is allowed; its CUDA streams simply do not exist here.
            return
        if len(cuda_states) != torch.cuda.device_count():
            raise CheckpointError(
                f"checkpoint holds RNG states of {len(cuda_states)} CUDA devices but {torch.cuda.device_count()} are "
                "visible; exact resume needs the same device count"
            )
        torch.cuda.set_rng_state_all(cuda_states)
