"""Fixtures for evaluation tests: a network guard, a shared FID cache, deterministic CPU settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch


class NetworkAccessError(AssertionError):
    """Raised by the guard: the code under test tried to open a network connection."""


@contextmanager
def network_blocked() -> Iterator[None]:
    """Any socket connect or DNS lookup raises while active (proves a code path is offline)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkAccessError(f"network access attempted: {args[1:] if len(args) > 1 else args}")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)
    mp.setattr(socket, "getaddrinfo", refuse)
    try:
        yield
    finally:
        mp.undo()


@pytest.fixture
def no_network() -> Iterator[None]:
    with network_blocked():
        yield


@pytest.fixture(scope="session")
def fid_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache dir per test session: weights are converted once, never into ~/.cache."""
    return tmp_path_factory.mktemp("decig-cache")


@pytest.fixture(autouse=True)
def _deterministic_cpu() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fid_weights(fid_cache: Path):  # noqa: ANN201 - FidWeights
    """The converted FID weights, converted offline once per session."""
    from decig.evaluate.inception_weights import ensure_fid_weights

    with network_blocked():
        return ensure_fid_weights(fid_cache)


def synthetic_images(seed: int, count: int = 10, size: int = 64) -> torch.Tensor:
    """Structured test images in [-1, 1]: sinusoid textures with a flat square (seeded, deterministic).

    Random noise would make every image look alike to Inception; these differ in texture
    frequency, phase and colour, so sets drawn with different seeds form one distribution.
    """
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = []
    for _ in range(count):
        freq = torch.rand(3, 2, generator=generator) * 12
        phase = torch.rand(3, generator=generator) * 6.28
        image = torch.stack([torch.sin(freq[c, 0] * xx + freq[c, 1] * yy + phase[c]) for c in range(3)])
        x0, y0 = (torch.rand(2, generator=generator) * (size - size // 3)).long().tolist()
        image[:, y0 : y0 + size // 3, x0 : x0 + size // 3] = torch.rand(3, 1, 1, generator=generator) * 2 - 1
        images.append(image)
    return torch.stack(images).clamp(-1, 1)


@pytest.fixture(scope="session")
def image_set():  # noqa: ANN201 - callable
    return synthetic_images


@pytest.fixture(scope="module")
def offline_module() -> Iterator[None]:
    """The network guard for a whole test module, including its module-scoped fixtures."""
    with network_blocked():
        yield
