"""Physical channel pruning of a generator according to a :class:`~decig.compress.plan.PruningPlan`.

torch-pruning's ``DependencyGraph`` traces the model once and, for each unit, returns the *group*
of every tensor slice that removing those output channels implies: the norm after the conv, the
consumers' input channels, the U-Net ``torch.cat`` skips (a down conv's channels are also the first
input channels of the matching up ConvTranspose), and for the ResNet the whole residual trunk.
Removing a group keeps the network consistent, so the pruned model computes exactly what the
unpruned model computes with those channels zeroed (to float rounding) — the property the tests check.

Two safeguards around torch-pruning:

* The output layer is NOT passed as ``ignored_layers`` to ``build_dependency``: in torch-pruning
  1.6.1 that turns the ignored ConvTranspose into a pass-through node, the U-Net's outermost
  concat loses its channel offsets, and pruning the first down conv then also (wrongly) prunes the
  level-1 up conv's outputs, leaving a model that fails at run time. Instead the output layer is
  simply never a root, and every group is checked not to touch its output channels.
* torch-pruning caches each ``torch.cat``'s input sizes the first time it maps indices through it
  and never updates them, so after one group has cut a concat input the offsets it uses for the
  next group are stale (cuts land on the wrong input channels of the up ConvTranspose). The cache
  is cleared before every group, so offsets are recomputed from the current (partly pruned) shapes.
* Each group is checked against the plan before cutting: the convs whose *output* channels it
  removes must be exactly the unit's layers (the coupling the plan assumed) with exactly the planned
  indices. A mismatch means the plan and the model disagree about coupling; nothing is cut then.

The graph is traced in eval mode (BatchNorm running statistics must not move, dropout must not
fire) on a copy of the model, so the caller's model — typically the Stage-I teacher — is untouched.
"""

from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from decig.compress.plan import PruningPlan, UnitPlan
from decig.core.errors import PruningError
from decig.core.log import get_logger
from decig.models.builder import Conv, check_fits, fix_norm_num_features, manifest_from_model
from decig.models.manifest import ArchManifest

log = get_logger(__name__)


def example_input(manifest: ArchManifest, like: nn.Module) -> torch.Tensor:
    """A batch-1 input of the manifest's size on the model's device and dtype (values irrelevant)."""
    param = next(like.parameters())
    return torch.zeros(1, manifest.input_nc, *manifest.input_size, device=param.device, dtype=param.dtype)


def build_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    """Trace ``model`` (already in eval mode) into a dependency graph; autograd must be on to trace."""
    with torch.enable_grad():
        return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)


def refresh_concat_offsets(graph: tp.DependencyGraph) -> None:
    """Forget torch-pruning's cached concat input sizes so the next group uses current shapes."""
    for node in graph.module2node.values():
        if node.type == tp.ops.OPTYPE.CONCAT:
            node.module.concat_sizes = None


def _out_channel_cuts(group: tp.Group, names: dict[nn.Module, str]) -> dict[str, tuple[int, ...]]:
    """Conv layer name -> output-channel indices the group removes."""
    cuts: dict[str, tuple[int, ...]] = {}
    for dep, idxs in group:
        module = dep.target.module
        if isinstance(module, Conv) and dep.handler in (tp.prune_conv_out_channels, tp.prune_depthwise_conv_out_channels):
            cuts[names[module]] = tuple(sorted(int(i) for i in idxs))
    return cuts


def check_group(group: tp.Group, unit: UnitPlan, names: dict[nn.Module, str], final_layer: str) -> None:
    """Raise PruningError unless ``group`` removes exactly the unit's planned output channels."""
    cuts = _out_channel_cuts(group, names)
    if final_layer in cuts:
        raise PruningError(f"pruning {unit.name!r} would remove channels of the output layer {final_layer!r}")
    expected = set(unit.layers)
    if set(cuts) != expected:
        extra = sorted(set(cuts) - expected)
        lacking = sorted(expected - set(cuts))
        raise PruningError(
            f"the model couples {unit.name!r} differently from the plan: pruning it also cuts {extra or 'nothing else'}"
            + (f" and does not cut {lacking}" if lacking else "")
        )
    planned = unit.pruned_indices
    wrong = [name for name, idxs in cuts.items() if idxs != planned]
    if wrong:
        raise PruningError(f"pruning {unit.name!r} would cut other channels of {wrong[0]!r} than planned")


def _group_for(graph: tp.DependencyGraph, model: nn.Module, unit: UnitPlan) -> tp.Group:
    refresh_concat_offsets(graph)
    return graph.get_pruning_group(model.get_submodule(unit.name), tp.prune_conv_out_channels, list(unit.pruned_indices))


def prune_generator(
    model: nn.Module, manifest: ArchManifest, plan: PruningPlan, *, inplace: bool = False
) -> tuple[nn.Module, ArchManifest]:
    """Apply ``plan`` to a generator; return the pruned model and its manifest.

    ``model`` must be the unpruned architecture the plan was made for (checked). With
    ``inplace=False`` (default) a deep copy is pruned. The returned model is in the same train/eval
    mode as ``model`` and its manifest rebuilds it exactly (``save_model``/``load_model`` round-trip).
    """
    if manifest.family == "patchgan":
        raise PruningError("Stage II prunes generators only; the discriminator keeps its architecture")
    plan.check_against(manifest)
    check_fits(model.state_dict(), manifest, "model to prune")
    work = model if inplace else copy.deepcopy(model)
    was_training = work.training
    work.eval()
    try:
        graph = build_graph(work, example_input(manifest, work))
        names = {module: name for name, module in work.named_modules()}
        units = [unit for unit in plan.units if unit.keep < unit.width]
        # Check every group before cutting anything: a refused plan leaves the model unchanged.
        for unit in units:
            check_group(_group_for(graph, work, unit), unit, names, manifest.final_layer)
        for unit in units:
            # Rebuilt per unit: concat offsets (and so the consumers' input indices) move as earlier
            # units are cut. The unit's own output indices do not: each conv's outputs belong to one
            # unit, and cutting a layer's inputs never renumbers its outputs.
            group = _group_for(graph, work, unit)
            check_group(group, unit, names, manifest.final_layer)
            group.prune()
            log.debug("pruned %s: kept %d of %d", unit.name, unit.keep, unit.width)
    finally:
        work.train(was_training)
    fix_norm_num_features(work)
    pruned_manifest = manifest_from_model(work, manifest)
    planned = plan.kept_widths()
    off = {name: pruned_manifest.widths[name] for name, keep in planned.items() if pruned_manifest.widths[name] != keep}
    if off:
        name = next(iter(off))
        raise PruningError(f"after surgery {name!r} has {off[name]} channels, the plan keeps {planned[name]}")
    return work, pruned_manifest
