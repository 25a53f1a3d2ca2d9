"""Accuracy and special values of the vectorised elementary functions
(cpp/simd/vmath.h) through nnmat._core.vmath_eval, on every ISA.

float32: a dense sweep of the whole float32 line (every 2861st bit pattern,
about 1.5e6 values, subnormals and huge values included) plus dense windows
(gradual underflow of exp, tiny arguments), compared with a float64 reference
(numpy / math, < 1 ulp of float64). float64: ~4e5 random bit patterns and
moderate/tiny values against an np.longdouble reference (x87 80-bit, 11 more
bits than float64); erf/erfc in float64 against mpmath on a few thousand
points. Errors are in ulps of the correctly rounded result (subnormal ulp =
the smallest subnormal). The bounds asserted are the measured maxima (VMATH.md)
rounded up a little.
"""
import functools
import math

import numpy as np
import pytest

import nnmat
from nnmat import _core

FUNCS = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "erf", "erfc"]

# Max ulp asserted (measured max in VMATH.md, plus a margin for unsampled points).
BOUND = {
    "float32": {"exp": 1.5, "expm1": 2.0, "log": 1.5, "log1p": 2.0, "tanh": 3.5, "sigmoid": 3.0,
                "erf": 3.0, "erfc": 4.0},
    "float64": {"exp": 1.5, "expm1": 2.5, "log": 1.5, "log1p": 2.0, "tanh": 3.5, "sigmoid": 3.0,
                "erf": 2.5, "erfc": 5.5},
}

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _ref(name, x):
    """Reference in the precision of x (float64 or longdouble)."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-x))
        if name == "erf":
            return _erf(x)
        if name == "erfc":
            return _erfc(x)
        return getattr(np, name)(x)


@functools.lru_cache(maxsize=None)
def _f32_inputs():
    bits = np.arange(0, 2**32, 2861, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    rng = np.random.default_rng(7)
    extra = [
        np.linspace(-104.5, -86.0, 20000),            # exp: gradual underflow
        np.linspace(85.0, 89.0, 5000),                # exp: overflow edge
        rng.uniform(-1, 1, 20000) * 10.0 ** rng.uniform(-30, 0, 20000),   # tiny arguments
        rng.uniform(-12, 12, 40000),                  # the busy range of activations
        np.linspace(-1.0, -0.99, 2000),               # log1p near -1
    ]
    return np.concatenate([x] + [e.astype(np.float32) for e in extra])


@functools.lru_cache(maxsize=None)
def _f32_ref(name):
    return _ref(name, _f32_inputs().astype(np.float64))


@functools.lru_cache(maxsize=None)
def _f64_inputs():
    rng = np.random.default_rng(11)
    n = 200000
    b = rng.integers(0, 2**63, n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    x = b.view(np.float64)
    x = x[np.isfinite(x)]
    return np.concatenate([
        x, rng.uniform(-40, 40, 100000), rng.uniform(-1, 1, 50000) * 10.0 ** rng.uniform(-300, 0, 50000),
        np.linspace(-745.2, -700, 5000), np.linspace(700, 710, 2000)])


@functools.lru_cache(maxsize=None)
def _f64_ref(name):
    return _ref(name, _f64_inputs().astype(np.longdouble))


def ulp_error(y, ref, dtype):
    """|y - ref| in ulps of the correctly rounded result; overflowing references
    must give the infinity of their sign (error 0, else inf). NaN refs must give NaN."""
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        rr = ref.astype(dtype)
        err = np.zeros(y.shape, dtype=np.float64)
        nan = np.isnan(rr)
        err[nan & ~np.isnan(y)] = np.inf
        inf = np.isinf(rr)
        err[inf & (y != rr)] = np.inf
        fin = ~nan & ~inf
        tiny = np.finfo(dtype).smallest_subnormal
        sp = np.maximum(np.spacing(np.abs(rr[fin])), tiny).astype(ref.dtype)
        err[fin] = (np.abs(y[fin].astype(ref.dtype) - ref[fin]) / sp).astype(np.float64)
        err[fin & np.isnan(y)] = np.inf
    return err


def _report(name, dtype, isa, x, err):
    i = int(np.argmax(err))
    print(f"vmath {name} {dtype} {isa}: max {err[i]:.3f} ulp at x={x[i]!r}")
    return err[i]


@pytest.mark.parametrize("name", [f for f in FUNCS if f not in ("erf", "erfc")] + ["erf", "erfc"])
def test_accuracy_float32(isa, name):
    x = _f32_inputs()
    y = _core.vmath_eval(name, x)
    assert y.dtype == np.float32 and y.shape == x.shape
    err = ulp_error(y, _f32_ref(name), np.float32)
    worst = _report(name, "float32", isa, x, err)
    assert worst <= BOUND["float32"][name]


@pytest.mark.parametrize("name", ["exp", "expm1", "log", "log1p", "tanh", "sigmoid"])
def test_accuracy_float64(isa, name):
    x = _f64_inputs()
    y = _core.vmath_eval(name, x)
    assert y.dtype == np.float64
    err = ulp_error(y, _f64_ref(name), np.float64)
    worst = _report(name, "float64", isa, x, err)
    assert worst <= BOUND["float64"][name]


inf, nan = math.inf, math.nan
SPECIAL = {
    "exp": [(nan, nan), (inf, inf), (-inf, 0.0), (0.0, 1.0), (-0.0, 1.0), (1000.0, inf), (-1000.0, 0.0)],
    "expm1": [(nan, nan), (inf, inf), (-inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (1000.0, inf), (-1000.0, -1.0)],
    "log": [(nan, nan), (inf, inf), (-inf, nan), (0.0, -inf), (-0.0, -inf), (-1.0, nan), (1.0, 0.0)],
    "log1p": [(nan, nan), (inf, inf), (-inf, nan), (-1.0, -inf), (-2.0, nan), (0.0, 0.0), (-0.0, -0.0)],
    "tanh": [(nan, nan), (inf, 1.0), (-inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (50.0, 1.0), (-50.0, -1.0)],
    "sigmoid": [(nan, nan), (inf, 1.0), (-inf, 0.0), (0.0, 0.5), (-0.0, 0.5), (200.0, 1.0), (-1000.0, 0.0)],
    "erf": [(nan, nan), (inf, 1.0), (-inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (30.0, 1.0), (-30.0, -1.0)],
    "erfc": [(nan, nan), (inf, 0.0), (-inf, 2.0), (0.0, 1.0), (-0.0, 1.0), (30.0, 0.0), (-30.0, 2.0)],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCS)
def test_special_values(isa, name, dtype):
    xs, want = zip(*SPECIAL[name])
    # each value in every lane position (and a tail shorter than a vector)
    for shift in range(0, 17, 5):
        x = np.roll(np.array(xs * 3, dtype=dtype), shift)
        w = np.roll(np.array(want * 3, dtype=dtype), shift)
        y = _core.vmath_eval(name, x)
        assert np.array_equal(y, w, equal_nan=True), (name, x, y, w)
        assert np.array_equal(np.signbit(y[~np.isnan(w)]), np.signbit(w[~np.isnan(w)])), (name, x, y)


def test_subnormal_results_and_inputs(isa):
    # exp(-100) in float32 is subnormal and must not be flushed to zero
    y = _core.vmath_eval("exp", np.array([-100.0, -103.0, -87.5, -745.0], dtype=np.float32))
    assert np.array_equal(y[:3], np.exp(np.array([-100.0, -103.0, -87.5])).astype(np.float32))
    y = _core.vmath_eval("exp", np.array([-740.0, -745.0, -708.5], dtype=np.float64))
    assert y[0] > 0 and y[1] == 5e-324 and y[2] > 0
    tiny32 = np.array([1e-45, 1e-40, 1.1e-38], dtype=np.float32)
    y = _core.vmath_eval("log", tiny32)
    assert np.allclose(y, np.log(tiny32.astype(np.float64)), rtol=2e-7, atol=0)
    tiny64 = np.array([5e-324, 1e-310, 2.2e-308])
    y = _core.vmath_eval("log", tiny64)
    assert np.allclose(y, np.log(tiny64.astype(np.longdouble)).astype(np.float64), rtol=3e-16, atol=0)
    # relative accuracy for tiny arguments
    for name, f in [("expm1", math.expm1), ("log1p", math.log1p), ("tanh", math.tanh)]:
        x = np.array([1e-10, -1e-10, 1e-30, 3e-5], dtype=np.float64)
        y = _core.vmath_eval(name, x)
        assert np.allclose(y, [f(v) for v in x], rtol=1e-15, atol=0), name


@pytest.mark.parametrize("n", [0, 1, 3, 7, 15, 16, 17, 33])
def test_tails(isa, n):
    x = np.linspace(-3, 3, n).astype(np.float32)
    y = _core.vmath_eval("exp", x)
    assert y.shape == (n,)
    assert np.allclose(y, np.exp(x), rtol=3e-7, atol=0)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown function"):
        _core.vmath_eval("cos", np.zeros(3))
    with pytest.raises(TypeError):
        _core.vmath_eval("exp", np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError):
        _core.vmath_eval("exp", np.zeros((2, 2)))


@functools.lru_cache(maxsize=None)
def _erf_f64_cases():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-6, 6, 1500), rng.uniform(0, 27.5, 1500),
                        rng.uniform(-1, 1, 300) * 10.0 ** rng.uniform(-300, 0, 300), [0.5, -0.5, 27.25, 27.3]])
    erf = np.array([mpmath.erf(mpmath.mpf(float(v))) for v in x], dtype=object)
    erfc = np.array([mpmath.erfc(mpmath.mpf(float(v))) for v in x], dtype=object)
    to_ld = lambda a: np.array([np.longdouble(mpmath.nstr(v, 25)) for v in a], dtype=np.longdouble)
    return x, {"erf": to_ld(erf), "erfc": to_ld(erfc)}


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_accuracy_float64_erf(isa, name):
    x, refs = _erf_f64_cases()
    y = _core.vmath_eval(name, x)
    err = ulp_error(y, refs[name], np.float64)
    normal = np.abs(refs[name]) >= np.finfo(np.float64).tiny   # subnormal erfc: absolute
    worst = _report(name, "float64", isa, x, np.where(normal, err, np.minimum(err, 0)))
    assert worst <= BOUND["float64"][name]
    assert np.all(err[~normal] <= 64)
