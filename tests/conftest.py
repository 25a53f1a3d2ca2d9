"""Shared fixtures for the nnmat test suite.

* ``rng``: a seeded numpy Generator (each test gets a fresh one, so tests are
  reproducible and independent of their order).
* ``isa``: parametrized over every instruction set this machine can run; the
  kernels are switched to it for the duration of the test and the previous
  choice is restored afterwards. Kernel-correctness tests use it so one run
  of the suite covers the generic, avx2 and avx512 paths.
"""
import os
import sys

import numpy as np
import pytest

import nnmat

# Test modules import their small shared helpers with `from _helpers import ...`;
# make that work under every pytest import mode.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

ISAS = list(nnmat.config()["isa_available"])


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(params=ISAS)
def isa(request):
    previous = nnmat._core.get_isa()
    nnmat._core.set_isa(request.param)
    try:
        assert nnmat._core.get_isa() == request.param
        yield request.param
    finally:
        nnmat._core.set_isa(previous)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Guard against a test leaking an ISA or a process-wide thread count."""
    isa_before = nnmat._core.get_isa()
    override_before = nnmat._core.get_thread_override()
    yield
    nnmat._core.set_isa(isa_before)
    nnmat._core.set_thread_override(override_before)
