"""Parameter and MAC counts per prunable layer and in total.

Two MAC figures are reported because they differ a lot for these generators:

* ``macs_true``: measured with ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2),
  i.e. the multiply-adds the convolutions actually perform.
* ``macs_convention``: what thop/torchprofile/torch-pruning counters and most papers report.
  They charge a ConvTranspose2d as if it were a conv evaluated at its *output* resolution,
  ``out_h * out_w * C_in * C_out * k_h * k_w / groups`` -- 4x the true cost at stride 2
  (pix2pix unet_256: 6.05 G true vs 18.1 G convention). Use it only to compare with papers.

Counting runs the model on the ``meta`` device (shapes only), so it costs milliseconds and no
memory even for large inputs, and does not touch the model's weights or BatchNorm statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from decig.models.builder import Conv, conv_out_channels


@dataclass(frozen=True)
class LayerCost:
    """One Conv2d/ConvTranspose2d at batch size 1; shapes are (C, H, W)."""

    name: str
    type: str
    in_channels: int
    out_channels: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs_true: int
    macs_convention: int
    prunable: bool


@dataclass(frozen=True)
class CostReport:
    input_size: tuple[int, int]
    layers: tuple[LayerCost, ...]
    params_total: int  # every parameter of the model, norms included
    macs_true_total: int  # the whole forward pass as measured
    macs_convention_total: int  # the same with transposed convs charged by the convention


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.ConvTranspose2d]]:
    """Every Conv2d/ConvTranspose2d in registration order."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, Conv)]


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.ConvTranspose2d]]:
    """Conv layers whose output channels may be pruned: all but the final output layer.

    The final layer (the last conv registered; for the generators it produces the ``output_nc``
    image channels, for the PatchGAN the 1-channel score map) has a fixed width. Note when
    scoring channels: Conv2d weights are ``[out, in/groups, kH, kW]`` but ConvTranspose2d weights
    are ``[in, out/groups, kH, kW]``, so per-output-channel statistics use dim 1 for them.
    """
    return conv_layers(model)[:-1]


def _in_channels(layer: nn.Conv2d | nn.ConvTranspose2d) -> int:
    # From the weight tensor, which pruning keeps current (see conv_out_channels).
    if isinstance(layer, nn.ConvTranspose2d):
        return layer.weight.shape[0]
    return layer.weight.shape[1] * layer.groups


def _convention_macs(layer: nn.Conv2d | nn.ConvTranspose2d, out_shape: tuple[int, ...]) -> int:
    out_h, out_w = out_shape[-2:]
    k_h, k_w = layer.kernel_size
    return out_h * out_w * _in_channels(layer) * conv_out_channels(layer) * k_h * k_w // layer.groups


def count_cost(model: nn.Module, input_size: int | tuple[int, int], input_nc: int | None = None) -> CostReport:
    """Per-layer and total cost of one forward pass at batch size 1.

    ``input_nc`` defaults to the input channels of the first conv layer.
    """
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    convs = conv_layers(model)
    channels = input_nc if input_nc is not None else _in_channels(convs[0][1])
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def record(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            shapes[name] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))

        return hook

    handles = [layer.register_forward_hook(record(name)) for name, layer in convs]
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    meta_tensors = {key: torch.empty_like(value, device="meta") for key, value in tensors.items()}
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            functional_call(model, meta_tensors, (torch.empty(1, channels, *size, device="meta"),))
    finally:
        for handle in handles:
            handle.remove()

    # FlopCounterMode names modules "<RootClass>.<qualified name>".
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    layers = []
    for index, (name, layer) in enumerate(convs):
        in_shape, out_shape = shapes[name]
        layers.append(
            LayerCost(
                name=name,
                type=type(layer).__name__,
                in_channels=_in_channels(layer),
                out_channels=conv_out_channels(layer),
                input_shape=in_shape,
                output_shape=out_shape,
                params=sum(p.numel() for p in layer.parameters(recurse=False)),
                macs_true=sum(per_module[f"{root}.{name}"].values()) // 2,
                macs_convention=_convention_macs(layer, out_shape),
                prunable=index < len(convs) - 1,
            )
        )
    true_total = counter.get_total_flops() // 2
    conv_true = sum(row.macs_true for row in layers)
    return CostReport(
        input_size=size,
        layers=tuple(layers),
        params_total=sum(p.numel() for p in model.parameters()),
        macs_true_total=true_total,
        macs_convention_total=true_total - conv_true + sum(row.macs_convention for row in layers),
    )
