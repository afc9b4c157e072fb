"""Shared by the interventions tests."""

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Toy-sized tensors: one thread avoids OpenMP contention on a busy machine (10-100x here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
