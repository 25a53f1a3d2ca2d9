"""Element-wise activations (nnmat.activations): spec values, a plain-numpy reference,
finite differences, PyTorch (when installed), kinks, NaN, out=/inplace, bad input,
on every ISA the machine supports."""
import math

import numpy as np
import pytest

import nnmat
from nnmat import activations as A

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sig(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def _softplus(x, beta=1.0, threshold=20.0):
    bx = beta * x
    return np.where(bx > threshold, x, (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta)


# name -> (kwargs, f(x), f'(x)) written plainly in float64 from the formulas of spec section 8.
def _gelu_tanh(x):
    # 0.5 x (1 + tanh u) written as x sigmoid(2u): the same function without the
    # cancellation of 1 + tanh u for x << 0 (torch's form rounds to 0 there).
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    return x * _sig(2 * u)


def _gelu_tanh_d(x):
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    s = _sig(2 * u)
    return s + 2 * x * s * (1 - s) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x)


REF = {
    "sigmoid": ({}, _sig, lambda x: _sig(x) * (1 - _sig(x))),
    "tanh": ({}, np.tanh, lambda x: 1 / np.cosh(np.clip(x, -350, 350)) ** 2),
    "relu": ({}, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "leaky_relu": ({"negative_slope": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x),
                   lambda x: np.where(x > 0, 1.0, 0.2)),
    "elu": ({"alpha": 1.5}, lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, 1.5 * np.exp(np.minimum(x, 0)))),
    "selu": ({}, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
             lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0)))),
    # Phi(x) = erfc(-x / sqrt 2) / 2 (no cancellation for x << 0)
    "gelu": ({}, lambda x: 0.5 * x * _erfc(-x / np.sqrt(2)),
             lambda x: 0.5 * _erfc(-x / np.sqrt(2)) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "gelu_tanh": ({"approximate": "tanh"}, _gelu_tanh, _gelu_tanh_d),
    "silu": ({}, lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "softplus": ({"beta": 2.0, "threshold": 5.0}, lambda x: _softplus(x, 2.0, 5.0),
                 lambda x: np.where(2 * x > 5.0, 1.0, _sig(2 * x))),
    "mish": ({}, lambda x: x * np.tanh(_softplus(x)),
             lambda x: np.tanh(_softplus(x)) + x * _sig(x) * (1 - np.tanh(_softplus(x)) ** 2)),
    "hardtanh": ({"min_val": -0.5, "max_val": 2.0}, lambda x: np.clip(x, -0.5, 2.0),
                 lambda x: ((x > -0.5) & (x < 2.0)).astype(float)),
    "hardsigmoid": ({}, lambda x: np.clip(x + 3, 0, 6) / 6, lambda x: ((x > -3) & (x < 3)) / 6.0),
    "hardswish": ({}, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))),
}
NAMES = sorted(REF)


def _fn(name):
    return A.gelu if name == "gelu_tanh" else getattr(A, name)


def _rtol(dt):
    return 2e-6 if np.dtype(dt) == np.float32 else 1e-13


# ---------------------------------------------------------------- spec section 8

SPEC_X = np.array([-3, -1, 0, 0.5, 3, 25], dtype=np.float64)
SPEC = {
    "sigmoid": ({}, [0.0474259, 0.268941, 0.5, 0.622459, 0.952574, 1],
                [0.0451767, 0.196612, 0.25, 0.235004, 0.0451767, 1.3888e-11]),
    "tanh": ({}, [-0.995055, -0.761594, 0, 0.462117, 0.995055, 1],
             [0.00986604, 0.419974, 1, 0.786448, 0.00986604, 0]),
    "relu": ({}, [0, 0, 0, 0.5, 3, 25], [0, 0, 0, 1, 1, 1]),
    "leaky_relu": ({}, [-0.03, -0.01, 0, 0.5, 3, 25], [0.01, 0.01, 0.01, 1, 1, 1]),
    "elu": ({}, [-0.950213, -0.632121, 0, 0.5, 3, 25], [0.0497871, 0.367879, 1, 1, 1, 1]),
    "selu": ({}, [-1.67057, -1.11133, 0, 0.52535, 3.1521, 26.2675],
             [0.0875306, 0.646769, 1.7581, 1.0507, 1.0507, 1.0507]),
    "gelu": ({}, [-0.00404969, -0.158655, 0, 0.345731, 2.99595, 25],
             [-0.0119456, -0.0833155, 0.5, 0.867495, 1.01195, 1]),
    "gelu_tanh": ({"approximate": "tanh"}, [-0.00363739, -0.158808, 0, 0.345714, 2.99636, 25],
                  [-0.0115842, -0.0829641, 0.5, 0.86737, 1.01158, 1]),
    "silu": ({}, [-0.142278, -0.268941, 0, 0.31123, 2.85772, 25],
             [-0.0881041, 0.0723295, 0.5, 0.739961, 1.0881, 1]),
    "softplus": ({}, [0.0485874, 0.313262, 0.693147, 0.974077, 3.04859, 25],
                 [0.0474259, 0.268941, 0.5, 0.622459, 0.952574, 1]),
    "softplus_b2": ({"beta": 2}, [0.00123784, 0.063464, 0.346574, 0.656631, 3.00124, 25],
                    [0.00247262, 0.119203, 0.5, 0.731059, 0.997527, 1]),
    "mish": ({}, [-0.145647, -0.303401, 0, 0.375245, 2.98654, 25],
             [-0.0933931, 0.0592168, 0.6, 0.886424, 1.02111, 1]),
    "hardtanh": ({}, [-1, -1, 0, 0.5, 1, 1], [0, 0, 1, 1, 0, 0]),
    "hardsigmoid": ({}, [0, 0.333333, 0.5, 0.583333, 1, 1], [0, 0.166667, 0.166667, 0.166667, 0, 0]),
    "hardswish": ({}, [0, -0.333333, 0, 0.291667, 3, 25], [0, 0.166667, 0.5, 0.666667, 1, 1]),
}


@pytest.mark.parametrize("case", sorted(SPEC))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spec_values(isa, case, dtype):
    kw, f, d = SPEC[case]
    fn = _fn(case.split("_b2")[0])
    x = SPEC_X.astype(dtype)
    y = fn(x, **kw)
    g = fn.backward(x, np.ones_like(x), **kw)
    assert y.dtype == dtype and g.dtype == dtype
    tol = dict(rtol=5e-6, atol=1e-6) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(y, f, **tol)
    np.testing.assert_allclose(g, d, **tol)


def test_elu_alpha_2_kinks(isa):
    g = A.elu.backward(np.array([0.0, -1.0]), np.ones(2), alpha=2.0)
    np.testing.assert_allclose(g, [2.0, 0.735759], rtol=1e-6)


@pytest.mark.parametrize("name,x,expected", [
    ("relu", 0.0, 0.0), ("leaky_relu", 0.0, 0.01), ("elu", 0.0, 1.0), ("selu", 0.0, SELU_SCALE * SELU_ALPHA),
    ("hardtanh", -1.0, 0.0), ("hardtanh", 1.0, 0.0), ("hardsigmoid", -3.0, 0.0), ("hardsigmoid", 3.0, 0.0),
    ("hardswish", -3.0, 0.0), ("hardswish", 3.0, 1.0), ("mish", 0.0, 0.6),
])
def test_derivative_at_kinks_follows_torch(isa, name, x, expected):
    for dt in (np.float32, np.float64):
        g = getattr(A, name).backward(np.array([x], dt), np.ones(1, dt))
        np.testing.assert_allclose(g, [expected], rtol=1e-6)


def test_softplus_threshold_is_strict(isa):
    # beta * x == threshold uses the smooth branch (torch: strict >)
    x = np.array([20.0, 20.000001])
    y = A.softplus(x)
    assert y[0] == pytest.approx(np.log1p(np.exp(20.0)), rel=1e-15)
    assert y[1] == x[1]


# ------------------------------------------------------- random inputs vs numpy

SHAPES = [(0,), (1,), (7,), (33,), (1000,), (3, 5, 7), (2, 0, 3)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_numpy_reference(isa, rng, name, dtype):
    kw, f, d = REF[name]
    fn = _fn(name)
    for shape in SHAPES:
        x64 = rng.standard_normal(shape) * 4
        x = x64.astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        xr = x.astype(np.float64)
        y = fn(x, **kw)
        dx = fn.backward(x, g, **kw)
        assert y.shape == shape and dx.shape == shape
        assert y.dtype == dtype and dx.dtype == dtype
        rt = _rtol(dtype)
        at = 4 * np.finfo(dtype).eps
        np.testing.assert_allclose(y, f(xr), rtol=rt * 4, atol=at, err_msg=f"{name} forward {shape}")
        np.testing.assert_allclose(dx, d(xr) * g.astype(np.float64), rtol=rt * 8, atol=at * 4,
                                   err_msg=f"{name} backward {shape}")


@pytest.mark.parametrize("name", NAMES)
def test_wide_range_and_extremes(isa, name):
    kw, f, d = REF[name]
    fn = _fn(name)
    x = np.concatenate([np.linspace(-60, 60, 2001), [-1e30, -1e5, -745.0, 745.0, 1e5, 1e30, -0.0, 1e-300, -1e-300]])
    with np.errstate(all="ignore"):
        ref = f(x)
        dref = d(x)
    y = fn(x, **kw)
    dx = fn.backward(x, np.ones_like(x), **kw)
    # Where f decays like exp(-x^2/2) its condition number grows like x^2: a
    # rounding of x itself (x / sqrt 2 vs x * (1 / sqrt 2)) moves the result that much.
    cond = 1 + np.minimum(x * x, 1e4) if name.startswith("gelu") else 1.0
    for got, want, what in ((y, ref, "forward"), (dx, dref, "backward")):
        same_special = (np.isnan(got) == np.isnan(want)) & (np.isinf(got) == np.isinf(want))
        assert same_special.all(), what
        fin = np.isfinite(want)
        err = np.abs(got[fin] - want[fin])
        bound = 1e-13 * np.abs(want[fin]) * (cond[fin] if np.ndim(cond) else cond) + 1e-300
        if what == "backward":  # 1 - t^2 style derivatives (torch's form) carry an absolute eps
            bound += 2e-15
        assert (err <= bound).all(), (what, x[fin][err > bound][:5], got[fin][err > bound][:5])
    x32 = x.astype(np.float32)
    with np.errstate(all="ignore"):
        ref32 = f(x32.astype(np.float64))
    y32 = fn(x32, **kw)
    assert np.all(np.isfinite(y32) == np.isfinite(ref32.astype(np.float32)))
    c32 = (1 + np.minimum(x32.astype(np.float64) ** 2, 1e4)) if name.startswith("gelu") else 1.0
    err = np.abs(y32 - ref32)
    bound = (4e-6 + 2e-7 * c32) * np.abs(ref32) + 1e-37
    assert (err[np.isfinite(ref32)] <= bound[np.isfinite(ref32)]).all()


@pytest.mark.parametrize("name", NAMES)
def test_finite_difference_gradient(isa, rng, name):
    kw, _, _ = REF[name]
    fn = _fn(name)
    x = rng.standard_normal(200) * 3
    # keep away from the kinks, where the derivative jumps
    kinks = np.array([0.0, -3.0, 3.0, -0.5, 2.0, 2.5])
    x = x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-3]
    g = rng.standard_normal(x.shape)
    h = 1e-6
    fd = (fn(x + h, **kw) - fn(x - h, **kw)) / (2 * h) * g
    np.testing.assert_allclose(fn.backward(x, g, **kw), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch(isa, rng, name, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kw, _, _ = REF[name]
    tfn = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu_tanh": F.gelu}.get(name) or getattr(F, name)
    x = (rng.standard_normal(4099) * 5).astype(dtype)
    x[:6] = [0.0, -3.0, 3.0, -1.0, 1.0, 20.0]
    g = rng.standard_normal(x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = tfn(xt, **kw)
    yt.backward(torch.tensor(g))
    y = _fn(name)(x, **kw)
    dx = _fn(name).backward(x, g, **kw)
    tol = dict(rtol=1e-5, atol=2e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    if name == "hardsigmoid" and dtype == "float64":
        tol = dict(rtol=1e-7)  # torch's backward uses 1/6 rounded to float32 even for float64
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)


# --------------------------------------------------------------- NaN and layout

@pytest.mark.parametrize("name", NAMES)
def test_nan_propagates(isa, name):
    kw, _, _ = REF[name]
    for dt in (np.float32, np.float64):
        x = np.array([np.nan, 1.0, np.nan, -2.0] * 9, dt)
        y = _fn(name)(x, **kw)
        assert np.isnan(y[::2]).all() and not np.isnan(y[1::2]).any()


@pytest.mark.parametrize("layout", ["F", "T", "strided", "negative"])
def test_non_contiguous_inputs(isa, rng, layout):
    base = rng.standard_normal((37, 41))
    x = {"F": np.asfortranarray(base), "T": base.T, "strided": base[::2, ::3], "negative": base[::-1, ::-2]}[layout]
    g = np.ascontiguousarray(rng.standard_normal(x.shape))
    for name in ("gelu", "relu", "mish"):
        fn = getattr(A, name)
        np.testing.assert_array_equal(fn(x), fn(np.ascontiguousarray(x)))
        np.testing.assert_array_equal(fn.backward(x, g[::1]), fn.backward(np.ascontiguousarray(x), g))


def test_input_is_not_modified_and_ints_promote(rng):
    x = rng.standard_normal(100)
    keep = x.copy()
    A.silu(x)
    A.silu.backward(x, x)
    np.testing.assert_array_equal(x, keep)
    y = A.relu(np.array([-2, 0, 3]))
    assert y.dtype == np.float64 and list(y) == [0, 0, 3]
    assert A.sigmoid(np.float32(0.0)).dtype == np.float32
    assert A.sigmoid(0.0).shape == ()


def test_out_and_inplace(rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    out = np.empty_like(x)
    r = A.tanh(x, out=out)
    assert r is out
    np.testing.assert_array_equal(out, A.tanh(x))
    y = x.copy()
    r = A.relu(y, inplace=True)
    assert r is y
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    z = x.copy()
    A.gelu(z, out=z)  # in place through out=
    np.testing.assert_array_equal(z, A.gelu(x))
    # out that overlaps the input without being it: computed through a temporary
    w = rng.standard_normal(20)
    expect = A.sigmoid(w[:10])
    A.sigmoid(w[:10], out=w[5:15])
    np.testing.assert_array_equal(w[5:15], expect)
    # non-contiguous out
    o = np.empty((6, 5), np.float32).T
    A.silu(x, out=o)
    np.testing.assert_array_equal(o, A.silu(x))


def test_bad_out(rng):
    x = rng.standard_normal(4)
    with pytest.raises(ValueError, match="shape"):
        A.relu(x, out=np.empty(5))
    with pytest.raises(TypeError, match="dtype"):
        A.relu(x, out=np.empty(4, np.float32))
    ro = np.empty(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        A.relu(x, out=ro)
    with pytest.raises(TypeError):
        A.relu(x, out=[0.0] * 4)
    with pytest.raises(TypeError, match="inplace"):
        A.relu([1.0, 2.0], inplace=True)


def test_bad_parameters():
    x = np.ones(3)
    with pytest.raises(ValueError, match="beta"):
        A.softplus(x, beta=0.0)
    with pytest.raises(ValueError, match="min_val"):
        A.hardtanh(x, min_val=2.0, max_val=1.0)
    with pytest.raises(ValueError, match="approximate"):
        A.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match="unexpected keyword"):
        A.relu(x, slope=2)
    with pytest.raises(TypeError, match="real number"):
        A.leaky_relu(x, negative_slope="0.1")
    with pytest.raises(TypeError):
        A.relu(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        A.relu(np.ones(3, complex))
    with pytest.raises(ValueError, match="grad_output"):
        A.relu.backward(x, np.ones(4))


def test_thread_count_does_not_change_results(rng):
    x = rng.standard_normal(300_001).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    for name in ("gelu", "relu", "sigmoid"):
        fn = getattr(A, name)
        with nnmat.threads(1):
            a, da = fn(x), fn.backward(x, g)
        with nnmat.threads(2):
            b, db = fn(x), fn.backward(x, g)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(da, db)


def test_signatures_follow_torch():
    import inspect
    assert str(inspect.signature(A.leaky_relu)) == "(x, negative_slope=0.01, *, inplace=False, out=None)"
    assert str(inspect.signature(A.softplus)) == "(x, beta=1.0, threshold=20.0, *, out=None)"
    assert str(inspect.signature(A.gelu)) == "(x, approximate='none', *, out=None)"
    assert A.relu.__doc__ and A.gelu.__doc__


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_from_output(isa, rng, name, dtype):
    fn = getattr(A, name)
    x = (rng.standard_normal(1001) * 3).astype(dtype)
    g = rng.standard_normal(1001).astype(dtype)
    y = fn(x)
    dy = fn.backward(x, g, output=y)
    y64 = y.astype(np.float64)
    ref = g * (y64 * (1 - y64) if name == "sigmoid" else 1 - y64 * y64)
    # 1 - y^2 and y (1 - y) carry an absolute rounding error of a few eps (times |g|)
    assert np.all(np.abs(dy - ref) <= 4 * np.finfo(dtype).eps * (np.abs(g) + np.abs(ref)))
    # backward(x) avoids that cancellation (it is computed from x), so the two differ by it
    np.testing.assert_allclose(dy, fn.backward(x, g), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * np.finfo(dtype).eps * np.abs(g).max())
    with pytest.raises(ValueError, match="output"):
        fn.backward(x, g, output=y[:-1])
    with pytest.raises(TypeError):
        A.relu.backward(x, g, output=y)
