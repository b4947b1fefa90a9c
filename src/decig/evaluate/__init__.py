"""Evaluation: FID/KID offline, paired metrics, cost and latency measurement.

Heavy optional pieces (torch-fidelity, onnxruntime) are imported only when used.
"""

from decig.evaluate.benchmark import NamedModel, benchmark
from decig.evaluate.cost_metrics import CostMetrics, MemoryMeasurement, model_cost, peak_memory, peak_memory_of_saved
from decig.evaluate.fid import FidEvaluator, FidResult, fid_between_folders
from decig.evaluate.image_sources import folder_batches, tensor_batches, to_uint8_rgb
from decig.evaluate.inception_weights import FidWeights, ensure_fid_weights
from decig.evaluate.latency import Candidate, LatencyReport, Timing, measure_latency
from decig.evaluate.paired_metrics import PairedMetrics, TeacherFidelity, psnr, ssim
from decig.evaluate.real_stats import RealStatistics
from decig.evaluate.runners import ExecutionPlan, execution_plan

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
