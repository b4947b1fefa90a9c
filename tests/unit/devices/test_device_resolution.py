"""Device names -> specs, and which timer measures each kind of device.

No GPU exists on the CI machines, so the CUDA branch is exercised by pretending torch sees GPUs;
that checks the selection logic (names, indices, timer class), not CUDA timing itself.
"""

import pytest
import torch

from decig.devices.spec import DeviceSpec, resolve_device
from decig.devices.timing import CpuTimer, CudaTimer, timer_for
from decig.core.errors import DeviceError


@pytest.fixture
def two_fake_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_cpu_and_mac_resolve_without_hardware_checks():
    assert resolve_device(" CPU ") == DeviceSpec(kind="cpu", name="cpu")
    mac = resolve_device("mac")
    assert (mac.kind, mac.is_timed) == ("mac", False)
    with pytest.raises(DeviceError, match="MAC-count proxy"):
        mac.torch_device()


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(DeviceError, match=r"unknown device 'tpu'; valid devices: cpu, cuda, cuda:N .*mac"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="unknown device 'cuda:x'"):
        resolve_device("cuda:x")


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="asks for a GPU, but torch sees none"):
        resolve_device("cuda")


def test_cuda_names_resolve_to_an_index_and_the_event_timer(two_fake_gpus):
    spec = resolve_device("cuda")
    assert (spec.kind, spec.name, spec.index) == ("cuda", "cuda:0", 0)
    assert resolve_device("cuda:1").torch_device() == torch.device("cuda", 1)
    timer = timer_for(resolve_device("cuda:1"))
    assert isinstance(timer, CudaTimer) and timer.device == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"only 2 GPU\(s\) visible"):
        resolve_device("cuda:2")


def test_cpu_uses_the_wall_clock_timer_and_mac_has_none():
    assert isinstance(timer_for(resolve_device("cpu")), CpuTimer)
    with pytest.raises(DeviceError, match="not timed"):
        timer_for(resolve_device("mac"))
