"""``decig pipeline compile``: the DAG as KFP IR YAML, plus the golden copy checked in beside the source."""

from __future__ import annotations

from pathlib import Path

GOLDEN_NAME = "decig_pipeline.yaml"
REGENERATE = ".venv/bin/decig pipeline compile --golden"


def golden_path() -> Path:
    """``pipeline/decig_pipeline.yaml`` (installed as package data of decig.pipeline)."""
    import decig.pipeline

    return Path(decig.pipeline.__file__).resolve().parent / GOLDEN_NAME


def golden_image() -> str:
    """The golden copy always uses the version-pinned default, whatever $DECIG_COMPONENT_IMAGE says."""
    from decig import __version__

    return f"decig:{__version__}"


def compile_pipeline(out: str | Path, *, image: str | None = None) -> Path:
    """Compile the pipeline for ``image`` (see :func:`decig.kubeflow.image.resolve_image`) into ``out``."""
    from kfp import compiler

    from decig.kubeflow.image import resolve_image
    from decig.pipeline.dag import build_pipeline

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(resolve_image(image)), str(out))
    return out
