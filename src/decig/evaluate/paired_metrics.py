"""Paired image metrics: PSNR and SSIM against ground truth, and fidelity of a student to its teacher.

Generators output [-1, 1] (tanh); images are mapped to [0, 1] (clamped) before PSNR/SSIM so the
data range is 1 and numbers match the usual 8-bit-image convention up to quantization. Every metric
is computed per image and then averaged over images (the convention of pix2pix-family papers), not
from one pooled MSE.

SSIM follows Wang et al. (2004) exactly as scikit-image's ``gaussian_weights=True`` mode and
pytorch-msssim: 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, per channel, averaged
over the *valid* region (no padding, so border pixels are not invented), then over channels.

Identical images have PSNR = +inf (MSE 0); it is kept as inf rather than capped so "exactly equal"
stays distinguishable from "very close".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from decig.core.errors import EvaluationError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] generator images -> [0, 1], clamped, float32."""
    return ((images.detach().float() + 1) / 2).clamp(0, 1)


def _check_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise EvaluationError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() != 4:
        raise EvaluationError(f"{what}: expected [batch, channels, height, width], got {tuple(a.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [-1, 1] images after mapping to [0, 1]; ``inf`` where identical."""
    _check_pair(pred, target, "PSNR")
    mse = (to_unit_range(pred) - to_unit_range(target)).pow(2).flatten(1).mean(1).double()
    return 10 * torch.log10(1.0 / mse)  # data range 1; log10(1/0) = inf


def _gaussian_window(channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    window = torch.outer(g, g)
    # One copy per channel for a depthwise (grouped) convolution: channels never mix in SSIM.
    return window.expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of [-1, 1] images after mapping to [0, 1] (see module docstring for constants)."""
    _check_pair(pred, target, "SSIM")
    if min(pred.shape[-2:]) < SSIM_WINDOW:
        raise EvaluationError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(pred.shape[-2:])}")
    # float64: the variance terms are differences of nearly equal numbers; float32 loses ~1e-4.
    x = to_unit_range(pred).double()
    y = to_unit_range(target).double()
    channels = x.shape[1]
    window = _gaussian_window(channels, x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    sigma_xx = blur(x * x) - mu_x**2
    sigma_yy = blur(y * y) - mu_y**2
    sigma_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sigma_xx + sigma_yy + c2))
    return ssim_map.flatten(1).mean(1)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute difference in the generators' own [-1, 1] output units."""
    _check_pair(pred, target, "L1")
    return (pred.detach().double() - target.detach().double()).abs().flatten(1).mean(1)


@dataclass
class _Mean:
    """Running mean over images; inf values propagate (mean of anything with inf is inf)."""

    total: float = 0.0
    count: int = 0

    def add(self, values: torch.Tensor) -> None:
        self.total += float(values.sum())
        self.count += int(values.numel())

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else math.nan


@dataclass
class PairedMetrics:
    """Accumulates PSNR/SSIM vs ground truth over batches: ``update`` per batch, ``result`` at the end."""

    _psnr: _Mean = field(default_factory=_Mean)
    _ssim: _Mean = field(default_factory=_Mean)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self._psnr.add(psnr(pred, target))
        self._ssim.add(ssim(pred, target))

    def result(self) -> dict[str, float | int]:
        if not self._psnr.count:
            raise EvaluationError("no images were scored")
        return {"psnr_db": self._psnr.value, "ssim": self._ssim.value, "count": self._psnr.count}


@dataclass
class TeacherFidelity:
    """Accumulates how closely a student reproduces its teacher: PSNR (dB, [0,1] range) and L1 ([-1,1] units)."""

    _psnr: _Mean = field(default_factory=_Mean)
    _l1: _Mean = field(default_factory=_Mean)

    def update(self, student_out: torch.Tensor, teacher_out: torch.Tensor) -> None:
        self._psnr.add(psnr(student_out, teacher_out))
        self._l1.add(l1(student_out, teacher_out))

    def result(self) -> dict[str, float | int]:
        if not self._psnr.count:
            raise EvaluationError("no images were scored")
        return {"teacher_psnr_db": self._psnr.value, "teacher_l1": self._l1.value, "count": self._psnr.count}
