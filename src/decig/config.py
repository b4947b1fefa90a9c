"""The one configuration schema of decig, validated once, up front.

A run is described by a single YAML document (``configs/*.yaml``) plus ``--set key.path=value``
overrides from the command line. :func:`load_config` merges them, validates everything with
pydantic (unknown keys are refused, so a typo cannot silently fall back to a default), and returns
an immutable :class:`DecigConfig`. Stages receive that object; nothing downstream re-reads YAML.

The resolved config is written next to every run's outputs by :func:`save_resolved_config`, which
refuses to overwrite a *different* config already there (Lightning's SaveConfigCallback idea): a
directory of outputs always matches the config beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from decig.core.errors import ConfigError

CONFIG_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    # frozen: a resolved config is a record; extra=forbid: typos are errors, not silent defaults.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DvcSource(_Strict):
    """A dataset pinned in a DVC/git repository (fetched through ``dvc.api``)."""

    repo: str = Field(description="git URL or local path of the repository holding the .dvc file")
    rev: str = Field(description="git revision (tag/commit) that pins the data version")
    path: str = Field(description="path of the tracked data inside that repository")
    remote: str | None = Field(default=None, description="DVC remote name; default remote if omitted")


class DataConfig(_Strict):
    format: Literal["aligned", "unaligned", "celebamask-hq"] = "aligned"
    root: str = Field(default="data", description="local dataset root (or cache dir when dvc is set)")
    dvc: DvcSource | None = None
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = "resize_and_crop"
    load_size: int = Field(default=128, gt=0)
    crop_size: int = Field(default=128, gt=0)
    flip: bool = True
    num_workers: int = Field(default=0, ge=0)
    max_train: int | None = Field(default=None, gt=0, description="cap on training samples (quick runs)")
    max_eval: int | None = Field(default=None, gt=0, description="cap on evaluation samples")

    @model_validator(mode="after")
    def _crop_fits(self) -> DataConfig:
        # crop mode never resizes, so load_size does not bound it.
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop") and self.crop_size > self.load_size:
            raise ValueError(f"crop_size {self.crop_size} is larger than load_size {self.load_size}")
        return self


class ModelConfig(_Strict):
    arch: str = Field(default="unet_128", description="registered generator name (decig models list)")
    ngf: int = Field(default=64, gt=0)
    norm: Literal["batch", "instance"] = "batch"
    dropout: bool = True
    input_size: int = Field(default=128, gt=0)
    ndf: int = Field(default=64, gt=0)
    d_layers: int = Field(default=3, gt=0)
    init: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal"
    init_gain: float = Field(default=0.02, gt=0)
    checkpoint: str | None = Field(default=None, description="reference checkpoint to start from")


class PenaltyConfig(_Strict):
    shape: Literal["none", "uniform", "linear", "exponential"] = "linear"
    reg: Literal["high", "low"] = "high"
    alpha: float | None = Field(default=None, ge=0, description="explicit α; overrides calibration")
    ratio: float = Field(default=0.1, gt=0, description="α·L_PENAL / L_L1 at the first iteration")
    factor: Literal["device", "mac", "uniform"] = Field(
        default="device", description="l(i): the target device's profile, MACs, or 1 for every layer"
    )
    penalize: Literal["both", "G_A", "G_B"] = Field(
        default="both",
        description="CycleGAN (unaligned data) only: which generator(s) carry the penalty, i.e. will be pruned",
    )


class TrainConfig(_Strict):
    steps: int = Field(default=400, gt=0, description="optimizer steps (the demo trains by steps)")
    decay_from: float = Field(default=0.5, ge=0, le=1, description="fraction of steps after which LR decays linearly to 0")
    batch_size: int = Field(default=4, gt=0)
    lr: float = Field(default=2e-4, gt=0)
    beta1: float = Field(default=0.5, ge=0, lt=1)
    gan_mode: Literal["vanilla", "lsgan"] = "vanilla"
    lambda_l1: float = Field(default=100.0, ge=0)
    lambda_cycle: float = Field(default=10.0, ge=0)
    lambda_identity: float = Field(default=0.5, ge=0)
    pool_size: int = Field(default=50, ge=0)
    penalty: PenaltyConfig = PenaltyConfig()
    checkpoint_every: int = Field(default=100, gt=0)
    keep_checkpoints: int = Field(default=3, gt=0, description="newest step checkpoints kept (plus latest.pt)")
    log_every: int = Field(default=10, gt=0)
    device: str = Field(
        default="auto",
        description="where training runs: auto (cuda if available), cpu, cuda, cuda:N; under torchrun "
        "'cuda' puts rank k on cuda:LOCAL_RANK (nccl), cpu uses gloo",
    )


class FinetuneConfig(_Strict):
    """Stage II fine-tuning: the pruned student learns from the data and the frozen Stage-I teacher.

    Generator objective: ``lambda_gan * GAN + lambda_l1 * L1(student, ground truth) + lambda_distill * L1(student, teacher)``
    (no channel penalty). The paper gives no distillation weight; it defaults to the L1 weight.
    """

    steps: int = Field(default=200, gt=0, description="optimizer steps of the fine-tune")
    decay_from: float = Field(default=0.5, ge=0, le=1, description="fraction of steps after which LR decays linearly to 0")
    batch_size: int = Field(default=4, gt=0, description="images per step (per rank under torchrun)")
    lr: float = Field(default=2e-4, gt=0, description="Adam learning rate of student and discriminator")
    beta1: float = Field(default=0.5, ge=0, lt=1, description="Adam beta1")
    gan_mode: Literal["vanilla", "lsgan"] = Field(default="vanilla", description="adversarial loss")
    lambda_gan: float = Field(default=1.0, ge=0, description="weight of the student's adversarial loss")
    lambda_l1: float = Field(default=100.0, ge=0, description="weight of L1(student output, ground truth)")
    lambda_distill: float = Field(default=100.0, ge=0, description="weight of L1(student output, teacher output)")
    discriminator: Literal["stage1", "fresh"] = Field(
        default="stage1",
        description="start from the Stage-I discriminator (its discriminator/ beside the teacher) or a fresh PatchGAN; "
        "'stage1' falls back to fresh when that directory does not exist",
    )
    checkpoint_every: int = Field(default=100, gt=0, description="steps between checkpoints (for --resume)")
    keep_checkpoints: int = Field(default=3, gt=0, description="newest step checkpoints kept (plus latest.pt)")
    log_every: int = Field(default=10, gt=0, description="steps per averaged metrics window")
    device: str = Field(
        default="auto",
        description="where fine-tuning runs: auto (cuda if available), cpu, cuda, cuda:N (as stage1.device)",
    )


class PruneTarget(_Strict):
    """Latency budget on the profiled device (beyond the paper): exactly one of fps / latency_ms."""

    fps: float | None = Field(default=None, gt=0)
    latency_ms: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> PruneTarget:
        if (self.fps is None) == (self.latency_ms is None):
            raise ValueError("give exactly one of fps, latency_ms")
        return self


class PruneConfig(_Strict):
    """Stage II: automatic hinge per layer, guards, manual overrides, optional latency budget."""

    method: Literal["kneedle", "cluster"] = Field(default="kneedle", description="knee detector on sorted channel magnitudes")
    log_scale: bool = Field(default=True, description="find the knee on log magnitudes (separates near-zero channels)")
    floor_ratio: float = Field(default=1e-6, gt=0, lt=1, description="magnitudes below max*floor_ratio are clamped before log")
    min_contrast_decades: float = Field(default=1.0, ge=0, description="kept vs dropped must differ by this many decades, else keep all")
    min_knee_strength: float = Field(default=0.1, ge=0, le=1, description="weaker bends count as 'no clear knee' (keep all)")
    min_keep: int = Field(default=1, ge=1, description="never keep fewer channels than this in a layer")
    min_keep_fraction: float = Field(default=0.0, ge=0, le=1, description="never keep fewer than this fraction of a layer")
    round_to: int = Field(default=1, ge=1, description="round kept widths up to a multiple (hardware-friendly)")
    overrides: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict, description="layer name -> channels kept (manual hinge)")
    plan: str | None = Field(default=None, description="an edited plan.json to apply instead of detecting hinges")
    target: PruneTarget | None = None
    threads: int = Field(default=1, ge=1, description="threads for latency measurements of the budget loop")
    zero_shot_images: int = Field(default=8, ge=1, description="validation images for the right-after-pruning check")


class CoronetConfig(_Strict):
    """CoroNetGAN (``method: coronet``): hypernetwork-generated weights, proximal L1 on per-layer latents.

    The GAN recipe (batch_size, beta1, gan_mode, lambda_l1 / lambda_cycle / lambda_identity,
    pool_size, decay_from) is taken from ``stage1``; what is specific to CoroNetGAN lives here.
    """

    target_ratio: float = Field(
        default=0.5, gt=0, lt=1,
        description="cost of the compact generator / cost of the full one that sparsification stops at (0.3 = keep 30%)",
    )
    target_kind: Literal["params", "macs", "latency"] = Field(
        default="params", description="what target_ratio measures: parameters, true conv MACs, or the device profile's latency"
    )
    steps: int = Field(default=400, gt=0, description="optimizer steps of the whole CoroNet run (sparsification + recovery)")
    lr: float = Field(default=2e-4, gt=0, description="Adam LR of the hypernetworks, norms, biases and the discriminator(s)")
    lr_latent: float = Field(default=1e-2, gt=0, description="Adam LR of the latent vectors (the proximal threshold is lr_latent * strength)")
    hyper_dim: int = Field(default=2, ge=1, le=16, description="embedding width m of each layer's hypernetwork (memory grows with m)")
    strength: float = Field(default=0.05, gt=0, description="initial L1 strength λ of the proximal step")
    growth: float | None = Field(
        default=None, ge=1, le=10,
        description="λ is multiplied by this after every step until the target is met; "
        "default: chosen so the summed thresholds reach the initial latent magnitude (1) at the sparsify_until deadline",
    )
    sparsify_until: float = Field(
        default=0.5, gt=0, le=1,
        description="fraction of steps by which the target must be met; the remaining cut is then made by latent magnitude",
    )
    min_keep: int = Field(default=1, ge=1, description="never prune a latent group below this many channels")
    checkpoint_every: int = Field(default=100, gt=0, description="steps between checkpoints")
    keep_checkpoints: int = Field(default=2, gt=0, description="newest step checkpoints kept (plus latest.pt)")
    log_every: int = Field(default=10, gt=0, description="steps per averaged metrics window")
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$", description="where CoroNet training runs: cpu, cuda, cuda:N")


class TrackingConfig(_Strict):
    uri: str | None = Field(default=None, description="MLflow tracking URI; default: env MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    experiment: str | None = Field(default=None, description="MLflow experiment; default: the config's experiment name")


class GatePolicy(_Strict):
    """Promotion thresholds (:func:`decig.tracking.gate.decide`). ``None`` disables a check."""

    fid_tolerance: float | None = Field(default=1.0, ge=0, description="candidate FID may exceed champion's by at most this")
    psnr_tolerance: float | None = Field(default=0.25, ge=0, description="candidate PSNR (dB) may trail champion's by at most this")
    max_latency_ms: float | None = Field(default=None, gt=0, description="absolute p50 latency budget on the target device")
    min_speedup: float | None = Field(default=None, gt=0, description="minimum speedup vs the vanilla model")
    max_params: int | None = Field(default=None, gt=0, description="absolute parameter budget")
    max_parity_error: float | None = Field(default=1e-4, gt=0, description="export parity (max abs diff) must not exceed this")


class GateConfig(GatePolicy):
    """Promotion gate (``decig promote`` and the pipeline's gate step): the GatePolicy thresholds."""

    auto_promote: bool = Field(default=False, description="the pipeline promotes @candidate to @champion when the gate passes")


class DecigConfig(_Strict):
    schema_version: int = CONFIG_SCHEMA_VERSION
    experiment: str = Field(default="demo", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    seed: int = Field(default=0, ge=0)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    stage1: TrainConfig = TrainConfig()
    prune: PruneConfig = PruneConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    tracking: TrackingConfig = TrackingConfig()
    gate: GateConfig = Field(default_factory=GateConfig, description="model registry promotion gate")
    coronet: CoronetConfig = Field(default_factory=CoronetConfig, description="CoroNetGAN settings (used when method is coronet)")
    method: Literal["decig", "coronet"] = Field(
        default="decig", description="compression method: DECIG (Stage I + prune + fine-tune) or CoroNetGAN (one hypernetwork run)"
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != CONFIG_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v}; this decig reads version {CONFIG_SCHEMA_VERSION}")
        return v

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"devices contain duplicates: {v}")
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        """sha256 of the canonical JSON form: equal configs hash equal whatever the YAML layout."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_scalar(text: str) -> Any:
    # YAML's scalar rules give the types a user expects from `--set a.b=3` / `=true` / `=[cpu,mac]`.
    return yaml.safe_load(text) if text != "" else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides to a nested dict (a copy); values are parsed as YAML."""
    merged = json.loads(json.dumps(raw))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        key, value = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override {item!r} has an empty key")
        node = merged
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = _parse_scalar(value)
    return merged


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key (not in the schema)" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> DecigConfig:
    try:
        return DecigConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DecigConfig:
    """Load a YAML config (or the defaults when ``path`` is None), apply overrides, validate."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {p} is not valid YAML: {err}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must contain a mapping at the top level, got {type(loaded).__name__}")
        raw = loaded
    if overrides:
        raw = apply_overrides(raw, overrides)
        source += " + overrides"
    return config_from_dict(raw, source)


def save_resolved_config(cfg: DecigConfig, out_dir: str | Path, name: str = "config.resolved.yaml") -> Path:
    """Write the resolved config next to a run's outputs; never silently replace a different one."""
    out = Path(out_dir) / name
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    if out.exists():
        existing = out.read_text()
        if existing != text:
            raise ConfigError(
                f"{out} already holds a different resolved config; use a new output directory "
                "so outputs never get mixed with another configuration's"
            )
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out
