"""``decig promote | rollback | audit | reproduce``: the registry and lineage commands.

mlflow and torch are imported inside the handlers, so ``decig --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys

URI_HELP = ("MLflow tracking URI (default: config tracking.uri, else env MLFLOW_TRACKING_URI, "
            "else sqlite:///mlflow.db in the working directory)")


def _uri(args: argparse.Namespace, cfg=None) -> str:
    from decig.tracking.stage_tracking import resolve_uri

    return resolve_uri(cfg, args.tracking_uri)


def _cmd_promote(args: argparse.Namespace) -> int:
    from decig.config import load_config
    from decig.tracking.model_registry import gate_policy, promote

    cfg = load_config(args.config, args.set)
    decision = promote(args.name, args.version, policy=gate_policy(cfg), tracking_uri=_uri(args, cfg))
    print(f"{args.name}: {decision.summary()}")
    for reason in decision.reasons:
        print(f"  {reason}")
    return 0 if decision.promote else 1


def _cmd_rollback(args: argparse.Namespace) -> int:
    from decig.tracking.model_registry import rollback

    out = rollback(args.name, tracking_uri=_uri(args))
    print(f"{out['name']}: @champion -> v{out['champion']} (@previous -> v{out['previous']})")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from decig.tracking.audit import audit_record, format_audit

    rec = audit_record(MlflowClient(tracking_uri=_uri(args)), args.ref)
    if args.json:
        sys.stdout.write(json.dumps(rec, indent=2, default=str) + "\n")
    else:
        print(format_audit(rec))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from decig.core.errors import ConfigError
    from decig.tracking.reproduce import reproduce_run

    if not args.rel_tol > 0:
        raise ConfigError(f"--rel-tol must be positive, got {args.rel_tol}")
    out = reproduce_run(args.run_id, tracking_uri=_uri(args), workdir=args.workdir, rel_tol=args.rel_tol)
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    else:
        verdict = "MATCH" if out["match"] else "MISMATCH"
        print(f"reproduce {out['run_id']} ({out['stage']}, {out['threads']} torch threads): {verdict} by {out['method']}")
        print(f"  original   weights sha256: {out['original_sha256']}")
        print(f"  reproduced weights sha256: {out['reproduced_sha256']}")
        for key, d in out["metrics"].items():
            rel = "-" if d["rel_diff"] is None else f"{d['rel_diff']:.2e}"
            print(f"  {key:<28} {d['original']:>12.6g} {d['reproduced']:>12.6g}  rel diff {rel}")
        for w in out["warnings"]:
            print(f"  warning: {w}")
        print(f"  outputs: {out['outputs']}")
    return 0 if out["match"] else 1


def register_cli(sub: argparse._SubParsersAction) -> None:
    from decig.cli.common import add_config_args

    p = sub.add_parser(
        "promote", help="move @champion to a registered version if it passes the promotion gate",
        description="Compare a version (default: @candidate) with the current @champion using the gate "
        "section of the config (FID/PSNR tolerance, latency/speedup/size targets, export parity). On a pass "
        "the old champion becomes @previous. The decision, its reasons and numbers are written to the "
        "version's tags either way. Exit status 1 when the gate refuses.",
    )
    p.add_argument("name", help="registered model name, e.g. demo-cpu (<experiment>-<device>)")
    p.add_argument("--version", help="model version to promote (default: the @candidate alias)")
    add_config_args(p)
    p.add_argument("--tracking-uri", help=URI_HELP)
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser("rollback", help="restore @previous as @champion",
                       description="Point @champion back at @previous; the rolled-back version becomes @previous, "
                       "so a second rollback undoes the first.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--tracking-uri", help=URI_HELP)
    p.set_defaults(func=_cmd_rollback)

    p = sub.add_parser(
        "audit", help="print the full lineage of a run or a registered model version",
        description="REF is an MLflow run id, models:/NAME@ALIAS or models:/NAME/VERSION. Prints git SHA and "
        "dirty flag, data md5, config hash and the resolved config, seeds, package versions, device profile "
        "hash, image digest (in a container), the parent pipeline run, and lists any missing fact.",
    )
    p.add_argument("ref", help="RUN_ID | models:/NAME@ALIAS | models:/NAME/VERSION")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tracking-uri", help=URI_HELP)
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser(
        "reproduce", help="re-run a tracked stage1/finetune run from its record and compare outputs",
        description="Downloads the run's resolved config and inputs from MLflow, re-runs the stage with the "
        "recorded seed and torch thread count, and compares: on CPU the generator's weights sha256 must be "
        "identical; on an accelerator the final metrics must agree within --rel-tol. Exit status 1 on mismatch.",
    )
    p.add_argument("run_id", help="MLflow run id of a stage1 or finetune stage run, or models:/NAME@ALIAS "
                   "(the training run that produced that version)")
    p.add_argument("--workdir", help="where to put downloaded inputs and the re-run outputs (default: a temp dir)")
    p.add_argument("--rel-tol", type=float, default=0.05, help="relative tolerance for metrics off-CPU (default 0.05)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tracking-uri", help=URI_HELP)
    p.set_defaults(func=_cmd_reproduce)
