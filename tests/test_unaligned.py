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


def test_unaligned_int64_targets_everywhere(rng):
    """Every path that hands int64 class labels to C++ copies misaligned ones."""
    from nnmat import losses as L

    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    yu = _unaligned(y)
    for f in (L.cross_entropy, L.nll_loss):
        assert f(x, yu) == f(x, y)
    emb = rng.standard_normal((6, 3))
    assert L.batch_contrastive_loss(emb, yu) == L.batch_contrastive_loss(emb, y)


def test_unaligned_data_in_nn(rng):
    from nnmat import nn

    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    a = nn.Sequential([nn.Dense(5, 3)], seed=0)
    b = nn.Sequential([nn.Dense(5, 3)], seed=0)
    a.fit(x, y, loss="cross_entropy", epochs=2, seed=0, verbose=0)
    b.fit(_unaligned(x), _unaligned(y), loss="cross_entropy", epochs=2, seed=0, verbose=0)
    np.testing.assert_array_equal(a.flat_parameters, b.flat_parameters)
    np.testing.assert_array_equal(a.predict(x), b.predict(_unaligned(x)))
    d = nn.Dense(5, 2, "tanh", seed=1)
    out = d.forward(_unaligned(x))
    np.testing.assert_array_equal(out, d.forward(x))
    np.testing.assert_array_equal(d.backward(_unaligned(np.ones_like(out))), d.backward(np.ones_like(out)))
