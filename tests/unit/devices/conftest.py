"""Shared settings for the device tests: two threads (the CI machines have two cores), fixed seed."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_cpu():
    torch.set_num_threads(2)
    torch.manual_seed(0)
