"""Importing reference checkpoints, checked against an independent re-statement of the reference.

The helpers below re-derive the reference U-Net key names and shapes from its description
(nested blocks, module indices, ngf * min(2**level, 8) widths) and run it functionally with
torch.nn.functional straight from the state dict -- no decig module code involved. Importing
such a state dict and matching outputs shows the decig modules are the reference network.
"""

import argparse

import pytest
import torch
import torch.nn.functional as F

from decig.core.errors import CheckpointError
from decig.models import create_model, import_reference_checkpoint

NGF = 4
NUM_DOWNS = 7  # unet_128


def block_prefix(level: int) -> str:
    """Sequential holding level `level`: the outermost is 'model.model.', each deeper one sits at index 1 then 3."""
    if level == 0:
        return "model.model."
    return "model.model.1.model." + "3.model." * (level - 1)


def reference_unet_shapes(ngf: int, norm: str) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    inner = [ngf * min(2**level, 8) for level in range(NUM_DOWNS)]

    def add_norm(key: str, channels: int) -> None:
        if norm == "batch":
            shapes.update({f"{key}.weight": (channels,), f"{key}.bias": (channels,)})
            shapes.update({f"{key}.running_mean": (channels,), f"{key}.running_var": (channels,)})
            shapes[f"{key}.num_batches_tracked"] = ()

    for level in range(NUM_DOWNS):
        p = block_prefix(level)
        outer = 3 if level == 0 else inner[level - 1]
        innermost = level == NUM_DOWNS - 1
        down = p + ("0" if level == 0 else "1")
        up = p + ("3" if level == 0 or innermost else "5")
        shapes[f"{down}.weight"] = (inner[level], 3 if level == 0 else outer, 4, 4)
        if norm == "instance":
            shapes[f"{down}.bias"] = (inner[level],)
        if 0 < level < NUM_DOWNS - 1:
            add_norm(p + "2", inner[level])
        shapes[f"{up}.weight"] = (inner[level] if innermost else 2 * inner[level], outer, 4, 4)
        if level == 0 or norm == "instance":
            shapes[f"{up}.bias"] = (outer,)
        if level > 0:
            add_norm(p + ("4" if innermost else "6"), outer)
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape) + 0.5
        else:
            state[key] = torch.randn(shape) * 0.2
    return state


def reference_forward(state: dict[str, torch.Tensor], x: torch.Tensor, norm: str) -> torch.Tensor:
    """The reference U-Net in eval mode, written as plain functions over the state dict."""

    def conv(h, key):
        return F.conv2d(h, state[f"{key}.weight"], state.get(f"{key}.bias"), stride=2, padding=1)

    def upconv(h, key):
        return F.conv_transpose2d(h, state[f"{key}.weight"], state.get(f"{key}.bias"), stride=2, padding=1)

    def normalize(h, key):
        if norm == "instance":
            return F.instance_norm(h)
        return F.batch_norm(
            h, state[f"{key}.running_mean"], state[f"{key}.running_var"], state[f"{key}.weight"], state[f"{key}.bias"]
        )

    def level(k: int, h: torch.Tensor) -> torch.Tensor:
        p = block_prefix(k)
        if k == 0:
            return torch.tanh(upconv(F.relu(level(1, conv(h, p + "0"))), p + "3"))
        # The reference's in-place LeakyReLU means the skip connection carries the activated input.
        skip = F.leaky_relu(h, 0.2)
        if k == NUM_DOWNS - 1:
            return torch.cat([skip, normalize(upconv(F.relu(conv(skip, p + "1")), p + "3"), p + "4")], 1)
        inner = level(k + 1, normalize(conv(skip, p + "1"), p + "2"))
        return torch.cat([skip, normalize(upconv(F.relu(inner), p + "5"), p + "6")], 1)

    return level(0, x)


def check_import(path, state, norm, **overrides):
    model, manifest = import_reference_checkpoint(path, "unet_128", ngf=NGF, norm=norm, **overrides)
    assert manifest.ngf == NGF and manifest.norm == norm
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference_forward(state, x, norm), rtol=1e-4, atol=1e-5)


def test_restated_layout_matches_the_modules():
    for norm in ("batch", "instance"):
        model = create_model("unet_128", ngf=NGF, norm=norm)
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert ours == reference_unet_shapes(NGF, norm)


@pytest.mark.parametrize("wrap", ["plain", "dataparallel", "wrapped"])
def test_import_batchnorm_checkpoint(tmp_path, wrap):
    state = random_state(reference_unet_shapes(NGF, "batch"))
    saved = {
        "plain": state,
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "wrapped": {"state_dict": state, "epoch": torch.tensor(200)},
    }[wrap]
    torch.save(saved, tmp_path / "latest_net_G.pth")
    check_import(tmp_path / "latest_net_G.pth", state, "batch")


def test_import_old_instancenorm_checkpoint_with_stale_running_stats(tmp_path):
    state = random_state(reference_unet_shapes(NGF, "instance"))
    stale = dict(state)
    for key in ("model.model.1.model.2", "model.model.1.model.6"):  # two InstanceNorm layers
        stale[f"{key}.running_mean"] = torch.zeros(8)
        stale[f"{key}.running_var"] = torch.ones(8)
        stale[f"{key}.num_batches_tracked"] = torch.tensor(0)
    torch.save(stale, tmp_path / "old.pth")
    check_import(tmp_path / "old.pth", state, "instance")


def test_wrong_width_lists_keys_and_shapes(tmp_path):
    torch.save(random_state(reference_unet_shapes(NGF, "batch")), tmp_path / "g.pth")
    with pytest.raises(CheckpointError) as err:
        import_reference_checkpoint(tmp_path / "g.pth", "unet_128", ngf=8)
    message = str(err.value)
    assert "g.pth does not fit unet_128 (ngf=8" in message
    assert "model.model.0.weight: checkpoint [4, 3, 4, 4] vs model [8, 3, 4, 4]" in message
    assert "... and" in message and "more" in message  # long lists are truncated with a count
    assert "ngf=4?" in message


def test_wrong_norm_lists_missing_and_unexpected_keys(tmp_path):
    torch.save(random_state(reference_unet_shapes(NGF, "batch")), tmp_path / "g.pth")
    with pytest.raises(CheckpointError) as err:
        import_reference_checkpoint(tmp_path / "g.pth", "unet_128", ngf=NGF, norm="instance")
    message = str(err.value)
    assert "missing key(s)" in message and "model.model.1.model.1.bias" in message
    assert "unexpected key(s)" in message and "model.model.1.model.2.weight" in message
    assert "try norm=batch" in message


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pth not found"):
        import_reference_checkpoint(tmp_path / "missing.pth", "unet_128", ngf=NGF)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth cannot be loaded safely"):
        import_reference_checkpoint(tmp_path / "junk.pth", "unet_128", ngf=NGF)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth cannot be read"):
        import_reference_checkpoint(tmp_path / "empty.pth", "unet_128", ngf=NGF)
    torch.save({"opt": argparse.Namespace(ngf=64)}, tmp_path / "pickled.pth")  # arbitrary objects: refused
    with pytest.raises(CheckpointError, match=r"pickled.pth cannot be loaded safely.*argparse.Namespace"):
        import_reference_checkpoint(tmp_path / "pickled.pth", "unet_128", ngf=NGF)
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError, match=r"meta.pth is not a state dict .*top-level keys: epoch, lr"):
        import_reference_checkpoint(tmp_path / "meta.pth", "unet_128", ngf=NGF)


def test_resnet_and_patchgan_key_layouts():
    # Reference ResNet: pad, conv, norm, relu, 2x(conv s2, norm, relu), blocks, 2x(convT, norm, relu), pad, conv, tanh.
    n_blocks, ngf = 6, 4
    expected = {"model.1.weight": (ngf, 3, 7, 7), "model.1.bias": (ngf,)}
    expected.update({"model.4.weight": (2 * ngf, ngf, 3, 3), "model.4.bias": (2 * ngf,)})
    expected.update({"model.7.weight": (4 * ngf, 2 * ngf, 3, 3), "model.7.bias": (4 * ngf,)})
    for i in range(n_blocks):
        for index in (1, 5):
            expected[f"model.{10 + i}.conv_block.{index}.weight"] = (4 * ngf, 4 * ngf, 3, 3)
            expected[f"model.{10 + i}.conv_block.{index}.bias"] = (4 * ngf,)
    expected.update({"model.16.weight": (4 * ngf, 2 * ngf, 3, 3), "model.16.bias": (2 * ngf,)})
    expected.update({"model.19.weight": (2 * ngf, ngf, 3, 3), "model.19.bias": (ngf,)})
    expected.update({"model.23.weight": (3, ngf, 7, 7), "model.23.bias": (3,)})
    model = create_model("resnet_6blocks", ngf=ngf)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected

    # Reference 3-layer PatchGAN: conv(bias) lrelu, 2x(conv, bn, lrelu) s2, (conv, bn, lrelu) s1, conv(bias) s1.
    ndf = 4
    bn = lambda c: {"weight": (c,), "bias": (c,), "running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}  # noqa: E731
    expected = {"model.0.weight": (ndf, 6, 4, 4), "model.0.bias": (ndf,)}
    for conv, norm, cin, cout in ((2, 3, ndf, 2 * ndf), (5, 6, 2 * ndf, 4 * ndf), (8, 9, 4 * ndf, 8 * ndf)):
        expected[f"model.{conv}.weight"] = (cout, cin, 4, 4)
        expected.update({f"model.{norm}.{name}": shape for name, shape in bn(cout).items()})
    expected.update({"model.11.weight": (1, 8 * ndf, 4, 4), "model.11.bias": (1,)})
    model = create_model("patchgan_70", ngf=ndf)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
