"""``decig demo``: the DECIG stages run directly, in order, on the built-in demo data.

This is what ``make run`` calls until the Kubeflow DAG drives the same stage functions
(:mod:`decig.stages`). It trains a vanilla baseline (``penalty.shape: none``) and a DECIG
Stage-I model with the same config and steps, prunes the DECIG model at its automatic hinges,
fine-tunes the pruned student against the Stage-I teacher and evaluates all four side by side
(interleaved latency, params, MACs, PSNR/SSIM, FID/KID) into a Markdown/HTML report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from decig.config import DecigConfig, config_from_dict
from decig.core.log import get_logger

log = get_logger(__name__)


def _variant(cfg: DecigConfig, **stage1_penalty: Any) -> DecigConfig:
    raw = cfg.to_dict()
    raw["stage1"]["penalty"].update(stage1_penalty)
    return config_from_dict(raw, "demo variant")


def run_demo(cfg: DecigConfig, out_root: str | Path, *, fid: bool = True) -> dict[str, Any]:
    """Run prepare -> profile -> Stage I (vanilla, DECIG) -> prune -> fine-tune -> evaluate; returns the summary."""
    from decig import stages

    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stage_s: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Per-stage wall time goes into the summary: the demo has a time budget (it runs inside a
        # KFP step with a 10-minute limit), and the stage that blows it should be obvious.
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        stage_s[name] = time.perf_counter() - start
        log.info("demo: %s took %.1f s", name, stage_s[name])
        return result

    data = timed("prepare_data", stages.prepare_data, cfg, out / "data")
    data_root = Path(data["data_root"])
    device = cfg.devices[0]
    prof = timed("profile", stages.profile_device, cfg, device, out / f"profile-{device}.json")
    timed("stage1_vanilla", stages.stage1, _variant(cfg, shape="none"), data_root, None,
                    out / "stage1-vanilla")
    decig = timed("stage1_decig", stages.stage1, cfg, data_root, prof["profile"], out / "stage1-decig")
    pruned = timed("prune", stages.prune, cfg, out / "stage1-decig", out / "prune", data_root=data_root)
    timed("finetune", stages.finetune, cfg, out / "stage1-decig", out / "prune", data_root, out / "finetune")

    models = {
        "vanilla": out / "stage1-vanilla" / "generator",
        "teacher": out / "stage1-decig" / "generator",
        "pruned": out / "prune" / "model",
        "student": out / "finetune" / "generator",
    }
    evaluation = timed("evaluate", stages.evaluate, cfg, {k: str(v) for k, v in models.items()}, data_root,
                       out / "evaluate", hinge_plot=out / "prune" / "hinge_plots.png", fid=fid,
                       backends=("eager", "onnx"), threads=1, repeats=20)
    metrics = json.loads((out / "evaluate" / "metrics.json").read_text())
    summary = {
        "data_md5": data["data_md5"],
        "alpha": decig.get("alpha"),
        "near_zero_share_0.01": decig.get("near_zero_share_0.01"),
        "models": metrics["models"],
        "evaluation": evaluation,
        "zero_shot": pruned.get("zero_shot"),
        "report": str((out / "evaluate" / "report.md").resolve()),
        "wall_time_s": time.perf_counter() - t0,
        "stage_wall_time_s": stage_s,
        "outputs": str(out.resolve()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
