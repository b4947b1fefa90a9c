"""The KFP ``@dsl.pipeline`` DAG, its compiled golden YAML and the pieces that run or submit it.

This directory sits at the repository root but is installed as ``decig.pipeline`` (see
``[tool.setuptools] package-dir`` in pyproject.toml): import it by that name, never as a
top-level ``pipeline`` package.
"""
