"""Kubeflow Pipelines glue: compile the DAG, run it locally (kfp.local), submit it, schedule it.

Everything here imports ``kfp`` lazily inside functions, so ``decig --help`` stays fast and the
library (``decig.stages`` and below) never depends on Kubeflow.
"""
