"""Generators and discriminators of pix2pix/CycleGAN, width-flexible for channel pruning.

State dicts are key- and shape-compatible with the reference implementation. A model is fully
described by an :class:`ArchManifest` (family, depth, norm and the output width of every conv
layer), which is what is stored beside the weights of a pruned model.
"""

from decig.models.builder import build_from_manifest, fix_norm_num_features, manifest_from_model
from decig.models.checkpoint_import import import_reference_checkpoint
from decig.models.cost import CostReport, LayerCost, count_cost, prunable_layers
from decig.models.manifest import SCHEMA_VERSION, ArchManifest
from decig.models.persistence import load_model, save_model
from decig.models.registry import ModelInfo, create_model, default_manifest, list_models, model_info, register_model

__all__ = [
    "SCHEMA_VERSION",
    "ArchManifest",
    "CostReport",
    "LayerCost",
    "ModelInfo",
    "build_from_manifest",
    "count_cost",
    "create_model",
    "default_manifest",
    "fix_norm_num_features",
    "import_reference_checkpoint",
    "list_models",
    "load_model",
    "manifest_from_model",
    "model_info",
    "prunable_layers",
    "register_model",
    "save_model",
]
