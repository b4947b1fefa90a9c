"""Nightly recurring runs per device, declared in a YAML file kept in git (``configs/schedules.yaml``).

The file is validated completely (cron syntax, device names, the referenced config and its
overrides) before anything is sent to the cluster. Cron expressions have KFP's 6 fields
(seconds first) and are interpreted in UTC by the KFP scheduler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from decig.core.errors import ConfigError

# (name, low, high, names allowed) per field of robfig/cron's 6-field format used by KFP.
_FIELDS = (
    ("seconds", 0, 59, {}),
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}),
    ("day of week", 0, 6, {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}),
)
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _value(text: str, fname: str, low: int, high: int, names: dict[str, int], expr: str) -> int:
    v = names.get(text.upper()) if not text.isdigit() else int(text)
    if v is None or not low <= v <= high:
        raise ConfigError(f"cron {expr!r}: {fname} value {text!r} is outside {low}-{high}")
    return v


def check_cron(expr: str) -> str:
    """Validate a 6-field cron expression (sec min hour dom month dow); returns it normalized."""
    parts = expr.split()
    if len(parts) != 6:
        raise ConfigError(
            f"cron {expr!r} has {len(parts)} fields; KFP needs 6 (seconds minutes hours day-of-month month "
            "day-of-week, in UTC), e.g. '0 0 2 * * *' for 02:00 UTC daily"
        )
    for part, (fname, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            if item == "?" and fname in ("day of month", "day of week"):
                continue
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise ConfigError(f"cron {expr!r}: {fname} step {step!r} must be a positive number")
            if base == "*":
                continue
            lo_text, dash, hi_text = base.partition("-")
            if not lo_text:
                raise ConfigError(f"cron {expr!r}: {fname} item {item!r} is empty")
            lo = _value(lo_text, fname, low, high, names, expr)
            if dash and lo > _value(hi_text, fname, low, high, names, expr):
                raise ConfigError(f"cron {expr!r}: {fname} range {base!r} runs backwards")
    return " ".join(parts)


@dataclass(frozen=True)
class Schedule:
    name: str
    device: str
    cron: str
    overrides: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleFile:
    pipeline: str
    experiment: str
    config: Path
    schedules: tuple[Schedule, ...]
    params: dict[str, Any] = field(default_factory=dict)


_TOP_KEYS = {"pipeline", "experiment", "config", "params", "schedules"}
# Pipeline parameters a schedule file may set; the config, devices and method come from elsewhere.
SCHEDULE_PARAMS = {"fid", "tracking_uri", "auto_promote", "image_digest", "s3_secret", "mlflow_secret"}
_ITEM_KEYS = {"name", "device", "cron", "set", "enabled"}


def load_schedules(path: str | Path) -> ScheduleFile:
    """Parse and validate the schedules file; every config it implies is validated too."""
    from decig.config import load_config
    from decig.kubeflow.validate import check_device_names

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"schedules file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"schedules file {p} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"schedules file {p} must hold a mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("config", "schedules"):
        if key not in raw:
            raise ConfigError(f"{p}: missing required key {key!r}")
    config = Path(raw["config"])
    if not config.is_absolute():
        config = (p.parent / config) if (p.parent / config).is_file() else config
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{p}: params must be a mapping of pipeline parameter -> value")
    if set(params) - SCHEDULE_PARAMS:
        raise ConfigError(f"{p}: unknown params {sorted(set(params) - SCHEDULE_PARAMS)}; allowed: {sorted(SCHEDULE_PARAMS)}")
    items = raw["schedules"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{p}: schedules must be a non-empty list")
    schedules, seen = [], set()
    for i, item in enumerate(items):
        where = f"{p}: schedules[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a mapping")
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ITEM_KEYS)}")
        missing = [k for k in ("name", "device", "cron") if k not in item]
        if missing:
            raise ConfigError(f"{where}: missing {missing}")
        name = str(item["name"])
        if not _NAME.match(name):
            raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits and '-'")
        if name in seen:
            raise ConfigError(f"{where}: duplicate schedule name {name!r}")
        seen.add(name)
        check_device_names([str(item["device"])])
        try:
            cron = check_cron(str(item["cron"]))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        overrides = tuple(str(s) for s in item.get("set") or ())
        load_config(config, [*overrides, f"devices=[{item['device']}]"])  # config + overrides must validate
        schedules.append(Schedule(name, str(item["device"]), cron, overrides, bool(item.get("enabled", True))))
    return ScheduleFile(str(raw.get("pipeline", "decig")), str(raw.get("experiment", "decig-nightly")), config,
                        tuple(schedules), dict(params))
