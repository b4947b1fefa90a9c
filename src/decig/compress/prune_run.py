"""Stage II as one function over paths: saved generator in, plan + figures + pruned generator out.

``run_prune`` is what ``decig prune`` (and a pipeline component) calls. Steps:

1. load the generator (``save_model`` directory) and its per-channel magnitudes (``channel_stats.json``
   from Stage I, or recomputed from the weights);
2. the plan: made automatically (hinges + guards + overrides), or read from a person's ``--plan``
   file and checked against the model;
3. optionally the latency budget: narrow the plan until the measured latency meets the target;
4. surgery, then a zero-shot comparison with the unpruned model when inputs are given;
5. write ``plan.json``, ``hinge_plots.png`` (+ per-layer PNGs on request), the pruned model in
   ``model/`` and ``prune_report.json`` (parameters and true MACs before/after, budget iterations,
   zero-shot numbers).

The output directory must be new or empty, so a directory's files always come from one run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.compress.budget import BudgetSettings, LatencyTarget, meet_latency_target
from decig.compress.hinge import HingeSettings
from decig.compress.hinge_plots import GRID_FILE, plot_plan, plot_units
from decig.compress.latency_measure import latency_model_from_profile, measure_ms, profile_threads
from decig.compress.plan import PruningPlan, make_plan
from decig.compress.stats import channel_stats_from_model, load_channel_stats
from decig.compress.surgery import prune_generator
from decig.compress.zero_shot import zero_shot_difference
from decig.core.errors import PruningError
from decig.core.log import get_logger
from decig.models.builder import manifest_from_model
from decig.models.cost import count_cost
from decig.models.manifest import ArchManifest
from decig.models.persistence import load_model, save_model

log = get_logger(__name__)

PLAN_FILE = "plan.json"
REPORT_FILE = "prune_report.json"
MODEL_DIR = "model"
LAYER_PLOTS_DIR = "hinge_plots"


@dataclass(frozen=True)
class ZeroShotData:
    """Where the zero-shot inputs come from: a dataset in one of decig's formats."""

    root: Path
    format: str = "aligned"
    split: str = "test"
    direction: str = "AtoB"
    max_images: int = 8


@dataclass(frozen=True)
class BudgetRequest:
    target: LatencyTarget
    profile: Path | None = None  # None: profile the unpruned model here, on the CPU
    threads: int = 1  # only when profiling here; a profile file carries its own thread count
    settings: BudgetSettings = BudgetSettings()


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise PruningError(f"output directory {out} is not empty; choose a new one so runs never mix their files")
    out.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # inf/NaN (identical images give PSNR inf) are not JSON: written as null, with the reason in the key's doc.
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(data), indent=2) + "\n")
    os.replace(tmp, path)


def load_inputs(data: ZeroShotData, manifest: ArchManifest) -> torch.Tensor:
    """Up to ``max_images`` generator inputs, resized to the model's (square) input size, in [-1, 1]."""
    from decig.data.factory import load_dataset
    from decig.data.transforms import TransformConfig

    height, width = manifest.input_size
    if height != width:
        raise PruningError(f"zero-shot inputs are resized to a square; the model takes {height}x{width}")
    transform = TransformConfig(preprocess="resize_and_crop", load_size=height, crop_size=height, flip=False)
    dataset = load_dataset(data.format, data.root, data.split, direction=data.direction, transform=transform)
    count = min(len(dataset), data.max_images)
    return torch.stack([dataset[i]["A"] for i in range(count)])


def cost_summary(before: nn.Module, after: nn.Module, manifest: ArchManifest) -> dict[str, Any]:
    full = count_cost(before, manifest.input_size, manifest.input_nc)
    pruned = count_cost(after, manifest.input_size, manifest.input_nc)
    return {
        "params_before": full.params_total,
        "params_after": pruned.params_total,
        "params_ratio": full.params_total / pruned.params_total,
        "macs_true_before": full.macs_true_total,
        "macs_true_after": pruned.macs_true_total,
        "macs_true_ratio": full.macs_true_total / pruned.macs_true_total,
        "macs_convention_before": full.macs_convention_total,
        "macs_convention_after": pruned.macs_convention_total,
        "macs_note": "true = FlopCounterMode MACs; convention = transposed convs charged at output resolution (papers)",
    }


def _budget(
    request: BudgetRequest, plan: PruningPlan, model: nn.Module, manifest: ArchManifest
) -> tuple[PruningPlan, nn.Module, ArchManifest, dict[str, Any]]:
    from decig.devices.profile import load_profile, profile_model
    from decig.models.cost import prunable_layers

    shape = (1, manifest.input_nc, *manifest.input_size)
    if request.profile is not None:
        profile = load_profile(request.profile, prunable_layers(model))
        threads = profile_threads(profile)
    else:
        threads = request.threads
        log.info("no profile given: profiling the unpruned model on the CPU with %d thread(s)", threads)
        profile = profile_model(model, shape, "cpu", threads=threads, arch=manifest.to_dict())
    device = profile.device
    # The profile times single layers; the whole unpruned model is timed here, under the same settings
    # as every later measurement, to find what the layers do not cover.
    full_ms = measure_ms(model, shape, device=device, threads=threads)
    latency = latency_model_from_profile(manifest, profile, full_ms)
    result = meet_latency_target(
        plan,
        latency,
        request.target,
        build=lambda candidate: prune_generator(model, manifest, candidate)[0],
        measure=lambda m: measure_ms(m, shape, device=device, threads=threads),
        settings=request.settings,
    )
    report = {
        **result.to_dict(),
        "device": device,
        "threads": threads,
        "unpruned_measured_ms": full_ms,
        "profile": str(request.profile) if request.profile else "measured here",
    }
    return result.plan, result.model, manifest_from_model(result.model, manifest), report


def run_prune(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    settings: HingeSettings = HingeSettings(),
    stats_path: str | Path | None = None,
    plan_path: str | Path | None = None,
    budget: BudgetRequest | None = None,
    data: ZeroShotData | None = None,
    per_layer_plots: bool = False,
) -> dict[str, Any]:
    """Prune a saved generator; returns the report also written to ``prune_report.json``."""
    out = Path(out_dir)
    teacher, manifest = load_model(model_dir)
    teacher.eval()
    if manifest.family == "patchgan":
        raise PruningError(f"{model_dir} holds a discriminator; Stage II prunes generators only")
    _prepare_out(out)
    if plan_path is not None:
        plan = PruningPlan.load(plan_path)
        plan.check_against(manifest)
        source = f"edited plan {plan_path}"
    else:
        stats = load_channel_stats(stats_path) if stats_path is not None else channel_stats_from_model(teacher)
        plan = make_plan(stats, manifest, settings)
        source = f"hinges from {'channel stats ' + str(stats_path) if stats_path else 'the model weights'}"
    report: dict[str, Any] = {"model": str(model_dir), "plan_source": source, "settings": plan.settings.to_dict()}
    if budget is not None:
        plan, student, student_manifest, report["budget"] = _budget(budget, plan, teacher, manifest)
    else:
        student, student_manifest = prune_generator(teacher, manifest, plan)
    plan.save(out / PLAN_FILE)
    plot_plan(plan, out / GRID_FILE)
    if per_layer_plots:
        plot_units(plan, out / LAYER_PLOTS_DIR)
    save_model(student, student_manifest, out / MODEL_DIR)
    report["plan"] = plan.summary()
    report["widths"] = {name: [manifest.widths[name], width] for name, width in student_manifest.widths.items()}
    report["cost"] = cost_summary(teacher, student, manifest)
    if data is not None:
        report["zero_shot"] = {**zero_shot_difference(teacher, student, load_inputs(data, manifest)), "data": str(data.root)}
    report["outputs"] = {"plan": PLAN_FILE, "plots": GRID_FILE, "model": MODEL_DIR}
    _write_json(out / REPORT_FILE, report)
    return report


def parse_overrides(items: Sequence[str]) -> dict[str, int]:
    """``["model.7=32", ...]`` -> ``{"model.7": 32}``; malformed items are errors naming the item."""
    overrides: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PruningError(f"override {item!r} is not LAYER=KEEP")
        try:
            overrides[name.strip()] = int(value)
        except ValueError:
            raise PruningError(f"override {item!r}: keep count {value!r} is not an integer") from None
    return overrides
