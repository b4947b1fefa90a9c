"""Every pipeline stage as a plain function over paths.

The CLI (``decig demo``, ``decig stage ...``) and the Kubeflow components call exactly these, so a
stage behaves the same on a laptop, under ``kfp.local`` and in a cluster pod. A stage:

- takes the validated :class:`~decig.config.DecigConfig` plus input paths,
- writes its outputs, its resolved config and a ``run_record.json`` (git SHA, data md5, seeds,
  packages) into its own output directory,
- returns a flat dict of metrics/facts for the caller to log or print.

No KFP imports here; MLflow logging goes through :mod:`decig.tracking` in the callers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from decig.config import DecigConfig, save_resolved_config
from decig.core.errors import DataError
from decig.core.log import get_logger
from decig.tracking.lineage import build_run_record, write_run_record

log = get_logger(__name__)

DATASET_MANIFEST = "dataset_manifest.json"
DEMO_ROOTS = ("data",)  # the built-in demo's location (tracked by data.dvc)


def _record(cfg: DecigConfig, stage: str, out_dir: Path, data_md5: str | None, inputs: dict[str, str]) -> None:
    save_resolved_config(cfg, out_dir)
    rec = build_run_record(
        stage=stage, config=cfg.to_dict(), config_hash=cfg.config_hash(), seed=cfg.seed, data_md5=data_md5,
        inputs=inputs,
    )
    write_run_record(rec, out_dir)


def _data_md5(data_dir: Path) -> str | None:
    manifest = data_dir / DATASET_MANIFEST
    if manifest.is_file():
        return json.loads(manifest.read_text())["dvc_md5"]
    return None


def prepare_data(cfg: DecigConfig, out_dir: str | Path) -> dict[str, Any]:
    """Materialize and validate the dataset; record its md5 (the one ``dvc add`` would write).

    The built-in demo (``data.root: data``) is generated when absent, which is cheaper than pulling
    it and byte-identical to what ``data.dvc`` pins. Every split the pipeline uses is scanned in
    full (``full_decode``) so a broken file fails here, not mid-training.
    """
    from decig.data.demo import generate_demo_dataset
    from decig.data.factory import load_dataset
    from decig.data.lineage import dataset_manifest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(cfg.data.root)
    if cfg.data.dvc is not None:
        from decig.data.dvc_fetch import fetch_dvc_dataset

        root = fetch_dvc_dataset(cfg.data.dvc, out / "dataset")
    elif not root.exists():
        if cfg.data.root not in DEMO_ROOTS:
            raise DataError(f"dataset root {root} does not exist (data.root in the config)")
        log.info("generating the built-in demo dataset into %s", root)
        generate_demo_dataset(root, seed=0)
    splits = {}
    for split in ("train", "test"):
        ds = load_dataset(cfg.data.format, root, split)
        splits[split] = len(ds)
    manifest = dataset_manifest(root)
    (out / DATASET_MANIFEST).write_text(json.dumps(manifest, indent=2))
    _record(cfg, "prepare_data", out, manifest["dvc_md5"], {"data_root": str(root.resolve())})
    return {"data_root": str(root.resolve()), "data_md5": manifest["dvc_md5"], "nfiles": manifest["nfiles"],
            **{f"n_{k}": v for k, v in splits.items()}}


def profile_device(cfg: DecigConfig, device: str, out_path: str | Path, *, threads: int = 1,
                   repeats: int = 10) -> dict[str, Any]:
    """Measure l(i) for every prunable layer of the configured generator on ``device``."""
    from decig.devices.profile import profile_model, save_profile
    from decig.models.cost import prunable_layers
    from decig.models.builder import build_from_manifest
    from decig.models.zoo import default_manifest

    manifest = default_manifest(cfg.model.arch, ngf=cfg.model.ngf, norm=cfg.model.norm,
                                use_dropout=cfg.model.dropout, input_size=cfg.model.input_size)
    model = build_from_manifest(manifest)
    model.eval()
    shape = (1, 3, cfg.model.input_size, cfg.model.input_size)
    prof = profile_model(model, shape, device, prunable_layers(model), threads=threads, repeats=repeats,
                         arch={"name": cfg.model.arch, **manifest.to_dict()})
    out = save_profile(prof, out_path)
    return {"profile": str(out), "device": device, "profile_hash": prof.content_hash(), "layers": len(prof.raw())}


def stage1(cfg: DecigConfig, data_dir: str | Path, profile_path: str | Path | None, out_dir: str | Path,
           *, resume: bool = False, on_metrics: Any = None) -> dict[str, Any]:
    """Stage I: GAN + L1 + α·L_PENAL training; writes generator/, channel_stats.json/png, metrics."""
    from decig.train.stage1 import train_stage1

    out = Path(out_dir)
    data_root = Path(data_dir)
    metrics = train_stage1(cfg, data_root, out, Path(profile_path) if profile_path else None, resume=resume,
                           on_metrics=on_metrics)
    _record(cfg, "stage1", out, None, {"data_root": str(data_root), "profile": str(profile_path)})
    return metrics


def prune(cfg: DecigConfig, stage1_dir: str | Path, out_dir: str | Path, *, data_root: str | Path | None = None,
          profile_path: str | Path | None = None) -> dict[str, Any]:
    """Stage II surgery: automatic hinges (or the configured plan / latency target) on the Stage-I generator."""
    from decig.compress.budget import LatencyTarget
    from decig.compress.hinge import HingeSettings
    from decig.compress.prune_run import BudgetRequest, ZeroShotData, run_prune

    p = cfg.prune
    settings = HingeSettings(
        method=p.method, log_scale=p.log_scale, floor_ratio=p.floor_ratio, min_contrast_decades=p.min_contrast_decades,
        min_knee_strength=p.min_knee_strength, min_keep=p.min_keep, min_keep_fraction=p.min_keep_fraction,
        round_to=p.round_to, overrides=dict(p.overrides),
    )
    budget = None
    if p.target is not None:
        target = LatencyTarget.parse(p.target.model_dump(exclude_none=True))
        budget = BudgetRequest(target=target, profile=Path(profile_path) if profile_path else None,
                               threads=p.threads)
    data = None
    if data_root is not None:
        data = ZeroShotData(root=Path(data_root), format=cfg.data.format, split="test",
                            direction=cfg.data.direction, max_images=p.zero_shot_images)
    s1 = Path(stage1_dir)
    # Magnitudes are recomputed from the saved generator's weights: the same numbers Stage I's
    # channel_stats.json reports, without coupling Stage II to that file's (richer) layout.
    report = run_prune(s1 / "generator", out_dir, settings=settings, stats_path=None,
                       plan_path=p.plan, budget=budget, data=data)
    _record(cfg, "prune", Path(out_dir), None, {"stage1": str(s1)})
    return report


def finetune(cfg: DecigConfig, stage1_dir: str | Path, prune_dir: str | Path, data_dir: str | Path,
             out_dir: str | Path, *, resume: bool = False, on_metrics: Any = None) -> dict[str, Any]:
    """Stage II fine-tuning: the pruned student (prune_dir/model) against the Stage-I teacher (stage1_dir/generator)."""
    from decig.compress.prune_run import MODEL_DIR
    from decig.train.finetune import GENERATOR_DIR, finetune_student

    s1, pr, out, data_root = Path(stage1_dir), Path(prune_dir), Path(out_dir), Path(data_dir)
    metrics = finetune_student(cfg, pr / MODEL_DIR, s1 / GENERATOR_DIR, data_root, out, resume=resume,
                               on_metrics=on_metrics)
    _record(cfg, "finetune", out, None, {"stage1": str(s1), "prune": str(pr), "data_root": str(data_root)})
    return metrics


def evaluate(cfg: DecigConfig, models: dict[str, str], data_dir: str | Path, out_dir: str | Path, *,
             hinge_plot: str | Path | None = None, baseline: str = "vanilla", teacher: str | None = "teacher",
             fid: bool = True, backends: tuple[str, ...] = ("eager", "onnx"), threads: int = 1,
             repeats: int = 30) -> dict[str, Any]:
    """Evaluate saved models (name -> model dir) on the test split; writes metrics.json and report.md/html.

    Test images get the deterministic eval-time preprocessing of the config (resize to
    ``crop_size`` for the resize/scale modes, none otherwise; never a flip) and at most
    ``data.max_eval`` images are used. ``teacher`` is ignored when no model has that name.
    """
    from decig.data.transforms import TransformConfig
    from decig.evaluate.report import write_report
    from decig.evaluate.run_eval import evaluate_models

    d = cfg.data
    if d.preprocess == "resize_and_crop":  # pix2pix at test time: load_size = crop_size, so no crop happens
        transform = TransformConfig(preprocess=d.preprocess, load_size=d.crop_size, crop_size=d.crop_size, flip=False)
    elif d.preprocess.startswith("scale_width"):
        transform = TransformConfig(preprocess="scale_width", load_size=d.crop_size, crop_size=d.crop_size, flip=False)
    else:
        transform = TransformConfig(preprocess="none", flip=False)
    out = Path(out_dir)
    metrics = evaluate_models(
        {name: Path(path) for name, path in models.items()}, Path(data_dir), d.format, out,
        baseline=baseline, teacher=teacher if teacher in models else None, direction=d.direction,
        transform=transform, max_images=d.max_eval, fid=fid, backends=backends, threads=threads, repeats=repeats,
    )
    paths = write_report(metrics, out, hinge_plot=Path(hinge_plot) if hinge_plot else None)
    inputs = {"data_root": str(data_dir), **{f"model_{name}": str(path) for name, path in models.items()}}
    _record(cfg, "evaluate", out, _data_md5(Path(data_dir)), inputs)
    flat: dict[str, Any] = {"report_html": str(paths["html"]), "metrics_json": str(out / "metrics.json")}
    for name, row in metrics["models"].items():
        flat[f"{name}/psnr_db"] = row["quality"]["psnr_db"]
        flat[f"{name}/ssim"] = row["quality"]["ssim"]
        flat[f"{name}/params"] = row["cost"]["params"]
        flat[f"{name}/macs_true"] = row["cost"]["macs_true"]
        if row.get("fid"):
            flat[f"{name}/fid"] = row["fid"]["fid"]
            flat[f"{name}/kid"] = row["fid"]["kid_mean"]
        if row.get("teacher_fidelity"):
            flat[f"{name}/teacher_psnr_db"] = row["teacher_fidelity"]["teacher_psnr_db"]
        for backend, timing in row["latency"].items():
            flat[f"{name}/{backend}_ms"] = timing["median_ms"]
            flat[f"{name}/{backend}_speedup"] = timing["speedup_vs_baseline"]
    return flat
