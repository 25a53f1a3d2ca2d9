"""Data not aligned for its dtype (np.frombuffer at an odd byte offset).

Found by tools/sanitize.sh: UBSan reported misaligned double loads in the GEMM
packing for test_matmul.py::test_matmul_unaligned_data (np.ascontiguousarray keeps
such data misaligned). matmul/gemm copy misaligned operands, and compute into an
aligned temporary for a misaligned out/c, as they do for odd strides."""
import numpy as np

import nnmat


def _unaligned(a):
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


def test_matmul_unaligned_operands_and_out(rng):
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((7, 13)).astype(dt)
        b = rng.standard_normal((13, 5)).astype(dt)
        ref = a.astype(np.float64) @ b
        np.testing.assert_allclose(nnmat.matmul(_unaligned(a), _unaligned(b)), ref, rtol=1e-5, atol=1e-5)
        out = _unaligned(np.zeros((7, 5), dt))
        r = nnmat.matmul(a, b, out=out)
        assert r is out
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_gemm_unaligned_c(rng):
    a = rng.standard_normal((6, 11))
    b = rng.standard_normal((11, 9))
    c0 = rng.standard_normal((6, 9))
    c = _unaligned(c0)
    nnmat.gemm(_unaligned(a), b, c, alpha=2.0, beta=0.5)
    np.testing.assert_allclose(c, 2.0 * a @ b + 0.5 * c0, rtol=1e-12, atol=1e-12)


def test_losses_unaligned_input_and_class_targets(rng):
    """UBSan (tools/sanitize.sh): misaligned int64 loads in the multiclass target check."""
    x = rng.standard_normal((9, 5))
    t = rng.integers(0, 5, 9)
    for fn in (nnmat.losses.cross_entropy, nnmat.losses.nll_loss):
        assert fn(_unaligned(x), _unaligned(t)) == fn(x, t)
    y = rng.standard_normal((9, 5))
    assert nnmat.losses.mse_loss(_unaligned(x), _unaligned(y)) == nnmat.losses.mse_loss(x, y)
