"""Shared pytest fixtures."""

import pytest


@pytest.fixture(scope="module")
def single_torch_thread():
    """Run a module's tests with one torch thread.

    The models in the tests are tiny: with 2 threads on a busy 2-core machine, thread hand-off
    dominates (over 10x slower than one thread).
    """
    import torch  # here, not at the top: the habitat-sim venv (make test-habitat) has no torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
