"""The component bodies: typed KFP signatures whose bodies only import and call.

KFP copies each function's source into the pod, so a body may not use anything defined at
module level here; the real work is in :mod:`decig.components.runtime` (installed in the image).
:mod:`decig.components.factory` turns these into components with the chosen image.
No ``from __future__ import annotations``: KFP reads the annotations as real types.
"""

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output, PipelineTaskFinalStatus


def prepare_data(config_json: str, tracking_uri: str, pipeline_run_id: str, method: str, reg: str, penalty_shape: str,
                 arch: str, dataset: str, stage1_steps: int, finetune_steps: int, seed: int, run_context: Output[Artifact],
                 data: Output[Dataset], metrics: Output[Metrics]):
    """Resolve the run's config, copy the validated dataset into the artifact, open the parent MLflow run.

    ``run_context`` (resolved config + parent MLflow run id) is an artifact, not two string outputs:
    kfp.local 2.17 replaces task-output *parameters* entering a ParallelFor with the loop item.
    """
    from decig.components import runtime

    overrides = runtime.pipeline_overrides(method=method, reg=reg, penalty_shape=penalty_shape, arch=arch, dataset=dataset,
                                           stage1_steps=stage1_steps, finetune_steps=finetune_steps, seed=seed)
    runtime.prepare(config_json, overrides, tracking_uri, pipeline_run_id, run_context.path, data.path, metrics)


def device_kind(device: str) -> str:
    """'cpu' | 'cuda' | 'mac': the gate that picks the GPU or CPU branch (dsl.If needs a task output)."""
    from decig.components import runtime

    return runtime.device_kind(device)


def profile_device(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                   profile: Output[Artifact], metrics: Output[Metrics]):
    """Measure l(i) of every prunable layer on the target device."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.profile(ctx, profile.path, metrics)


def train_vanilla(run_context: Input[Artifact], tracking_uri: str, pipeline_run_id: str,
                  data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]):
    """The baseline: Stage I with the same config and steps but no channel penalty."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id)
    runtime.stage1(ctx, data.path, None, model.path, metrics, vanilla=True)


def train_stage1(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                 data: Input[Dataset], profile: Input[Artifact], model: Output[Model], metrics: Output[Metrics]):
    """DECIG Stage I: GAN + L1 + the device-weighted channel penalty."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.stage1(ctx, data.path, profile.path, model.path, metrics)


def prune(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
          stage1: Input[Model], data: Input[Dataset], profile: Input[Artifact], pruned: Output[Model],
          metrics: Output[Metrics]):
    """Stage II surgery at the automatic hinge of every layer."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.prune(ctx, stage1.path, data.path, profile.path, pruned.path, metrics)


def finetune(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
             stage1: Input[Model], pruned: Input[Model], data: Input[Dataset], student: Output[Model],
             metrics: Output[Metrics]):
    """Stage II fine-tune: the pruned student against the Stage-I teacher."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.finetune(ctx, stage1.path, pruned.path, data.path, student.path, metrics)


def train_coronet(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                  data: Input[Dataset], profile: Input[Artifact], student: Output[Model], metrics: Output[Metrics]):
    """CoroNetGAN (method=coronet): hypernetwork training + extraction, same student format as fine-tune."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.coronet(ctx, data.path, profile.path, student.path, metrics)


def evaluate(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str, fid: bool,
             data: Input[Dataset], vanilla: Input[Model], student: Input[Model], teacher: Input[Model],
             pruned: Input[Model], evaluation: Output[Artifact], report: Output[HTML], report_md: Output[Markdown],
             metrics: Output[Metrics]):
    """Vanilla, teacher, pruned and student side by side: quality, cost, interleaved latency."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    models = {"vanilla": vanilla.path + "/generator", "teacher": teacher.path + "/generator",
              "pruned": pruned.path + "/model", "student": student.path + "/generator"}
    runtime.evaluate(ctx, models, data.path, evaluation.path, report.path, report_md.path, metrics, fid=fid,
                     hinge_plot=pruned.path + "/hinge_plots.png")


def evaluate_coronet(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                     fid: bool, data: Input[Dataset], vanilla: Input[Model], student: Input[Model],
                     evaluation: Output[Artifact], report: Output[HTML], report_md: Output[Markdown],
                     metrics: Output[Metrics]):
    """Vanilla vs the CoroNetGAN student (there is no teacher or pruned intermediate)."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    models = {"vanilla": vanilla.path + "/generator", "student": student.path + "/model"}
    runtime.evaluate(ctx, models, data.path, evaluation.path, report.path, report_md.path, metrics, fid=fid)


def export_model(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                 student: Input[Model], model_subdir: str, exported: Output[Model], metrics: Output[Metrics]):
    """ONNX export of the student, reloaded and compared with PyTorch before it counts."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    runtime.export(ctx, student.path + "/" + model_subdir, exported.path, metrics)


def register_model(run_context: Input[Artifact], device: str, tracking_uri: str, pipeline_run_id: str,
                   auto_promote: bool, image_digest: str, student: Input[Model], model_subdir: str,
                   evaluation: Input[Artifact], exported: Input[Model], metrics: Output[Metrics]) -> str:
    """Register the student as @candidate in MLflow; the gate decides on @champion (side effect: never cached)."""
    from decig.components import runtime

    ctx = runtime.context(run_context.path, tracking_uri, pipeline_run_id, device)
    return runtime.register(ctx, student.path + "/" + model_subdir, evaluation.path, exported.path, metrics,
                            auto_promote=auto_promote, image_digest=image_digest)


def finalize_run(config_json: str, tracking_uri: str, pipeline_run_id: str, status: PipelineTaskFinalStatus) -> str:
    """Exit handler: the parent MLflow run ends FINISHED or FAILED with the DAG (never cached)."""
    from decig.components import runtime

    return runtime.finalize(config_json, tracking_uri, pipeline_run_id, status.state)


ALL = [prepare_data, device_kind, profile_device, train_vanilla, train_stage1, prune, finetune, train_coronet, evaluate,
       evaluate_coronet, export_model, register_model, finalize_run]
