"""The built-in demo dataset: "label map -> photo" landscape scenes in the pix2pix aligned layout.

It exists so the whole pipeline runs on any machine with no download: a few hundred 128x128
pairs that a pix2pix U-Net can learn in minutes. Output bytes depend only on (seed, counts,
size): scenes use bit-exact arithmetic (see :mod:`decig.data.demo_scene`) and PNGs come from
:mod:`decig.data.png`, whose encoder is independent of the zlib build. So ``data.dvc`` can pin
the md5 and any machine can regenerate exactly that dataset instead of pulling it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from decig.data.demo_scene import CLASSES, PALETTE, render_scene
from decig.data.png import encode_png
from decig.core.errors import DataError
from decig.core.log import progress

DEFAULT_COUNTS = {"train": 320, "val": 40, "test": 40}
DEFAULT_SIZE = 128
# Split ids keep per-split streams independent: adding test images never changes train images.
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_OWNED_IMAGE = re.compile(r"^\d{5}\.png(\.tmp)?$")  # what this generator writes inside a split folder


def _pair_pixels(seed: int, split: str, index: int, size: int) -> np.ndarray:
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    labels, photo = render_scene(rng, size)
    return np.concatenate([labels, photo], axis=1)  # A | B side by side


def _regenerate_command(counts: dict[str, int], size: int, seed: int) -> str:
    """The CLI call that reproduces this dataset; options at their defaults are left out."""
    args = f"decig data demo --out <dir> --seed {seed}"
    if size != DEFAULT_SIZE or counts != DEFAULT_COUNTS:
        args += f" --size {size}" + "".join(f" --n-{split} {counts[split]}" for split in DEFAULT_COUNTS)
    return args


def _dataset_card(counts: dict[str, int], size: int, seed: int) -> str:
    """``DATASET.md``; ``counts`` holds every split, zero for those not generated."""
    rows = "\n".join(f"| {i} | {name} | {PALETTE[i]} |" for i, name in enumerate(CLASSES))
    present = {k: v for k, v in counts.items() if v}
    total = sum(present.values())
    folders = "{" + ",".join(present) + "}" if len(present) > 1 else next(iter(present))
    return f"""# decig demo dataset

Procedural landscapes for a paired pix2pix task: **A** (left half) is a colour-coded semantic label
map, **B** (right half) a rendered "photo" of the same layout with gradients, shading, texture noise
and soft edges, so a generator must learn more than a colour lookup.

- layout: pix2pix aligned, `{folders}/NNNNN.png`, each {2 * size}x{size} (A|B)
- pairs: {total} ({", ".join(f"{k} {v}" for k, v in present.items())}), seed {seed}
- regenerate: `{_regenerate_command(counts, size, seed)}` (byte-identical on any machine)

| index | class | label colour (RGB) |
| --- | --- | --- |
{rows}
"""


def _remove_stale(out: Path, counts: dict[str, int]) -> None:
    """Delete demo images of an earlier run that this run does not write (other files stay)."""
    for split, n in counts.items():
        folder = out / split
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and _OWNED_IMAGE.match(path.name) and (path.suffix == ".tmp" or int(path.name[:5]) >= n):
                path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def generate_demo_dataset(
    out_dir: str | Path,
    *,
    n_train: int = DEFAULT_COUNTS["train"],
    n_val: int = DEFAULT_COUNTS["val"],
    n_test: int = DEFAULT_COUNTS["test"],
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write the demo dataset to ``out_dir`` and return it.

    Refuses to write into a non-empty directory unless ``overwrite``. Then the demo's own files
    (``DATASET.md`` and ``<split>/NNNNN.png``) are rewritten, and demo images of an earlier,
    larger run are deleted so the folder holds exactly this dataset; any other file is left
    alone (and would change the folder's DVC md5). A typo in ``--out`` therefore cannot mix
    demo images into real data.
    """
    counts = {"train": n_train, "val": n_val, "test": n_test}
    if any(n < 0 for n in counts.values()) or sum(counts.values()) == 0:
        raise DataError(f"demo split sizes must be >= 0 and not all zero, got {counts}")
    if size < 32 or size % 32:
        raise DataError(f"demo image size must be a multiple of 32 and >= 32, got {size}")
    if seed < 0:
        raise DataError(f"demo seed must be a non-negative integer, got {seed}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a directory; choose another --out")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
        _remove_stale(out, counts)
    jobs = [(split, i) for split, n in counts.items() for i in range(n)]
    for split, n in counts.items():
        if n:
            (out / split).mkdir(parents=True, exist_ok=True)
    for split, i in progress(jobs, desc="demo pairs", unit="img"):
        data = encode_png(_pair_pixels(seed, split, i, size))
        path = out / split / f"{i:05d}.png"
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a killed run never leaves a half-written image behind
    (out / "DATASET.md").write_text(_dataset_card(counts, size, seed))
    return out
