"""Model tests run on one thread: their tensors are tiny, and with two OpenMP threads on
cores shared with other jobs each op can wait on a descheduled thread (measured 20-50x
slower under load)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
