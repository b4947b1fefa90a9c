"""The decig pipeline: one ``@dsl.pipeline`` DAG over the stage components.

Shape (per run)::

    exit handler (finalize_run: parent MLflow run FINISHED/FAILED)
    └── prepare_data ──► train_vanilla (once: the baseline does not depend on the device)
        └── ParallelFor device in devices:
              device_kind ─► If cuda: GPU tasks  /  If not cuda: CPU tasks, each:
                 profile ─► If method == decig:   stage1 ─► prune ─► finetune ─► evaluate ─► export ─► register
                            Elif method == coronet: coronet ─────────────────► evaluate ─► export ─► register

Why the duplicated branches: kfp.local cannot merge artifacts from alternative branches
(``dsl.OneOf`` over artifacts fails), and accelerator/node-selector settings are fixed per task at
compile time, so each (device kind, method) combination is its own chain built by one helper.
The branches are independent ``dsl.If`` groups with complementary conditions, not If/Elif/Else:
kfp 2.17's compiler nests whatever follows an If/Elif chain that ends inside another If into
that If (the CPU branch would land inside the GPU one and never run).
The loop iterates device *names* (strings): looping over dicts passes a literal placeholder locally.
"""

# No `from __future__ import annotations`: KFP reads the pipeline signature's annotations as types.
from typing import Any

PIPELINE_NAME = "decig"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# Secret *names* only; the values stay in Kubernetes. Keys map to the env vars mlflow/boto3 read.
S3_SECRET_KEYS = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
# The tracking URI rides in the same secret so a pod needs one name to reach MLflow (an explicit
# tracking_uri pipeline parameter still wins).
MLFLOW_SECRET_KEYS = {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME": "MLFLOW_TRACKING_USERNAME",
                      "MLFLOW_TRACKING_PASSWORD": "MLFLOW_TRACKING_PASSWORD"}
TRAINING_RETRY = {"num_retries": 2, "backoff_duration": "60s", "backoff_factor": 2.0, "backoff_max_duration": "900s"}


def build_pipeline(image: str) -> Any:
    """The pipeline function (a KFP GraphComponent) whose components all run in ``image``."""
    from kfp import dsl, kubernetes

    from decig.components.factory import build_components

    c = build_components(image)

    def cluster(task: Any, *, s3_secret: Any, mlflow_secret: Any, gpu: bool = False) -> Any:
        """Credentials by secret name on every task that talks to MLflow/S3; GPU placement on request."""
        kubernetes.use_secret_as_env(task, secret_name=s3_secret, secret_key_to_env=S3_SECRET_KEYS, optional=True)
        kubernetes.use_secret_as_env(task, secret_name=mlflow_secret, secret_key_to_env=MLFLOW_SECRET_KEYS,
                                     optional=True)
        if gpu:
            task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
            kubernetes.add_node_selector(task, *GPU_NODE_LABEL)
            kubernetes.add_toleration(task, **GPU_TOLERATION)
        return task

    def device_chain(*, gpu: bool, device: Any, method: Any, common: dict[str, Any], secrets: dict[str, Any],
                     data: Any, vanilla: Any, fid: Any, auto_promote: Any, image_digest: Any) -> None:
        prof = cluster(c.profile_device(device=device, **common), gpu=gpu, **secrets)
        per_device = {**common, "device": device}
        with dsl.If(method == "decig", name="method-decig"):
            s1 = cluster(c.train_stage1(data=data, profile=prof.outputs["profile"], **per_device), gpu=gpu, **secrets)
            s1.set_retry(**TRAINING_RETRY)
            pr = cluster(c.prune(stage1=s1.outputs["model"], data=data, profile=prof.outputs["profile"],
                                 **per_device), gpu=gpu, **secrets)
            ft = cluster(c.finetune(stage1=s1.outputs["model"], pruned=pr.outputs["pruned"], data=data,
                                    **per_device), gpu=gpu, **secrets)
            ft.set_retry(**TRAINING_RETRY)
            ev = cluster(c.evaluate(data=data, vanilla=vanilla, student=ft.outputs["student"],
                                    teacher=s1.outputs["model"], pruned=pr.outputs["pruned"], fid=fid, **per_device),
                         gpu=gpu, **secrets)
            tail(ft.outputs["student"], "generator", ev, per_device, secrets, gpu, auto_promote, image_digest)
        with dsl.If(method == "coronet", name="method-coronet"):
            co = cluster(c.train_coronet(data=data, profile=prof.outputs["profile"], **per_device), gpu=gpu, **secrets)
            co.set_retry(**TRAINING_RETRY)
            ev = cluster(c.evaluate_coronet(data=data, vanilla=vanilla, student=co.outputs["student"], fid=fid,
                                            **per_device), gpu=gpu, **secrets)
            tail(co.outputs["student"], "model", ev, per_device, secrets, gpu, auto_promote, image_digest)

    def tail(student: Any, subdir: str, ev: Any, per_device: dict[str, Any], secrets: dict[str, Any], gpu: bool,
             auto_promote: Any, image_digest: Any) -> None:
        # Export runs where the model will serve (GPU branch on a GPU node); registration is CPU work.
        ex = cluster(c.export_model(student=student, model_subdir=subdir, **per_device), gpu=gpu, **secrets)
        reg = cluster(c.register_model(student=student, model_subdir=subdir, evaluation=ev.outputs["evaluation"],
                                       exported=ex.outputs["exported"], auto_promote=auto_promote,
                                       image_digest=image_digest, **per_device), **secrets)
        reg.set_caching_options(False)  # a side effect: a cached "success" would skip the registration

    @dsl.pipeline(name=PIPELINE_NAME, description="DECIG: device-weighted channel penalty, automatic hinge pruning, "
                  "student-teacher fine-tune, evaluation, export and MLflow registration per target device")
    def decig_pipeline(
        config_json: str,
        devices: list = ["cpu"],  # noqa: B006 - KFP reads the default from the signature
        method: str = "decig",
        reg: str = "",
        penalty_shape: str = "",
        arch: str = "",
        dataset: str = "",
        stage1_steps: int = 0,
        finetune_steps: int = 0,
        seed: int = -1,
        fid: bool = True,
        tracking_uri: str = "",
        auto_promote: bool = False,
        image_digest: str = "",
        s3_secret: str = "decig-s3",
        mlflow_secret: str = "decig-mlflow",
    ) -> None:
        secrets = {"s3_secret": s3_secret, "mlflow_secret": mlflow_secret}
        final = cluster(c.finalize_run(config_json=config_json, tracking_uri=tracking_uri,
                                       pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER), **secrets)
        final.set_caching_options(False)
        with dsl.ExitHandler(final, name="decig-run"):
            prep = cluster(c.prepare_data(
                config_json=config_json, tracking_uri=tracking_uri, pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                method=method, reg=reg, penalty_shape=penalty_shape, arch=arch, dataset=dataset, stage1_steps=stage1_steps,
                finetune_steps=finetune_steps, seed=seed), **secrets)
            common = {"run_context": prep.outputs["run_context"], "tracking_uri": tracking_uri,
                      "pipeline_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
            data = prep.outputs["data"]
            van = cluster(c.train_vanilla(data=data, **common), **secrets)
            van.set_retry(**TRAINING_RETRY)
            with dsl.ParallelFor(devices, name="per-device") as device:
                kind = c.device_kind(device=device)
                chain = {"device": device, "method": method, "common": common, "secrets": secrets, "data": data,
                         "vanilla": van.outputs["model"], "fid": fid, "auto_promote": auto_promote,
                         "image_digest": image_digest}
                with dsl.If(kind.output == "cuda", name="gpu"):
                    device_chain(gpu=True, **chain)
                with dsl.If(kind.output != "cuda", name="cpu"):
                    device_chain(gpu=False, **chain)

    return decig_pipeline
