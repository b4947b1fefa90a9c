"""Evaluation: FID/KID offline, paired metrics, cost and latency measurement.

Heavy optional pieces (torch-fidelity, onnxruntime) are imported only when used.
"""

from decig.core.lazy import lazy_namespace

# Names resolve on first use (see decig.core.lazy): importing one submodule must not load them all.
_LAZY = {
    "NamedModel": "decig.evaluate.benchmark",
    "benchmark": "decig.evaluate.benchmark",
    "CostMetrics": "decig.evaluate.cost_metrics",
    "MemoryMeasurement": "decig.evaluate.cost_metrics",
    "model_cost": "decig.evaluate.cost_metrics",
    "peak_memory": "decig.evaluate.cost_metrics",
    "peak_memory_of_saved": "decig.evaluate.cost_metrics",
    "FidEvaluator": "decig.evaluate.fid",
    "FidResult": "decig.evaluate.fid",
    "fid_between_folders": "decig.evaluate.fid",
    "folder_batches": "decig.evaluate.image_sources",
    "tensor_batches": "decig.evaluate.image_sources",
    "to_uint8_rgb": "decig.evaluate.image_sources",
    "FidWeights": "decig.evaluate.inception_weights",
    "ensure_fid_weights": "decig.evaluate.inception_weights",
    "Candidate": "decig.evaluate.latency",
    "LatencyReport": "decig.evaluate.latency",
    "Timing": "decig.evaluate.latency",
    "measure_latency": "decig.evaluate.latency",
    "PairedMetrics": "decig.evaluate.paired_metrics",
    "TeacherFidelity": "decig.evaluate.paired_metrics",
    "psnr": "decig.evaluate.paired_metrics",
    "ssim": "decig.evaluate.paired_metrics",
    "RealStatistics": "decig.evaluate.real_stats",
    "ExecutionPlan": "decig.evaluate.runners",
    "execution_plan": "decig.evaluate.runners",
}

__all__ = [
    "Candidate",
    "CostMetrics",
    "ExecutionPlan",
    "FidEvaluator",
    "FidResult",
    "FidWeights",
    "LatencyReport",
    "MemoryMeasurement",
    "NamedModel",
    "PairedMetrics",
    "RealStatistics",
    "TeacherFidelity",
    "Timing",
    "benchmark",
    "ensure_fid_weights",
    "execution_plan",
    "fid_between_folders",
    "folder_batches",
    "measure_latency",
    "model_cost",
    "peak_memory",
    "peak_memory_of_saved",
    "psnr",
    "ssim",
    "tensor_batches",
    "to_uint8_rgb",
]

__getattr__, __dir__ = lazy_namespace(__name__, _LAZY)
