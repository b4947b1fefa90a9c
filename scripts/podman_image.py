"""`make image` / `make run-containers`: the component image in a private podman root, and the DAG through it.

    python scripts/podman_image.py build            # base image + `decig-image build` via the podman API
    python scripts/podman_image.py run-pipeline     # the whole DAG with kfp.local.DockerRunner
    python scripts/podman_image.py clean            # remove containers, images, storage

The podman root (storage, configs, socket) is ``$DECIG_PODMAN_ROOT`` or ``.cache/podman``; the image
stays there between the two commands. Nothing touches the machine's own /var/lib/containers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sandbox():
    from imagebuild.podman import PodmanSandbox
    from imagebuild.wheelhouse import project_cache

    project_cache(ROOT)  # self-ignoring for git before podman puts GBs under it
    return PodmanSandbox(Path(os.environ.get("DECIG_PODMAN_ROOT", ROOT / ".cache" / "podman")))


def cmd_build(args: argparse.Namespace) -> int:
    from imagebuild.base import ensure_base_image
    from imagebuild.build import build
    from imagebuild.wheelhouse import project_cache

    sb = sandbox()
    sb.write_config()
    t0 = time.monotonic()
    ensure_base_image(sb, project_cache(ROOT))
    os.environ["DOCKER_HOST"] = sb.start_service()
    try:
        result = build(ROOT, tag=args.tag)
    finally:
        sb.stop_service()
    print(f"built {result.tag} in {time.monotonic() - t0:.0f} s (image build {result.build_seconds:.0f} s); "
          f"recorded in build/image.json")
    return 0


def cmd_run_pipeline(args: argparse.Namespace) -> int:
    from kfp import local

    from decig.config import load_config
    from decig.kubeflow.image import component_image
    from decig.kubeflow.local_run import collect_evaluations, format_summary, LocalRunResult
    from decig.pipeline.dag import build_pipeline

    sb = sandbox()
    image = component_image()
    if sb.podman("image", "exists", image, check=False).returncode != 0:
        print(f"image {image} is not in {sb.root}: run `make image` first", file=sys.stderr)
        return 2
    if "/" not in image.split("@")[0].rsplit(":", 1)[0]:
        # podman stores a short name as docker.io/library/<name>; kfp's DockerRunner looks the exact
        # reference up among the local tags and otherwise pulls (impossible offline): use localhost/.
        local_ref = f"localhost/{image}"
        sb.podman("tag", image, local_ref)
        image = local_ref
    cfg = load_config(args.config, args.set)
    root = Path(args.pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o777)  # tasks write as the image's uid 1000
    os.environ["DOCKER_HOST"] = sb.start_service()
    try:
        # network_mode none: every task must work offline from the image (and podman's API would
        # otherwise create a bridge network). The sqlite tracking store lives in the mounted root.
        local.init(runner=local.DockerRunner(network_mode="none"), pipeline_root=str(root), raise_on_error=False)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        before = set(root.iterdir())
        t0 = time.monotonic()
        build_pipeline(image)(config_json=json.dumps(cfg.to_dict()), devices=list(cfg.devices), method="decig",
                              fid=not args.no_fid, tracking_uri=uri)
        wall = time.monotonic() - t0
    finally:
        sb.stop_service()
    run_dirs = [p for p in root.iterdir() if p.is_dir() and p not in before]
    if not run_dirs:
        print("kfp.local wrote no run directory", file=sys.stderr)
        return 1
    run_dir = max(run_dirs, key=lambda p: p.stat().st_mtime)
    evaluations, reports = collect_evaluations(run_dir)
    if sorted(evaluations) != sorted(cfg.devices):
        print(f"pipeline did not finish for {sorted(set(cfg.devices) - set(evaluations))}; outputs in {run_dir}",
              file=sys.stderr)
        return 1
    print(format_summary(LocalRunResult(run_dir, wall, evaluations, reports, uri)))
    print(f"all tasks ran in {image} (kfp.local.DockerRunner via podman)")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    sandbox().destroy()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--tag", default=None)
    b.set_defaults(func=cmd_build)
    r = sub.add_parser("run-pipeline")
    r.add_argument("-c", "--config", default=str(ROOT / "configs" / "demo.yaml"))
    r.add_argument("--set", action="append", default=[])
    r.add_argument("--pipeline-root", default=str(ROOT / "runs" / "containers"))
    r.add_argument("--no-fid", action="store_true")
    r.set_defaults(func=cmd_run_pipeline)
    c = sub.add_parser("clean")
    c.set_defaults(func=cmd_clean)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
