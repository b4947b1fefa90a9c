"""Physical pruning: the pruned model equals the unpruned one with the removed channels zeroed.

Zeroing a removed output channel's conv weights *and* bias, and its norm's affine weight and bias,
makes the channel exactly 0 everywhere it is read (BatchNorm in eval mode: 0·x̂ + 0; InstanceNorm
without affine: a constant-zero map normalises to 0), so those channels contribute nothing. If the
surgery sliced a skip concatenation, a norm or the residual trunk inconsistently, the outputs differ.
"""

import copy

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from decig.compress.coupling import RESNET_TRUNK, decision_units
from decig.compress.hinge import HingeSettings
from decig.compress.plan import make_plan
from decig.compress.surgery import build_graph, check_group, example_input, prune_generator
from decig.compress.zero_shot import zero_shot_difference
from decig.core.errors import EvaluationError, ManifestError, PruningError
from decig.models import build_from_manifest, default_manifest, load_model, save_model
from decig.models.unet import unet_level_names


@pytest.fixture(autouse=True)
def _one_thread():
    # Runs after the directory's 2-thread fixture: with another busy process on a 2-core machine,
    # 2-thread forward passes slow down ~50x while 1-thread ones do not (ENVIRONMENT.md).
    torch.set_num_threads(1)


def random_stats(manifest, keep_fraction=0.4, seed=0):
    """Scattered live channels per unit (not a prefix, so index bookkeeping is really tested)."""
    rng = np.random.default_rng(seed)
    stats = {}
    for unit in decision_units(manifest):
        width = manifest.widths[unit[0]]
        live = rng.permutation(width)[: max(1, int(keep_fraction * width))]
        values = np.full(width, 1e-4)
        values[live] = 1.0
        for name in unit:
            stats[name] = values * rng.uniform(0.9, 1.1, width)
    return stats


def randomize_norms(model):
    """Non-trivial BatchNorm statistics and affine parameters, so a mis-sliced norm shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def norm_after(model, conv_name):
    """The norm directly after a conv in its Sequential (None if there is none)."""
    parent_name, _, index = conv_name.rpartition(".")
    parent = model.get_submodule(parent_name)
    following = int(index) + 1
    if following < len(parent) and isinstance(parent[following], (nn.BatchNorm2d, nn.InstanceNorm2d)):
        return parent[following]
    return None


def zeroed_reference(model, plan):
    """A copy of the unpruned model with every channel the plan removes zeroed."""
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for unit in plan.units:
            removed = torch.tensor(unit.pruned_indices, dtype=torch.long)
            if removed.numel() == 0:
                continue
            for name in unit.layers:
                conv = reference.get_submodule(name)
                if isinstance(conv, nn.ConvTranspose2d):
                    conv.weight[:, removed] = 0
                else:
                    conv.weight[removed] = 0
                if conv.bias is not None:
                    conv.bias[removed] = 0
                norm = norm_after(reference, name)
                if norm is not None and norm.affine:
                    norm.weight[removed] = 0
                    norm.bias[removed] = 0
    return reference


CASES = [
    ("unet_128", {"ngf": 8}),
    ("unet_128", {"ngf": 8, "norm": "instance"}),
    ("resnet_6blocks", {"ngf": 8, "input_size": 32}),
    ("resnet_6blocks", {"ngf": 8, "input_size": 32, "norm": "batch", "use_dropout": True}),
]


@pytest.mark.parametrize("arch, overrides", CASES)
def test_pruned_equals_unpruned_with_removed_channels_zeroed(arch, overrides):
    manifest = default_manifest(arch, **overrides)
    model = build_from_manifest(manifest).eval()
    randomize_norms(model)
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    assert all(u.keep < u.width for u in plan.units)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    pruned, pruned_manifest = prune_generator(model, manifest, plan)

    assert pruned_manifest.widths == {**manifest.widths, **plan.kept_widths()}
    for key, value in model.state_dict().items():  # the teacher is untouched
        assert torch.equal(value, before[key]), key
    x = torch.randn(2, manifest.input_nc, *manifest.input_size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = zeroed_reference(model, plan)(x)
        actual = pruned.eval()(x)
        original = model(x)
    assert torch.allclose(actual, expected, atol=1e-5), (actual - expected).abs().max()
    assert not torch.allclose(original, expected, atol=1e-3)  # the zeroing did change something


def test_unet_skip_concatenations_are_sliced_from_both_inputs():
    manifest = default_manifest("unet_128", ngf=8)
    model = build_from_manifest(manifest).eval()
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    pruned, _ = prune_generator(model, manifest, plan)
    kept = plan.kept_widths()
    levels = unet_level_names(manifest.num_downs)
    for level, (down, up) in enumerate(levels[:-1]):
        # Up conv k reads cat([down k output (level k+1's input), up k+1 output]): both halves pruned.
        up_next = levels[level + 1][1]
        original = model.get_submodule(up).weight  # ConvTranspose2d: [in, out, kH, kW]
        rows = [*plan.unit(down).keep_indices, *(manifest.widths[down] + i for i in plan.unit(up_next).keep_indices)]
        cols = list(plan.unit(up).keep_indices) if up in kept else list(range(manifest.output_nc))
        assert torch.equal(pruned.get_submodule(up).weight, original[rows][:, cols]), up
    innermost_down, innermost_up = levels[-1]
    assert pruned.get_submodule(innermost_up).weight.shape[0] == kept[innermost_down]
    assert pruned.get_submodule(manifest.final_layer).weight.shape[1] == manifest.output_nc


def test_resnet_trunk_channels_are_removed_in_every_block():
    manifest = default_manifest("resnet_6blocks", ngf=8, input_size=32)
    model = build_from_manifest(manifest).eval()
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    pruned, pruned_manifest = prune_generator(model, manifest, plan)
    trunk = plan.unit(RESNET_TRUNK)
    assert {pruned_manifest.widths[name] for name in trunk.layers} == {trunk.keep}
    out_idx = list(trunk.keep_indices)
    # The trunk conv reads model.4; every block's second conv reads its first conv (hidden width).
    producers = {RESNET_TRUNK: "model.4"} | {f"model.{10 + i}.conv_block.5": f"model.{10 + i}.conv_block.1" for i in range(manifest.n_blocks)}
    for name in trunk.layers:
        in_idx = list(plan.unit(producers[name]).keep_indices)
        original = model.get_submodule(name)
        assert torch.equal(pruned.get_submodule(name).weight, original.weight[out_idx][:, in_idx]), name
        assert torch.equal(pruned.get_submodule(name).bias, original.bias[out_idx]), name
    for i in range(manifest.n_blocks):
        first = pruned.get_submodule(f"model.{10 + i}.conv_block.1")
        assert torch.equal(first.weight, model.get_submodule(f"model.{10 + i}.conv_block.1").weight[list(plan.unit(f"model.{10 + i}.conv_block.1").keep_indices)][:, out_idx])


def test_pruned_model_saves_and_reloads_identically(tmp_path):
    manifest = default_manifest("unet_128", ngf=8)
    model = build_from_manifest(manifest).eval()
    randomize_norms(model)
    pruned, pruned_manifest = prune_generator(model, manifest, make_plan(random_stats(manifest), manifest, HingeSettings()))
    save_model(pruned, pruned_manifest, tmp_path / "student")
    loaded, loaded_manifest = load_model(tmp_path / "student")  # torch.load(weights_only=True) inside
    assert loaded_manifest == pruned_manifest
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), pruned.eval()(x))


def test_discriminator_is_untouched():
    generator_manifest = default_manifest("unet_128", ngf=8)
    discriminator_manifest = default_manifest("patchgan_70", ngf=8)
    generator = build_from_manifest(generator_manifest)
    discriminator = build_from_manifest(discriminator_manifest)
    before = {k: v.clone() for k, v in discriminator.state_dict().items()}
    plan = make_plan(random_stats(generator_manifest), generator_manifest, HingeSettings())
    prune_generator(generator, generator_manifest, plan, inplace=True)
    assert all(torch.equal(v, before[k]) for k, v in discriminator.state_dict().items())
    with pytest.raises(PruningError, match="generators only"):
        prune_generator(discriminator, discriminator_manifest, plan)


def test_inplace_keeps_the_training_mode_and_batchnorm_statistics():
    manifest = default_manifest("unet_128", ngf=8)
    model = build_from_manifest(manifest).train()
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    running = model.model.model[1].model[2].running_mean.clone()  # level-1 BatchNorm
    pruned, _ = prune_generator(model, manifest, plan, inplace=True)
    assert pruned is model and model.training
    kept = torch.tensor(plan.unit("model.model.1.model.1").keep_indices)
    # Tracing ran in eval mode: the statistics were sliced, not updated by the tracing pass.
    assert torch.equal(model.model.model[1].model[2].running_mean, running[kept])


def test_wrong_model_or_plan_is_refused_before_cutting():
    manifest = default_manifest("unet_128", ngf=8)
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    other = default_manifest("unet_128", ngf=16)
    with pytest.raises(PruningError, match="16 output channels"):
        prune_generator(build_from_manifest(other), other, plan)
    with pytest.raises(ManifestError, match="does not match"):
        prune_generator(build_from_manifest(other), manifest, plan)  # model and manifest disagree


def test_group_check_catches_a_coupling_the_plan_does_not_know():
    manifest = default_manifest("resnet_6blocks", ngf=8, input_size=32)
    model = build_from_manifest(manifest).eval()
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    graph = build_graph(model, example_input(manifest, model))
    names = {m: n for n, m in model.named_modules()}
    trunk = plan.unit(RESNET_TRUNK)
    group = graph.get_pruning_group(model.get_submodule(RESNET_TRUNK), tp.prune_conv_out_channels, list(trunk.pruned_indices))
    check_group(group, trunk, names, manifest.final_layer)  # the true coupling passes
    alone = type(trunk)(**{**trunk.__dict__, "layers": (RESNET_TRUNK,)})
    with pytest.raises(PruningError, match=r"couples 'model.7' differently from the plan: pruning it also cuts \['model.10"):
        check_group(group, alone, names, manifest.final_layer)


# ---- zero-shot check -----------------------------------------------------------------------------


def test_zero_shot_difference_of_a_hinge_pruned_model():
    manifest = default_manifest("unet_128", ngf=8)
    model = build_from_manifest(manifest).eval()
    randomize_norms(model)
    plan = make_plan(random_stats(manifest), manifest, HingeSettings())
    pruned, _ = prune_generator(model, manifest, plan)
    x = torch.randn(3, 3, 128, 128)
    exact = zero_shot_difference(zeroed_reference(model, plan), pruned, x)
    assert exact["max_abs"] < 1e-5 and exact["psnr"] > 90 and exact["images"] == 3
    batches = zero_shot_difference(model, pruned, [x[:2], x[2:]])
    assert batches["images"] == 3 and batches["max_abs"] > exact["max_abs"]
    assert batches["mean_abs"] <= batches["max_abs"]
    assert zero_shot_difference(model, model, x)["psnr"] == float("inf")
    model.train()
    zero_shot_difference(model, pruned, x)
    assert model.training and not pruned.training  # modes restored


def test_zero_shot_refuses_mismatched_outputs():
    a = build_from_manifest(default_manifest("unet_32", ngf=4))
    b = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.AvgPool2d(2))
    with pytest.raises(EvaluationError, match="differs in shape"):
        zero_shot_difference(a, b, torch.randn(1, 3, 32, 32))
    with pytest.raises(EvaluationError, match="no input images"):
        zero_shot_difference(a, a, [])
