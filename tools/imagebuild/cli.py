"""``decig-image build | push | ref``: the component image the compiled pipeline references.

A build tool, not part of the runtime wheel: it needs the docker SDK and a Docker Engine API
(a Docker engine or ``podman system service``), which pipeline pods never do.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_build(args: argparse.Namespace) -> int:
    from imagebuild.build import build

    result = build(Path(args.repo), tag=args.tag, variant=args.variant,
                   cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                   base_image=args.base_image, record=Path(args.record) if args.record else None)
    print(f"built {result.tag} ({result.image_id[:19]}) revision {result.git_sha} in {result.build_seconds:.0f} s")
    print(f"component image: {result.reference}")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from imagebuild.build import push

    result = push(Path(args.record), args.repository)
    print(f"pushed; component image: {result.reference}")
    return 0


def _cmd_ref(args: argparse.Namespace) -> int:
    from decig.kubeflow.image import component_image

    print(component_image(Path(args.record) if args.record else None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="decig-image",
        description="Build the decig component image through the Docker Engine API at DOCKER_HOST (a Docker "
        "engine or `podman system service`), from a wheelhouse of the locked dependencies built on this host "
        "(offline, exactly the lock), and record the image reference in build/image.json, which pipeline "
        "compilation then uses (see `decig-image ref`).",
    )
    isub = p.add_subparsers(dest="image_command", required=True, metavar="SUBCOMMAND")

    b = isub.add_parser("build", help="build the image and record its reference in build/image.json",
                        description="Build docker/Dockerfile (cpu) or docker/Dockerfile.cuda from the repository "
                        "root. The wheelhouse is cached under .cache/ keyed by requirements.lock's hash (~1 min to "
                        "fill once). The git SHA becomes the org.opencontainers.image.revision label.")
    b.add_argument("--tag", help="name:tag to build (default decig:<version>, decig:<version>-cuda)")
    b.add_argument("--variant", choices=["cpu", "cuda"], default="cpu", help="which Dockerfile (default cpu)")
    b.add_argument("--repo", default=".", help="decig repository root (default: current directory)")
    b.add_argument("--cache-dir", help="where the wheelhouse and base rootfs are cached (default REPO/.cache)")
    b.add_argument("--base-image", help="override the Dockerfile's FROM (default: the local debootstrap base)")
    b.add_argument("--record", help="where to write the image record (default REPO/build/image.json)")
    b.set_defaults(func=_cmd_build)

    u = isub.add_parser("push", help="push the recorded image and record it by digest",
                        description="Tag the image from build/image.json as REPOSITORY:<tag>, push it (registry "
                        "credentials come from the docker config / `docker login`, never from decig), and "
                        "record REPOSITORY@sha256:<digest> so the pipeline compiles against the exact bytes.")
    u.add_argument("repository", help="target repository, e.g. registry.example.com/ml/decig")
    u.add_argument("--record", default="build/image.json", help="image record to read and update")
    u.set_defaults(func=_cmd_push)

    r = isub.add_parser("ref", help="print the image reference the pipeline compiles with",
                        description="$DECIG_COMPONENT_IMAGE if set, else the reference recorded by `decig image "
                        "build`/`push` in build/image.json, else decig:<package version>.")
    r.add_argument("--record", help="image record to read (default build/image.json or $DECIG_IMAGE_RECORD)")
    r.set_defaults(func=_cmd_ref)
    return p


def main(argv: list[str] | None = None) -> int:
    import sys

    from decig.core.errors import DecigError
    from decig.core.log import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(0)
    try:
        return int(args.func(args) or 0)
    except DecigError as err:
        print(f"decig-image: error: {err}", file=sys.stderr)
        return 2
