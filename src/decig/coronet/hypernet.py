"""The CoroNet generator: a U-Net/ResNet generator whose conv weights a hypernetwork emits from latents.

For a conv layer with output group ``o`` and (concatenated) input groups ``i`` the hypernetwork,
following the DHP design (latent layer -> embedding layer -> explicit layer), computes for every
channel pair (j, l)::

    e[j, l]          = z_o[j] · z_i[l]                       latent layer: outer product
    h[j, l, :]       = e[j, l] · E[j, l, :]                  embedding layer, E: [out, in, m]
    kernel[j, l, :]  = h[j, l, :] @ X[j, l, :, :]            explicit layer,  X: [out, in, m, kH·kW]

Unlike DHP we give the two linear layers no bias: without it ``kernel`` is linear in ``z_o[j]``,
so a zero latent entry gives *exactly* zero weights to that output channel (and to that input
channel in every consumer). That exact covariance is what makes the extracted compact generator
compute the same function as this one (see :mod:`decig.coronet.extract`).

Everything that is not a conv weight (conv biases, norm layers) stays an ordinary parameter of
the wrapped generator ``base``. A mask per group marks channels already pruned; the effective
latent is ``latent · mask``, so a pruned channel cannot come back through an optimizer update.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from decig.coronet.layout import FIXED_GROUPS, LatentLayout, latent_layout
from decig.models.builder import Conv, build_from_manifest
from decig.models.manifest import ArchManifest


def _key(name: str) -> str:
    # ParameterDict keys cannot contain dots; module names always do.
    return name.replace(".", "__")


class CoroNetGenerator(nn.Module):
    """Full-width generator (``manifest``) with hypernetwork-generated conv weights.

    ``hyper_dim`` is the embedding width m; ``init_gain`` the std the generated kernels start
    with (the reference's normal init uses 0.02).
    """

    def __init__(self, manifest: ArchManifest, hyper_dim: int = 2, init_gain: float = 0.02) -> None:
        super().__init__()
        if hyper_dim < 1:
            raise ValueError(f"hyper_dim must be >= 1, got {hyper_dim}")
        self.manifest = manifest
        self.layout: LatentLayout = latent_layout(manifest)
        self.base = build_from_manifest(manifest)
        self.latents = nn.ParameterDict()
        for group in self.layout.prunable_groups:
            # Ones: every channel starts fully present; sparsification moves entries to zero.
            self.latents[_key(group)] = nn.Parameter(torch.ones(self.layout.groups[group]))
            self.register_buffer(f"mask__{_key(group)}", torch.ones(self.layout.groups[group], dtype=torch.bool))
        self.embed = nn.ParameterDict()
        self.explicit = nn.ParameterDict()
        self.transposed: dict[str, bool] = {}
        self.kernel_size: dict[str, tuple[int, int]] = {}
        for name in self.layout.layers:
            conv = self.base.get_submodule(name)
            assert isinstance(conv, Conv), name
            self.transposed[name] = isinstance(conv, nn.ConvTranspose2d)
            self.kernel_size[name] = tuple(conv.kernel_size)  # type: ignore[assignment]
            out_c, in_c = self.layout.out_channels(name), self.layout.in_channels(name)
            kk = math.prod(conv.kernel_size)
            # E ~ N(0, 1) and X ~ N(0, gain²/m) make each kernel entry a sum of m products with
            # variance gain², i.e. the same scale as the reference's N(0, gain) init.
            self.embed[_key(name)] = nn.Parameter(torch.randn(out_c, in_c, hyper_dim))
            self.explicit[_key(name)] = nn.Parameter(torch.randn(out_c, in_c, hyper_dim, kk) * (init_gain / math.sqrt(hyper_dim)))
            # The weight is generated on every forward, so the base layer must not own one.
            del conv.weight

    # ------------------------------------------------------------------ latents

    def mask(self, group: str) -> Tensor:
        return getattr(self, f"mask__{_key(group)}")

    def latent(self, group: str) -> Tensor:
        """The effective latent of ``group`` (ones for the fixed input/output groups)."""
        if group in FIXED_GROUPS:
            return torch.ones(self.layout.groups[group], device=self.device)
        return self.latents[_key(group)] * self.mask(group)

    def latent_parameters(self) -> list[nn.Parameter]:
        return list(self.latents.values())

    def other_parameters(self) -> list[nn.Parameter]:
        latent_ids = {id(p) for p in self.latents.values()}
        return [p for p in self.parameters() if id(p) not in latent_ids]

    @property
    def device(self) -> torch.device:
        return next(iter(self.embed.values())).device

    def kept_indices(self) -> dict[str, Tensor]:
        """Indices of the present channels of every group (all of them for the fixed groups)."""
        kept = {}
        for group, size in self.layout.groups.items():
            if group in FIXED_GROUPS:
                kept[group] = torch.arange(size)
            else:
                kept[group] = torch.nonzero(self.latent(group).detach().cpu() != 0).flatten()
        return kept

    @torch.no_grad()
    def set_active(self, active: dict[str, Tensor]) -> None:
        """Replace the masks and zero the latents of inactive channels (the stored values too)."""
        for group, mask in active.items():
            buf = self.mask(group)
            buf.copy_(mask.to(buf.device))
            self.latents[_key(group)].mul_(buf)

    # ------------------------------------------------------------------ weights

    def generate(self, name: str) -> Tensor:
        """The conv weight of layer ``name`` in PyTorch's layout for its module type."""
        out_group, in_groups = self.layout.layers[name]
        z_out = self.latent(out_group)
        z_in = torch.cat([self.latent(g) for g in in_groups])
        e = z_out[:, None] * z_in[None, :]
        hidden = e[:, :, None] * self.embed[_key(name)]
        kernel = torch.einsum("oim,oimk->oik", hidden, self.explicit[_key(name)])
        weight = kernel.reshape(len(z_out), len(z_in), *self.kernel_size[name])
        # ConvTranspose2d stores [in, out, kH, kW].
        return weight.transpose(0, 1) if self.transposed[name] else weight

    def forward(self, x: Tensor) -> Tensor:
        convs = [(name, self.base.get_submodule(name)) for name in self.layout.layers]
        try:
            for name, conv in convs:
                # A plain tensor attribute (the parameter was deleted): conv.forward reads self.weight.
                conv.weight = self.generate(name)
            return self.base(x)
        finally:
            for _, conv in convs:
                # Drop the generated tensors so they do not keep the autograd graph alive.
                conv.__dict__.pop("weight", None)

    @torch.no_grad()
    def materialize(self) -> nn.Module:
        """An ordinary full-width generator holding the currently generated weights."""
        model = build_from_manifest(self.manifest).to(self.device)
        state = dict(self.base.state_dict())
        state.update({f"{name}.weight": self.generate(name) for name in self.layout.layers})
        model.load_state_dict(state)
        model.train(self.training)
        return model
