"""Which container image the components run in: one place decides, so compile and submit agree.

Order: ``--image`` on the command line, then :func:`decig.image.reference.component_image`
(``$DECIG_COMPONENT_IMAGE``, else the reference ``decig image build/push`` recorded in
``build/image.json``), else ``decig:<version>``. Components need decig, torch and kfp baked in
(``install_kfp_package=False``), which no public base image has. A digest
(``registry.example/decig@sha256:...``) pins the bytes a tag only names.
"""

from __future__ import annotations

from decig.errors import ConfigError
from decig.image.reference import IMAGE_ENV, component_image, validate_ref

__all__ = ["IMAGE_ENV", "default_image", "image_digest", "resolve_image"]


def default_image() -> str:
    """The configured component image (see the module docstring)."""
    return resolve_image(None)


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
