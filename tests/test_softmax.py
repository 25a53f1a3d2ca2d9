"""softmax / log_softmax / sparsemax: spec section 8 and 3.4 values, numpy references,
finite differences, torch (optional), every axis, every ISA, odd shapes and bad input."""
import numpy as np
import pytest

import nnmat
from nnmat.activations import log_softmax, softmax, sparsemax

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------- references
def np_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_sparsemax_row(z):
    """Sort-based sparsemax of one row (Martins & Astudillo), strict '>' as tfa."""
    z = np.asarray(z, dtype=np.float64)
    zs = np.sort(z)[::-1]
    cs = np.cumsum(zs)
    k = np.arange(1, z.size + 1)
    kz = int(np.sum(1 + k * zs > cs))
    tau = (cs[kz - 1] - 1) / kz
    return np.maximum(z - tau, 0)


def np_sparsemax(x, axis=-1):
    return np.apply_along_axis(np_sparsemax_row, axis, np.asarray(x, dtype=np.float64))


def np_sparsemax_vjp(x, g, axis=-1):
    p = np_sparsemax(x, axis)
    s = (p > 0).astype(np.float64)
    mean = (g * s).sum(axis=axis, keepdims=True) / s.sum(axis=axis, keepdims=True)
    return s * (g - mean)


def rtol(dt):
    return 2e-5 if dt == np.float32 else 1e-12


# -------------------------------------------------------------- spec values
def test_spec_section8_values(isa):
    x = [1.0, 2.0, 3.0]
    g = [0.5, -1.0, 2.0]
    np.testing.assert_allclose(softmax(x), [0.0900306, 0.244728, 0.665241], rtol=5e-6)
    np.testing.assert_allclose(softmax.backward(x, g), [-0.0567885, -0.52146, 0.578248], rtol=5e-6)
    np.testing.assert_allclose(log_softmax(x), [-2.40761, -1.40761, -0.407606], rtol=5e-6)
    np.testing.assert_allclose(log_softmax.backward(x, g), [0.364954, -1.36709, 1.00214], rtol=5e-6)


def test_spec_sparsemax_values(isa):
    z = np.array([[1.0, 0.8, 0.1, -0.5], [0.2, 0.2, 0.2, 0.2], [-1.0, 0.0, 1.0, 0.0]])
    np.testing.assert_allclose(sparsemax(z), [[0.6, 0.4, 0, 0], [0.25] * 4, [0, 0, 1, 0]], atol=1e-12)
    g = np.array([[0.3, -0.2, 0.5, 1.0], [1.0, 0, 0, 0], [0.3, 0.1, -0.7, 2.0]])
    np.testing.assert_allclose(sparsemax.backward(z, g), [[0.25, -0.25, 0, 0], [0.75, -0.25, -0.25, -0.25],
                                                          [0, 0, 0, 0]], atol=1e-12)
    # tfa's -inf examples
    np.testing.assert_allclose(sparsemax([0.0, -np.inf, 0.0]), [0.5, 0, 0.5])
    np.testing.assert_allclose(sparsemax([0.0, -np.inf, -np.inf]), [1, 0, 0])


# ---------------------------------------------------------- numpy reference
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape,axis", [((7, 13), -1), ((7, 13), 0), ((3, 5, 37), 1), ((2, 3, 4, 5), 2),
                                        ((4, 40, 19), -2), ((1,), 0), ((5, 1), 1), ((3, 33), -1),
                                        ((2, 1000), -1)])
def test_softmax_family_vs_numpy(isa, rng, dt, shape, axis):
    x = (rng.standard_normal(shape) * 3).astype(dt)
    g = rng.standard_normal(shape).astype(dt)
    y = softmax(x, axis=axis)
    assert y.dtype == dt and y.shape == x.shape
    np.testing.assert_allclose(y, np_softmax(x, axis), rtol=rtol(dt), atol=1e-7 if dt == np.float32 else 1e-15)
    ls = log_softmax(x, axis=axis)
    np.testing.assert_allclose(ls, np_log_softmax(x, axis), rtol=rtol(dt), atol=2e-6 if dt == np.float32 else 1e-13)
    s = np_softmax(x, axis)
    g64 = g.astype(np.float64)
    ref = s * (g64 - (g64 * s).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(softmax.backward(x, g, axis=axis), ref, rtol=1e-4 if dt == np.float32 else 1e-11,
                               atol=1e-6 if dt == np.float32 else 1e-14)
    ref = g64 - s * g64.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(log_softmax.backward(x, g, axis=axis), ref,
                               rtol=1e-4 if dt == np.float32 else 1e-11, atol=1e-5 if dt == np.float32 else 1e-13)
    p = sparsemax(x, axis=axis)
    np.testing.assert_allclose(p, np_sparsemax(x, axis), atol=1e-5 if dt == np.float32 else 1e-12)
    np.testing.assert_allclose(sparsemax.backward(x, g, axis=axis), np_sparsemax_vjp(x, g64, axis),
                               atol=1e-5 if dt == np.float32 else 1e-12)


def test_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    g = rng.standard_normal((3, 4, 5))
    h = 1e-6
    for f, axis in [(softmax, 1), (log_softmax, -1), (sparsemax, 1), (softmax, 0)]:
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[i] = h
            num[i] = ((f(x + d, axis=axis) - f(x - d, axis=axis)) * g).sum() / (2 * h)
        np.testing.assert_allclose(f.backward(x, g, axis=axis), num, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("dt", DTYPES)
def test_vs_torch(isa, rng, axis, dt):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal((4, 6, 9)) * 2).astype(dt)
    g = rng.standard_normal((4, 6, 9)).astype(dt)
    for ours, theirs in [(softmax, torch.softmax), (log_softmax, torch.log_softmax)]:
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = theirs(xt, axis)
        yt.backward(torch.from_numpy(g))
        tol = dict(rtol=1e-5, atol=1e-6) if dt == np.float32 else dict(rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours(x, axis=axis), yt.detach().numpy(), **tol)
        np.testing.assert_allclose(ours.backward(x, g, axis=axis), xt.grad.numpy(),
                                   **(dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else tol))


# ----------------------------------------------------- edge cases, protocol
def test_nan_and_inf_rows(isa):
    x = np.array([[1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0], [1.0, np.inf, 0.0]])
    y = softmax(x)
    assert np.isnan(y[0]).all() and np.isnan(y[1]).all() and np.isnan(y[3]).all()
    np.testing.assert_allclose(y[2], np_softmax([0.0, -np.inf, 1.0]))
    ls = log_softmax(x)
    assert np.isnan(ls[0]).all()
    assert ls[2, 1] == -np.inf
    p = sparsemax(x)
    assert np.isnan(p[0]).all() and np.isnan(p[1]).all() and np.isnan(p[3]).all()
    np.testing.assert_allclose(p[2], [0, 0, 1])


def test_empty_and_scalar(isa):
    for f in (softmax, log_softmax, sparsemax):
        assert f(np.zeros((0, 5))).shape == (0, 5)
        assert f(np.zeros((3, 0))).shape == (3, 0)
        assert f.backward(np.zeros((0, 5)), np.zeros((0, 5))).shape == (0, 5)
    assert softmax(np.float64(3.0)) == 1.0
    assert log_softmax(2.0) == 0.0


def test_non_contiguous_ints_and_out(isa, rng):
    x = rng.standard_normal((6, 10))
    xv = x[::2, ::3]
    np.testing.assert_allclose(softmax(xv), np_softmax(np.ascontiguousarray(xv)), rtol=1e-12)
    np.testing.assert_allclose(softmax(xv.T, axis=0), np_softmax(xv.T, axis=0), rtol=1e-12)
    xi = np.array([[1, 2, 3]])
    assert softmax(xi).dtype == np.float64
    assert softmax(xi.astype(np.float32)).dtype == np.float32
    # out=, in place, non-contiguous out
    x2 = x.copy()
    r = softmax(x2, out=x2)
    assert r is x2
    np.testing.assert_allclose(x2, np_softmax(x), rtol=1e-12)
    out = np.empty((10, 6)).T
    assert log_softmax(x, out=out) is out
    np.testing.assert_allclose(out, np_log_softmax(x), rtol=1e-12)
    x3 = x.copy()
    sparsemax(x3)
    np.testing.assert_array_equal(x3, x)   # input untouched


def test_bad_input():
    with pytest.raises(np.exceptions.AxisError):
        softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError):
        softmax(np.zeros((2, 3)), axis=1.0)
    with pytest.raises(ValueError):
        softmax.backward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError):
        softmax(np.array(["a"]))
    with pytest.raises(ValueError):
        softmax(np.zeros((2, 3)), out=np.zeros((3, 2)))
    with pytest.raises(TypeError):
        softmax(np.zeros((2, 3)), out=np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError):
        softmax(np.zeros((2, 3)), out=[[0, 0, 0]])


def test_thread_invariance(rng):
    x = rng.standard_normal((512, 300)).astype(np.float32)
    g = rng.standard_normal((512, 300)).astype(np.float32)
    for f in (softmax, log_softmax, sparsemax):
        with nnmat.threads(1):
            a, ga = f(x), f.backward(x, g)
            b1 = f(x.reshape(8, 64, 300), axis=1)
        with nnmat.threads(2):
            b, gb = f(x), f.backward(x, g)
            b2 = f(x.reshape(8, 64, 300), axis=1)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ga, gb)
        np.testing.assert_array_equal(b1, b2)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((7, 33), -1), ((5, 6, 7), 1), ((4, 3), 0), ((1, 1), -1), ((0, 4), -1),
                                        ((3, 1000), -1), ((9,), 0)])
def test_backward_from_output_matches_backward_from_x(isa, rng, name, dtype, shape, axis):
    from nnmat import activations as A
    fn = getattr(A, name)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y = fn(x, axis=axis)
    d_out = fn.backward(x, g, axis=axis, output=y)
    d_x = fn.backward(x, g, axis=axis)
    assert d_out.shape == shape and d_out.dtype == dtype
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(d_out, d_x, rtol=tol * 10, atol=tol)
    # independent reference in float64
    x64 = x.astype(np.float64)
    s = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    s /= s.sum(axis=axis, keepdims=True)
    g64 = g.astype(np.float64)
    ref = s * (g64 - (g64 * s).sum(axis=axis, keepdims=True)) if name == "softmax" else \
        g64 - s * g64.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(d_out, ref, rtol=tol * 50, atol=tol * 10)


def test_backward_from_output_bad_shape_and_threads(rng):
    from nnmat import activations as A
    import nnmat
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    y = A.softmax(x)
    with pytest.raises(ValueError, match="output"):
        A.softmax.backward(x, g, output=y[:-1])
    with nnmat.threads(1):
        a = A.softmax.backward(x, g, output=y)
    with nnmat.threads(2):
        b = A.softmax.backward(x, g, output=y)
    np.testing.assert_array_equal(a, b)
