"""Export tests run on tiny generators (milliseconds per forward) with two threads and a fixed seed."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_cpu() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
