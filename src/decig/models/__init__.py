"""Generators and discriminators of pix2pix/CycleGAN, width-flexible for channel pruning.

State dicts are key- and shape-compatible with the reference implementation. A model is fully
described by an :class:`ArchManifest` (family, depth, norm and the output width of every conv
layer), which is what is stored beside the weights of a pruned model.
"""

from decig.core.lazy import lazy_namespace

# Names resolve on first use (see decig.core.lazy): importing one submodule must not load them all.
_LAZY = {
    "build_from_manifest": "decig.models.builder",
    "fix_norm_num_features": "decig.models.builder",
    "manifest_from_model": "decig.models.builder",
    "import_reference_checkpoint": "decig.models.checkpoint_import",
    "CostReport": "decig.models.cost",
    "LayerCost": "decig.models.cost",
    "count_cost": "decig.models.cost",
    "prunable_layers": "decig.models.cost",
    "SCHEMA_VERSION": "decig.models.manifest",
    "ArchManifest": "decig.models.manifest",
    "load_model": "decig.models.persistence",
    "save_model": "decig.models.persistence",
    "ModelInfo": "decig.models.zoo",
    "create_model": "decig.models.zoo",
    "default_manifest": "decig.models.zoo",
    "list_models": "decig.models.zoo",
    "model_info": "decig.models.zoo",
    "register_architecture": "decig.models.zoo",
}

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
    "register_architecture",
    "save_model",
]

__getattr__, __dir__ = lazy_namespace(__name__, _LAZY)
