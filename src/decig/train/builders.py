"""Turn a :class:`~decig.config.DecigConfig` into the networks and the dataset Stage I trains on.

Kept apart from the loop so tests and other stages (fine-tuning) can build exactly the same
networks from a config. Every network is created from a registered manifest, so the saved
``generator/`` directory (manifest + weights) rebuilds it without this code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from decig.config import DecigConfig
from decig.data.factory import load_dataset
from decig.data.base import SeededImageDataset
from decig.data.transforms import TransformConfig
from decig.core.errors import DataError
from decig.models.builder import build_from_manifest
from decig.models.checkpoint_import import import_reference_checkpoint
from decig.models.manifest import ArchManifest
from decig.models.zoo import default_manifest
from decig.models.resnet import N_DOWNSAMPLING
from decig.train.init import init_weights

DISCRIMINATOR_ARCH = "patchgan_70"
# Keys that do not change what is computed: a resume may differ in them. Everything else in the
# config must match the checkpoint's for an exact continuation.
_RESUME_NEUTRAL = {
    ("tracking",),
    ("devices",),
    ("data", "root"),
    ("data", "dvc"),
    ("data", "num_workers"),
    ("data", "max_eval"),
    ("stage1", "log_every"),
    ("stage1", "checkpoint_every"),
    ("stage1", "keep_checkpoints"),
    ("stage1", "device"),
    ("finetune",),  # Stage-II fine-tuning settings do not affect Stage I
}


def is_unpaired(cfg: DecigConfig) -> bool:
    """Unaligned data means CycleGAN training; aligned and mask/image (celebamask-hq) pairs mean pix2pix."""
    return cfg.data.format == "unaligned"


def generator_manifest(cfg: DecigConfig) -> ArchManifest:
    m = cfg.model
    return default_manifest(m.arch, ngf=m.ngf, norm=m.norm, use_dropout=m.dropout, input_size=m.input_size)


def discriminator_manifest(cfg: DecigConfig, generator: ArchManifest) -> ArchManifest:
    """PatchGAN: conditional (input + output channels) for pix2pix, output channels only for CycleGAN."""
    m = cfg.model
    input_nc = generator.output_nc if is_unpaired(cfg) else generator.input_nc + generator.output_nc
    return default_manifest(
        DISCRIMINATOR_ARCH, input_nc=input_nc, ngf=m.ndf, n_layers=m.d_layers, norm=m.norm, input_size=m.input_size
    )


def build_generator(cfg: DecigConfig) -> tuple[nn.Module, ArchManifest]:
    """A freshly initialised generator, or the reference checkpoint ``model.checkpoint`` when set.

    Uses torch's global RNG for the initialisation: seed before calling.
    """
    m = cfg.model
    if m.checkpoint:
        return import_reference_checkpoint(
            m.checkpoint, m.arch, ngf=m.ngf, norm=m.norm, use_dropout=m.dropout, input_size=m.input_size
        )
    manifest = generator_manifest(cfg)
    return init_weights(build_from_manifest(manifest), m.init, m.init_gain), manifest


def build_discriminator(cfg: DecigConfig, generator: ArchManifest) -> tuple[nn.Module, ArchManifest]:
    manifest = discriminator_manifest(cfg, generator)
    return init_weights(build_from_manifest(manifest), cfg.model.init, cfg.model.init_gain), manifest


def input_divisor(manifest: ArchManifest) -> int:
    """The factor every input side must be divisible by for this generator."""
    if manifest.family == "unet":
        assert manifest.num_downs is not None
        return 2**manifest.num_downs
    return 2**N_DOWNSAMPLING


def build_train_dataset(cfg: DecigConfig, root: str | Path, generator: ArchManifest) -> SeededImageDataset:
    """The training split, validated up front (sizes must fit the generator)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data root {root} is not a directory")
    d = cfg.data
    transform = TransformConfig(preprocess=d.preprocess, load_size=d.load_size, crop_size=d.crop_size, flip=d.flip)
    opts: dict[str, Any] = {
        "direction": d.direction,
        "transform": transform,
        "seed": cfg.seed,
        "divisible_by": input_divisor(generator),
    }
    return load_dataset(d.format, root, "train", **opts)


def resume_fingerprint(cfg: DecigConfig) -> dict[str, Any]:
    """The config without resume-neutral keys: what a checkpoint must agree with."""
    data = json.loads(json.dumps(cfg.to_dict()))
    for path in _RESUME_NEUTRAL:
        node = data
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return data
