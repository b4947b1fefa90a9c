"""PSNR / SSIM / teacher fidelity against values known in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from decig.core.errors import EvaluationError
from decig.evaluate.paired_metrics import PairedMetrics, TeacherFidelity, psnr, ssim


def unit_to_model(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> the generators' [-1, 1]."""
    return x01 * 2 - 1


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_identical_images_have_infinite_psnr_and_unit_ssim(images: torch.Tensor) -> None:
    assert torch.isinf(psnr(images, images)).all()
    assert torch.allclose(ssim(images, images), torch.ones(3, dtype=torch.float64), atol=1e-12)


def test_psnr_of_an_exact_error_pattern() -> None:
    # ±0.1 (in [0,1] units) around mid-gray, never clipped: MSE is exactly 0.01 -> 20 dB.
    target01 = torch.full((2, 3, 32, 32), 0.5)
    signs = torch.where(torch.rand(target01.shape, generator=torch.Generator().manual_seed(1)) < 0.5, -1.0, 1.0)
    pred01 = target01 + 0.1 * signs
    values = psnr(unit_to_model(pred01), unit_to_model(target01))
    assert torch.allclose(values, torch.full((2,), 20.0, dtype=torch.float64), atol=1e-4)


def test_psnr_of_gaussian_noise_matches_its_variance() -> None:
    sigma = 0.05  # in [0, 1] units; 10 sigma from the clip bounds, so clipping is negligible
    target01 = torch.full((1, 3, 256, 256), 0.5)
    noise = torch.randn(target01.shape, generator=torch.Generator().manual_seed(2)) * sigma
    value = psnr(unit_to_model(target01 + noise), unit_to_model(target01)).item()
    assert value == pytest.approx(20 * math.log10(1 / sigma), abs=0.05)  # 26.02 dB


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # Zero variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = 0.01^2.
    a, b = 0.3, 0.6
    value = ssim(unit_to_model(torch.full((1, 1, 16, 16), a)), unit_to_model(torch.full((1, 1, 16, 16), b))).item()
    c1 = 0.01**2
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-6)


def test_ssim_falls_with_noise_and_is_symmetric(images: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(3)
    slightly = images + 0.05 * torch.randn(images.shape, generator=generator)
    heavily = images + 0.5 * torch.randn(images.shape, generator=generator)
    s_slight, s_heavy = ssim(slightly, images), ssim(heavily, images)
    assert (s_slight < 1).all() and (s_heavy < s_slight).all()
    assert torch.allclose(ssim(images, heavily), s_heavy, atol=1e-12)


def test_inputs_outside_range_are_clamped_like_saved_images(images: torch.Tensor) -> None:
    assert torch.isinf(psnr(images.clamp(-1, 1) * 3, (images.clamp(-1, 1) * 3).clamp(-1, 1))).all()


def test_mismatched_or_tiny_inputs_are_clear_errors(images: torch.Tensor) -> None:
    with pytest.raises(EvaluationError, match="shapes differ"):
        psnr(images, images[:, :, :32])
    with pytest.raises(EvaluationError, match="at least 11x11"):
        ssim(images[..., :8, :8], images[..., :8, :8])
    with pytest.raises(EvaluationError, match="no images"):
        PairedMetrics().result()


def test_accumulators_average_per_image_over_batches(images: torch.Tensor) -> None:
    noisy = images + 0.1 * torch.randn(images.shape, generator=torch.Generator().manual_seed(4))
    metrics = PairedMetrics()
    metrics.update(noisy[:1], images[:1])
    metrics.update(noisy[1:], images[1:])
    result = metrics.result()
    assert result["count"] == 3
    assert result["psnr_db"] == pytest.approx(psnr(noisy, images).mean().item(), rel=1e-12)
    assert result["ssim"] == pytest.approx(ssim(noisy, images).mean().item(), rel=1e-12)


def test_teacher_fidelity_reports_psnr_and_l1() -> None:
    teacher = torch.zeros(2, 3, 16, 16)
    student = teacher + 0.1  # 0.1 in [-1, 1] units = 0.05 in [0, 1] units
    fidelity = TeacherFidelity()
    fidelity.update(student, teacher)
    result = fidelity.result()
    assert result["teacher_l1"] == pytest.approx(0.1, rel=1e-6)
    assert result["teacher_psnr_db"] == pytest.approx(20 * math.log10(1 / 0.05), abs=1e-4)
    assert result["count"] == 2
