"""Which container image the components run in: one place decides, so compile and submit agree.

Order: ``--image`` on the command line, then ``$DECIG_COMPONENT_IMAGE`` (CI, a release job, or a
platform team overriding), then the reference the image build tool (``decig-image build`` /
``push``, in ``tools/imagebuild``) recorded in ``build/image.json`` (digest-pinned after a push),
else ``decig:<package version>``. Components need decig, torch and kfp baked in
(``install_kfp_package=False``), which no public base image has. A digest
(``registry.example/decig@sha256:...``) pins the bytes a tag only names, so a pushed image is
always preferred.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from decig import __version__
from decig.core.errors import ConfigError

IMAGE_ENV = "DECIG_COMPONENT_IMAGE"
RECORD_ENV = "DECIG_IMAGE_RECORD"
RECORD_PATH = Path("build/image.json")
# [host[:port]/]path[:tag][@sha256:<64 hex>], lower-case path as OCI requires.
_REF = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)


def validate_ref(ref: str) -> str:
    """``ref`` if it is a well-formed image reference, else a :class:`ConfigError` naming it."""
    if not isinstance(ref, str) or not _REF.match(ref):
        raise ConfigError(f"{ref!r} is not an image reference (expected [registry/]name[:tag][@sha256:<digest>])")
    return ref


def default_image() -> str:
    return f"decig:{__version__}"


def recorded_image(record: Path | None = None) -> str | None:
    """The reference in ``build/image.json`` (or ``$DECIG_IMAGE_RECORD``), or None when there is none."""
    path = Path(record or os.environ.get(RECORD_ENV) or RECORD_PATH)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        ref = data.get("digest_ref") or data["tag"]
    except (json.JSONDecodeError, KeyError, AttributeError) as err:
        raise ConfigError(f"{path} is not an image record written by `decig-image build`: {err}") from None
    return validate_ref(ref)


def component_image(record: Path | None = None) -> str:
    """The image reference to compile the pipeline's components with (see the module docstring)."""
    env = os.environ.get(IMAGE_ENV, "").strip()
    if env:
        try:
            return validate_ref(env)
        except ConfigError as err:
            raise ConfigError(f"${IMAGE_ENV}: {err}") from None
    return recorded_image(record) or default_image()


def resolve_image(explicit: str | None) -> str:
    """--image beats $DECIG_COMPONENT_IMAGE, then build/image.json, then ``decig:<version>``; all validated."""
    image = validate_ref(explicit or component_image())
    # A bare name means "latest", which moves: compiled pipelines must name a tag or a digest.
    if "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        raise ConfigError(
            f"component image {image!r} is not a pinned image reference: use name:tag or name@sha256:<digest> "
            f"(from --image or ${IMAGE_ENV})"
        )
    return image


def image_digest(image: str) -> str:
    """The ``sha256:...`` part of a digest-pinned reference, or '' for a tag-only reference."""
    return image.split("@", 1)[1] if "@" in image else ""
