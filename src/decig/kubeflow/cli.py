"""``decig run``, ``decig pipeline compile|submit``, ``decig schedule apply``: the Kubeflow entry points.

Every command validates the config, device names, method and dataset before any task runs or
any request reaches a cluster. kfp is imported inside the handlers (``decig --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "configs/demo.yaml"


def _config_args(p: argparse.ArgumentParser) -> None:
    from decig.cli.common import add_config_args

    add_config_args(p)


def _load(args: argparse.Namespace) -> Any:
    from decig.config import load_config

    config = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    return load_config(config, args.set)


def _image_arg(p: argparse.ArgumentParser) -> None:
    from decig.kubeflow.image import IMAGE_ENV

    p.add_argument("--image", help=f"component image, name:tag or name@sha256:DIGEST (default: ${IMAGE_ENV}, "
                   "else decig:<version>)")


def register_cli(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run", help="run the whole Kubeflow pipeline on this machine (kfp.local); what `make run` does",
        description="Runs the pipeline DAG with kfp.local (one subprocess per task, no cluster, no containers): "
        "prepare data -> vanilla baseline -> per device: profile -> Stage I -> prune -> fine-tune -> evaluate -> "
        "export -> register in MLflow. Tracking goes to an sqlite file (mlflow.db in the working directory) "
        "unless --tracking-uri says otherwise. Prints vanilla vs compressed (FPS, FID, PSNR, params).",
    )
    _config_args(run)
    run.add_argument("--no-fid", action="store_true", help="skip FID/KID (Inception on CPU is the slowest metric)")
    run.add_argument("--pipeline-root", default="runs/kfp", help="where task outputs land (default runs/kfp)")
    run.add_argument("--tracking-uri", help="MLflow URI (default: sqlite:///<cwd>/mlflow.db); 'off' disables tracking")
    run.set_defaults(func=_cmd_run)

    pipe = subparsers.add_parser("pipeline", help="compile the Kubeflow pipeline or submit it to a cluster",
                                 description="Compile the DAG to KFP IR YAML, or upload it and start a run on a "
                                 "Kubeflow Pipelines API.")
    psub = pipe.add_subparsers(dest="pipeline_cmd", required=True, metavar="{compile,submit}")
    comp = psub.add_parser("compile", help="write the pipeline IR YAML",
                           description="Compile the pipeline. --golden rewrites the checked-in copy "
                           "pipeline/decig_pipeline.yaml (always with the version-pinned default image).")
    comp.add_argument("--out", type=Path, default=Path("decig_pipeline.yaml"), help="output file")
    comp.add_argument("--golden", action="store_true", help="regenerate the checked-in golden YAML")
    _image_arg(comp)
    comp.set_defaults(func=_cmd_compile)

    sub = psub.add_parser("submit", help="upload the pipeline as a new version and start a run",
                          description="Compiles (or takes --package), uploads it as a content-addressed version "
                          "of --pipeline-name (reused when identical), and starts a run in --experiment with the "
                          "config as parameters.")
    _config_args(sub)
    sub.add_argument("--host", required=True, help="KFP API endpoint, e.g. https://kfp.example.internal/pipeline")
    sub.add_argument("--namespace", help="Kubernetes namespace (multi-user deployments)")
    sub.add_argument("--package", type=Path, help="a compiled pipeline YAML to upload (default: compile now)")
    sub.add_argument("--pipeline-name", default="decig")
    sub.add_argument("--experiment", default="decig")
    sub.add_argument("--run-name")
    sub.add_argument("--tracking-uri", default="", help="MLflow URI for the tasks (default: the pods' "
                     "MLFLOW_TRACKING_URI or the config's tracking.uri)")
    sub.add_argument("--auto-promote", action="store_true", help="let the gate move @champion when it passes")
    _image_arg(sub)
    sub.set_defaults(func=_cmd_submit)

    sched = subparsers.add_parser("schedule", help="recurring pipeline runs from a YAML file kept in git",
                                  description="Nightly runs per device: 6-field cron in UTC, max_concurrency=1, "
                                  "no catch-up, pinned to an uploaded pipeline version.")
    ssub = sched.add_subparsers(dest="schedule_cmd", required=True, metavar="{apply,check}")
    apply = ssub.add_parser("apply", help="make the cluster's recurring runs match the file",
                            description="Validates the whole file, uploads the pipeline version, then replaces "
                            "each named recurring run in the experiment.")
    apply.add_argument("-f", "--file", required=True, type=Path, help="schedules YAML, e.g. configs/schedules.yaml")
    apply.add_argument("--host", required=True, help="KFP API endpoint")
    apply.add_argument("--namespace")
    apply.add_argument("--package", type=Path, help="a compiled pipeline YAML (default: compile now)")
    _image_arg(apply)
    apply.set_defaults(func=_cmd_schedule_apply)
    check = ssub.add_parser("check", help="validate the file without contacting a cluster")
    check.add_argument("-f", "--file", required=True, type=Path)
    check.set_defaults(func=_cmd_schedule_check)


def _cmd_run(args: argparse.Namespace) -> int:
    from decig.kubeflow.local_run import format_summary, run_local

    cfg = _load(args)
    result = run_local(cfg, pipeline_root=args.pipeline_root, fid=not args.no_fid,
                       tracking_uri=args.tracking_uri)
    print(format_summary(result))
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from decig.kubeflow.compile import compile_pipeline, golden_image, golden_path

    if args.golden:
        out = compile_pipeline(golden_path(), image=golden_image())
    else:
        out = compile_pipeline(args.out, image=args.image)
    print(f"wrote {out}")
    return 0


def _package(args: argparse.Namespace, tmp: str) -> Path:
    from decig.kubeflow.compile import compile_pipeline

    if args.package is not None:
        if not args.package.is_file():
            from decig.core.errors import ConfigError

            raise ConfigError(f"pipeline package not found: {args.package}")
        return args.package
    return compile_pipeline(Path(tmp) / "decig_pipeline.yaml", image=args.image)


def _cmd_submit(args: argparse.Namespace) -> int:
    from decig.kubeflow.image import image_digest, resolve_image
    from decig.kubeflow.remote import make_client, run_parameters, submit
    from decig.kubeflow.validate import check_device_names, check_method

    cfg = _load(args)
    check_device_names(cfg.devices)
    check_method(cfg.method)
    image = resolve_image(args.image)
    params = run_parameters(cfg, extra={
        "tracking_uri": args.tracking_uri, "auto_promote": args.auto_promote, "image_digest": image_digest(image)})
    with tempfile.TemporaryDirectory() as tmp:
        package = _package(args, tmp)
        ids = submit(make_client(args.host, args.namespace), package, params, pipeline_name=args.pipeline_name,
                     experiment=args.experiment, run_name=args.run_name, namespace=args.namespace)
    for key, value in ids.items():
        print(f"{key}: {value}")
    return 0


def _cmd_schedule_apply(args: argparse.Namespace) -> int:
    from decig.kubeflow.remote import apply_schedules, make_client
    from decig.kubeflow.schedules import load_schedules

    schedules = load_schedules(args.file)
    with tempfile.TemporaryDirectory() as tmp:
        package = _package(args, tmp)
        applied = apply_schedules(make_client(args.host, args.namespace), package, schedules,
                                  namespace=args.namespace)
    for a in applied:
        print(f"{a['name']:<24}{a['device']:<10}{a['cron']:<20}{a['recurring_run_id']}  (version {a['version']})")
    return 0


def _cmd_schedule_check(args: argparse.Namespace) -> int:
    from decig.kubeflow.schedules import load_schedules

    s = load_schedules(args.file)
    for item in s.schedules:
        print(f"{item.name:<24}{item.device:<10}{item.cron}  (UTC)")
    print(f"{len(s.schedules)} schedule(s) valid; config {s.config}", file=sys.stderr)
    return 0
