"""KFP v2 components, one per pipeline stage: thin typed shells over :mod:`decig.stages`.

This directory sits at the repository root (where platform teams look for it) but is installed as
``decig.components`` (see ``[tool.setuptools] package-dir`` in pyproject.toml): import it by that
name, never as a top-level ``components`` package.
"""
