"""Arrays whose data is not aligned for their dtype (found by tools/sanitize.sh:
UBSan reported misaligned double loads in the GEMM packing on such an input).

numpy lets them exist (np.frombuffer at an odd byte offset) and np.ascontiguousarray
keeps them as they are; the kernels must never dereference them. They are refused
with a ValueError that says why; an aligned copy works."""
import numpy as np
import pytest

import nnmat


def _misaligned(a):
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = np.frombuffer(buf.data, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_misaligned(rng, dtype):
    a = rng.standard_normal((7, 13)).astype(dtype)
    b = rng.standard_normal((13, 5)).astype(dtype)
    with pytest.raises(ValueError, match="not aligned"):
        nnmat.matmul(_misaligned(a), b)
    with pytest.raises(ValueError, match="not aligned"):
        nnmat.matmul(a, _misaligned(b))
    np.testing.assert_allclose(nnmat.matmul(np.array(_misaligned(a), copy=True), b), a @ b,
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_misaligned(rng, dtype):
    x = rng.standard_normal(37).astype(dtype)
    with pytest.raises(ValueError, match="not aligned"):
        nnmat.activations.relu(_misaligned(x))
    np.testing.assert_array_equal(nnmat.activations.relu(np.array(_misaligned(x), copy=True)),
                                  np.maximum(x, 0))
