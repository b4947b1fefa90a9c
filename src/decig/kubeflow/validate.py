"""Checks that run before any pipeline task does: a bad run fails in a second, not an hour in.

The config itself is validated by :func:`decig.config.load_config` (unknown keys, ranges); this
adds what only the pipeline entry points know: device names, the dataset reference, the method.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from decig.config import DecigConfig
from decig.core.errors import ConfigError, DataError, DeviceError

METHODS = ("decig", "coronet")
_DEVICE = re.compile(r"(cpu|mac|cuda(:\d+)?)")


def check_device_names(devices: list[str]) -> None:
    """Syntax only (cluster submits must not need a local GPU); `decig run` also resolves them."""
    from decig.devices.spec import VALID_NAMES

    bad = [d for d in devices if not _DEVICE.fullmatch(d.strip().lower())]
    if bad:
        raise DeviceError(f"unknown device name(s) {bad}; valid devices: {VALID_NAMES}")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "coronet" and importlib.util.find_spec("decig.coronet.stage") is None:
        raise ConfigError("method 'coronet' needs decig.coronet.stage, which this installation does not have")


def check_local_run(cfg: DecigConfig) -> None:
    """Everything `decig run` needs on this machine: devices present, dataset reachable, method known."""
    from decig.devices.spec import resolve_device
    from decig.stages import DEMO_ROOTS

    check_device_names(cfg.devices)
    for name in cfg.devices:
        resolve_device(name)  # a cuda device on a CPU-only machine fails here, before any task
    check_method(cfg.method)
    root = Path(cfg.data.root)
    if cfg.data.dvc is None and not root.exists() and cfg.data.root not in DEMO_ROOTS:
        raise DataError(f"dataset root {root} does not exist (data.root in the config, or --set data.root=PATH)")
