"""Property-based fuzzing (hypothesis) of matmul/linear, every activation and the
main losses against plain-numpy float64 references written here.

Inputs are drawn over shapes (0, 1, primes, sizes that are not multiples of any
SIMD width, occasionally a few hundred), memory layouts (C, Fortran, transposed,
sliced with positive/negative steps, broadcast zero-stride views), dtypes
(float32/float64; int and bool promoted) and value ranges (ordinary, wide
magnitudes down to subnormals, exact zeros, half-integers that hit the kinks of
piecewise functions); NaN/Inf inputs have their own tests. Every kernel test runs
under the ``isa`` fixture, so each instruction-set level is fuzzed.

Profiles: "ci" (default; derandomized, a few examples per test) and "fuzz"
(``NNMAT_FUZZ=1`` or ``HYPOTHESIS_PROFILE=fuzz``: >= 10,000 generated cases for this
file; see tools/fuzz.sh).

Tolerances (``check``): |got - ref| <= RTOL * mag + FLOOR elementwise, where ``mag``
is the magnitude of the quantities the result is computed from (|ref| plus a
conditioning term: the size of the summands of a reduction, or |f'| times the
inputs' size for a function of a difference), RTOL = 1e-5 for float32 and 1e-12
for float64, FLOOR = 1e-30 (float32) / 1e-290 (float64) -- a little above the
subnormal range, where flush-to-zero of a correctly small result is accepted.
NaN must appear exactly where the reference has NaN.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nnmat
from nnmat import activations as A
from nnmat import losses as L

# ----------------------------------------------------------------------------- profiles

_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
             HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=_SUPPRESS, print_blob=True)
settings.register_profile("fuzz", max_examples=250, deadline=None, suppress_health_check=_SUPPRESS,
                          print_blob=True)
_PROFILE_NAME = "fuzz" if (os.environ.get("NNMAT_FUZZ", "") not in ("", "0")
                           or os.environ.get("HYPOTHESIS_PROFILE") == "fuzz") else "ci"
_PROFILE = settings.get_profile(_PROFILE_NAME)
if os.environ.get("NNMAT_FUZZ_EXAMPLES"):   # e.g. a quick exploratory run
    _PROFILE = settings(_PROFILE, max_examples=int(os.environ["NNMAT_FUZZ_EXAMPLES"]))



# erfc element-wise through libm (math.erfc): scipy is not a test dependency.
_erfc_ufunc = np.frompyfunc(math.erfc, 1, 1)


def _erfc(x):
    return np.asarray(_erfc_ufunc(np.asarray(x, dtype=np.float64)), dtype=np.float64)

def fuzz(weight: float = 1.0):
    """This module's settings: the selected profile, max_examples scaled by weight."""
    return settings(_PROFILE, max_examples=max(2, int(round(_PROFILE.max_examples * weight))))


# ----------------------------------------------------------------------------- strategies

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
FLOATS = [np.float32, np.float64]
ALL_DTYPES = [np.float32, np.float64, np.float32, np.float64, np.int32, np.int64, np.bool_]
LAYOUTS = ["C", "C", "F", "T", "step", "bcast"]
KINDS = ["normal", "wide", "tiny", "zeros", "halfint"]
SPECIAL_DIMS = [0, 1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 63, 64, 65, 67]

dims = st.one_of(st.integers(0, 70), st.sampled_from(SPECIAL_DIMS), st.integers(71, 300))
seeds = st.integers(0, 2**32 - 1)


@st.composite
def shapes(draw, min_dims=0, max_dims=3, max_size=6000):
    shape = draw(st.lists(dims, min_size=min_dims, max_size=max_dims))
    while math.prod(shape) > max_size:   # shrink the largest dimension: stays shrink-friendly
        i = int(np.argmax(shape))
        shape[i] //= 2
    return tuple(shape)


def _magnitude_range(dtype, cap):
    if np.dtype(dtype) == F32:
        return -44.0, min(37.5, math.log10(cap))
    return -320.0, min(300.0, math.log10(cap))


def values(rng, shape, kind, dtype, cap=1e30):
    """float64 values of one kind (see KINDS), |v| <= cap, exactly representable in dtype."""
    if kind == "normal":
        v = rng.normal(0.0, 2.0, shape)
    elif kind == "wide":
        lo, hi = _magnitude_range(dtype, cap)
        v = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * 10.0 ** rng.uniform(lo, hi, shape)
    elif kind == "tiny":
        lo = -44.0 if np.dtype(dtype) == F32 else -322.0
        v = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * 10.0 ** rng.uniform(lo, lo + 8, shape)
    elif kind == "zeros":
        v = np.where(rng.random(shape) < 0.5, 0.0, rng.normal(0.0, 1.0, shape))
    elif kind == "halfint":
        v = rng.integers(-8, 9, shape) / 2.0
    else:
        raise ValueError(kind)
    v = np.clip(v, -cap, cap)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return v > 0
    if dt.kind in "iu":
        return np.clip(np.round(v), -1000, 1000).astype(dt)
    return v.astype(dt)


def layout(rng, shape, layout_name, make):
    """An array of `shape` with memory layout `layout_name`; make(shape) gives C-ordered data."""
    nd = len(shape)
    if layout_name == "C" or nd == 0:
        return make(shape)
    if layout_name == "F":
        return np.asfortranarray(make(shape))
    if layout_name == "T":
        return make(shape[::-1]).T
    if layout_name == "step":
        steps = [int(s) for s in rng.choice([1, 2, 3, -1, -2], nd)]
        base = make(tuple(abs(s) * n for s, n in zip(steps, shape)))
        view = base[tuple(slice(None, None, s) for s in steps)]
        assert view.shape == shape
        return view
    if layout_name == "bcast":
        src = tuple(1 if (n != 1 and rng.random() < 0.5) else n for n in shape)
        return np.broadcast_to(make(src), shape)
    raise ValueError(layout_name)


@st.composite
def arrays(draw, shape, dtypes=FLOATS, kinds=KINDS, layouts=LAYOUTS, cap=1e30, dtype=None):
    dtype = draw(st.sampled_from(dtypes)) if dtype is None else dtype
    kind = draw(st.sampled_from(kinds))
    lay = draw(st.sampled_from(layouts))
    rng = np.random.default_rng(draw(seeds))
    return layout(rng, shape, lay, lambda s: values(rng, s, kind, dtype, cap))


# ----------------------------------------------------------------------------- checks

RTOL = {F32: 1e-5, F64: 1e-12}
FLOOR = {F32: 1e-30, F64: 1e-290}


def result_dtype(*arrays):
    dt = np.result_type(*[np.asarray(a).dtype for a in arrays])
    return F32 if dt == F32 or (dt.kind == "f" and dt.itemsize < 4) else F64


def check(got, ref, mag=None, dtype=None, n=1, what="result"):
    """|got - ref| <= RTOL * (|ref| + mag) * sqrt(n) + FLOOR; NaN exactly where ref is NaN,
    infinities equal."""
    got_a = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got_a.shape == ref.shape, f"{what}: shape {got_a.shape}, expected {ref.shape}"
    dtype = np.dtype(dtype)
    mag = np.abs(ref) if mag is None else np.abs(ref) + np.nan_to_num(f64(mag), nan=0.0)
    with np.errstate(all="ignore"):
        bound = RTOL[dtype] * mag * math.sqrt(max(n, 1)) + FLOOR[dtype]
        err = np.abs(got_a - ref)
        ok = (err <= bound) | (np.isnan(ref) & np.isnan(got_a)) | ((got_a == ref) & np.isinf(ref))
        # the reference may be finite beyond float32's range where nnmat overflows to inf
        if dtype == F32:
            ok |= (np.abs(ref) > 3.4e38 * (1 - 1e-6)) & np.isinf(got_a) & (np.sign(got_a) == np.sign(ref))
    if not ok.all():
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {ok.size} elements out of tolerance ({dtype}); first at {idx}: "
            f"got {got_a[idx]!r}, expected {ref[idx]!r}, bound {np.broadcast_to(bound, ref.shape)[idx]:.3g}")


def check_unchanged(arrs, copies):
    for a, c in zip(arrs, copies):
        assert np.array_equal(np.asarray(a), c, equal_nan=True), "an input was modified"


def f64(a):
    return np.asarray(a, dtype=np.float64)


# ============================================================================ matmul / linear

@fuzz()
@given(data=st.data())
def test_matmul_fuzz(isa, data):
    """matmul of 1-D/2-D/N-D broadcast operands of every layout and dtype vs float64 numpy."""
    case = data.draw(st.sampled_from(["2d", "2d", "1d-2d", "2d-1d", "1d-1d", "nd"]))
    m, k, n = data.draw(dims), data.draw(dims), data.draw(dims)
    if case == "nd":
        m, k, n = min(m, 40), min(k, 40), min(n, 40)
        batch = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=2))
        bb = [data.draw(st.sampled_from([b, 1])) for b in batch]
        sa, sb = tuple(batch) + (m, k), tuple(bb[data.draw(st.integers(0, len(bb))):]) + (k, n)
    else:
        sa = {"2d": (m, k), "1d-2d": (k,), "2d-1d": (m, k), "1d-1d": (k,)}[case]
        sb = {"2d": (k, n), "1d-2d": (k, n), "2d-1d": (k,), "1d-1d": (k,)}[case]
    cap = 1e17
    kinds = ["normal", "wide", "tiny", "zeros", "halfint"]
    a = data.draw(arrays(sa, ALL_DTYPES, kinds, cap=cap))
    b = data.draw(arrays(sb, ALL_DTYPES, kinds, cap=cap))
    assume(not (a.dtype.kind in "biu" and b.dtype.kind in "biu"))   # int @ int is numpy's
    a0, b0 = a.copy(), b.copy()
    c = nnmat.matmul(a, b)
    a64, b64 = f64(a), f64(b)
    ref = np.matmul(a64, b64)
    mag = np.matmul(np.abs(a64), np.abs(b64))
    dt = result_dtype(a, b)
    assert np.asarray(c).dtype == dt
    check(c, ref, 8 * mag, dt, k, "matmul")
    check_unchanged((a, b), (a0, b0))


LINEAR_ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
               "silu", "softplus", "mish", "hardtanh", "hardsigmoid", "hardswish"]


@fuzz()
@given(data=st.data())
def test_linear_fuzz(isa, data):
    """linear(x, w, bias, activation) for every epilogue activation vs act(x @ w.T + b) in numpy."""
    lead = tuple(data.draw(st.lists(st.integers(0, 9), max_size=2)))
    fin, fout = min(data.draw(dims), 120), min(data.draw(dims), 120)
    kinds = ["normal", "zeros", "halfint"]
    x = data.draw(arrays(lead + (fin,), ALL_DTYPES, kinds))
    w = data.draw(arrays((fout, fin), ALL_DTYPES, kinds))
    bias = data.draw(st.none() | arrays((fout,), ALL_DTYPES, kinds))
    act = data.draw(st.sampled_from(LINEAR_ACTS))
    copies = [x.copy(), w.copy()]
    y = nnmat.linear(x, w, bias, activation=None if act == "identity" else act)
    x64, w64 = f64(x), f64(w)
    z = x64 @ w64.T
    mag = np.abs(x64) @ np.abs(w64).T
    if bias is not None:
        z = z + f64(bias)
        mag = mag + np.abs(f64(bias))
    name, params = {"gelu_tanh": ("gelu", {"approximate": "tanh"})}.get(act, (act, {}))
    ref = z if act == "identity" else ACTS[name].forward(z, **params)
    dt = result_dtype(*([x, w] + ([] if bias is None else [bias])))
    assert y.dtype == dt and y.shape == lead + (fout,)
    # an error in z of size eps*mag moves act(z) by at most 2x that (|act'| <= 1.76)
    check(y, ref, 16 * mag + 10 * np.abs(z), dt, fin + 1, f"linear[{act}]")
    check_unchanged((x, w), copies)


# ============================================================================ activations

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x, beta=1.0, threshold=20.0):
    with np.errstate(all="ignore"):
        return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


class Ref:
    """forward(x, **p) -> y;  backward(x, **p) -> (f'(x), |terms| of f'(x) for the tolerance)."""

    def __init__(self, forward, backward, params=None, kinks=()):
        self.forward, self.backward, self.params, self.kinks = forward, backward, params, kinks


def _gelu_fwd(x, approximate="none"):
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        with np.errstate(all="ignore"):   # 0.5 (1 + tanh(u)) = sigmoid(2u), without cancellation
            return np.where(np.abs(x) > 1e10, np.where(x > 0, x, -0.0), x * _sigmoid(2 * u))
    return x * 0.5 * _erfc(-x / math.sqrt(2))


def _gelu_bwd(x, approximate="none"):
    with np.errstate(all="ignore"):
        if approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            u = c * (x + 0.044715 * x ** 3)
            s, sm = _sigmoid(2 * u), _sigmoid(-2 * u)   # 0.5 (1 + tanh u), 0.5 (1 - tanh u)
            du = c * (1 + 3 * 0.044715 * x * x)
            term = np.where(np.abs(x) > 1e10, 0.0, 2 * x * s * sm * du)
            return s + term, s + np.abs(term)
        cdf = 0.5 * _erfc(-x / math.sqrt(2))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return cdf + x * pdf, cdf + np.abs(x * pdf)


def _mish_fwd(x):
    return x * np.tanh(_softplus(x))


def _mish_bwd(x):
    with np.errstate(all="ignore"):
        t = np.tanh(_softplus(x))
        s = _sigmoid(x)
        term = np.where(np.abs(x) > 1e10, 0.0, x * s * (1 - t * t))
        return t + term, np.abs(t) + np.abs(term)


def _silu_bwd(x):
    with np.errstate(all="ignore"):
        s = _sigmoid(x)
        term = np.where(np.abs(x) > 1e10, 0.0, x * s * (1 - s))
        return s + term, s + np.abs(term)


def _elu_fwd(x, alpha=1.0, scale=1.0):
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _elu_bwd(x, alpha=1.0, scale=1.0):
    d = scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))
    return d, np.abs(d)


def _hardswish_bwd(x):
    d = np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))
    return d, np.where(x <= -3, 0.0, np.where(x < 3, np.abs(x) / 3 + 0.5, 1.0))


ACTS = {
    "sigmoid": Ref(_sigmoid, lambda x: (_sigmoid(x) * _sigmoid(-x),) * 2),
    "tanh": Ref(np.tanh, lambda x: (1 / np.cosh(x) ** 2,) * 2),
    "relu": Ref(lambda x: np.maximum(x, 0), lambda x: ((x > 0) * 1.0,) * 2, kinks=(0,)),
    "leaky_relu": Ref(lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
                      lambda x, negative_slope=0.01: (np.where(x > 0, 1.0, negative_slope),
                                                      np.abs(np.where(x > 0, 1.0, negative_slope))),
                      st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2, -0.5, 0.0, 3.0])}),
                      kinks=(0,)),
    "elu": Ref(_elu_fwd, _elu_bwd, st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5, 2.0])}),
               kinks=(0,)),
    "selu": Ref(lambda x: _elu_fwd(x, SELU_ALPHA, SELU_SCALE), lambda x: _elu_bwd(x, SELU_ALPHA, SELU_SCALE),
                kinks=(0,)),
    "gelu": Ref(_gelu_fwd, _gelu_bwd,
                st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    "silu": Ref(lambda x: x * _sigmoid(x), _silu_bwd),
    "softplus": Ref(_softplus,
                    lambda x, beta=1.0, threshold=20.0: (np.where(beta * x > threshold, 1.0, _sigmoid(beta * x)),) * 2,
                    st.fixed_dictionaries({"beta": st.sampled_from([1.0, 0.5, 2.0]),
                                           "threshold": st.sampled_from([20.0, 5.0, 1.0])})),
    "mish": Ref(_mish_fwd, _mish_bwd),
    "hardtanh": Ref(lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val),
                    lambda x, min_val=-1.0, max_val=1.0: (((x > min_val) & (x < max_val)) * 1.0,) * 2,
                    st.sampled_from([{}, {"min_val": -2.0, "max_val": 0.5}, {"min_val": 0.0, "max_val": 0.0}])),
    "hardsigmoid": Ref(lambda x: np.clip(x + 3, 0, 6) / 6,
                       lambda x: (((x > -3) & (x < 3)) / 6.0,) * 2, kinks=(-3, 3)),
    "hardswish": Ref(lambda x: x * np.clip(x + 3, 0, 6) / 6, _hardswish_bwd, kinks=(-3, 3)),
}
ELEMENTWISE_ACTS = sorted(ACTS)
PIECEWISE = {"relu", "leaky_relu", "elu", "selu", "hardtanh", "hardsigmoid", "hardswish"}
SOFTMAX_ACTS = ["softmax", "log_softmax", "sparsemax"]


def test_every_activation_is_fuzzed():
    public = set(A.__all__) - {"Activation"}
    assert public == set(ELEMENTWISE_ACTS) | set(SOFTMAX_ACTS)


@fuzz(2.0)
@given(data=st.data())
def test_elementwise_activation_fuzz(isa, data):
    """forward and backward of every element-wise activation vs numpy (value and f')."""
    name = data.draw(st.sampled_from(ELEMENTWISE_ACTS))
    ref = ACTS[name]
    params = data.draw(ref.params) if ref.params is not None else {}
    shape = data.draw(shapes(max_size=4000))
    x = data.draw(arrays(shape, ALL_DTYPES))
    g = data.draw(arrays(shape, FLOATS, ["normal", "zeros", "halfint"]))
    f = getattr(A, name)
    x0, g0 = x.copy(), g.copy()
    y = f(x, **params)
    dx = f.backward(x, g, **params)
    dt = result_dtype(x)
    assert y.dtype == dt and y.shape == shape
    assert dx.dtype == result_dtype(x, g) and dx.shape == shape
    x64 = f64(x)
    with np.errstate(all="ignore"):
        yr = ref.forward(x64, **params)
        d, dmag = ref.backward(x64, **params)
        dxr = f64(g) * d
    check(y, yr, None, dt, 2, f"{name}{params} forward")
    check(dx, dxr, np.abs(f64(g)) * dmag, result_dtype(x, g), 2, f"{name}{params} backward")
    if name in ("sigmoid", "tanh"):
        # backward from the forward output (torch's formula g y (1 - y), g (1 - y^2)): an
        # absolute error of a few eps, the cancellation of 1 - y near |y| = 1
        # (y is rounded to x's dtype, so that precision bounds the result)
        check(f.backward(x, g, output=y), dxr, np.abs(f64(g)) * (dmag + 2), dt, 4,
              f"{name} backward(output=)")
    check_unchanged((x, g), (x0, g0))


def _softmax_ref(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    return e / s, (x - m) - np.log(s)


def _sparsemax_ref(x, axis):
    z = np.moveaxis(x, axis, -1)
    C = z.shape[-1]
    zs = -np.sort(-z, axis=-1)
    cs = np.cumsum(zs, axis=-1)
    k = np.arange(1, C + 1)
    support = 1 + k * zs > cs
    kmax = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, kmax - 1, axis=-1) - 1) / kmax
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis)


@fuzz(1.5)
@given(data=st.data())
def test_softmax_family_fuzz(isa, data):
    """softmax / log_softmax / sparsemax forward and VJP along a drawn axis vs numpy."""
    name = data.draw(st.sampled_from(SOFTMAX_ACTS))
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_size=4000))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(arrays(shape, ALL_DTYPES, ["normal", "zeros", "halfint", "tiny"]))
    g = data.draw(arrays(shape, FLOATS, ["normal", "zeros", "halfint"]))
    f = getattr(A, name)
    x0, g0 = x.copy(), g.copy()
    y = f(x, axis=axis)
    dx = f.backward(x, g, axis=axis)
    dt, dtg = result_dtype(x), result_dtype(x, g)
    assert y.dtype == dt and dx.dtype == dtg
    x64, g64 = f64(x), f64(g)
    C = shape[axis] if shape else 1
    if x64.size == 0:
        assert y.shape == shape and dx.shape == shape
        return
    spread = 1 + np.abs(x64 - np.max(x64, axis=axis, keepdims=True))
    if name == "sparsemax":
        p = _sparsemax_ref(x64, axis)
        S = p > 0
        mean_g = (g64 * S).sum(axis=axis, keepdims=True) / S.sum(axis=axis, keepdims=True)
        dxr = S * (g64 - mean_g)
        check(y, p, spread, dt, C, "sparsemax forward")
        # the support is a discrete choice: compare only where y agrees on it
        same = (np.asarray(y) > 0) == S
        assume(same.all())
        check(dx, dxr, np.abs(g64) + np.abs(mean_g), dtg, C, "sparsemax backward")
    else:
        p, lp = _softmax_ref(x64, axis)
        gs = (g64 * p).sum(axis=axis, keepdims=True)
        gsum = g64.sum(axis=axis, keepdims=True)
        if name == "softmax":
            check(y, p, p * spread, dt, C, "softmax forward")
            dxr = p * (g64 - gs)
            mag = p * spread * (np.abs(g64) + (np.abs(g64) * p).sum(axis=axis, keepdims=True))
        else:
            check(y, lp, spread + np.abs(lp), dt, C, "log_softmax forward")
            dxr = g64 - p * gsum
            mag = np.abs(g64) + p * spread * np.abs(g64).sum(axis=axis, keepdims=True)
        check(dx, dxr, mag, dtg, C, f"{name} backward")
        # (y is rounded to x's dtype, so that precision bounds the result)
        check(f.backward(x, g, axis=axis, output=y), dxr, mag, dt, C, f"{name} backward(output=)")
    check_unchanged((x, g), (x0, g0))


NONFINITE = [np.nan, np.inf, -np.inf]


def _with_nonfinite(rng, a, frac=0.2):
    a = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64)
    if a.size:
        mask = rng.random(a.shape) < frac
        a[mask] = rng.choice(NONFINITE, int(mask.sum()))
    return a


@fuzz()
@given(data=st.data(), seed=seeds)
def test_activation_nonfinite_fuzz(isa, data, seed):
    """NaN/+-Inf inputs: NaN exactly where the numpy reference is NaN, +-inf/limits elsewhere."""
    rng = np.random.default_rng(seed)
    name = data.draw(st.sampled_from(ELEMENTWISE_ACTS + SOFTMAX_ACTS))
    shape = data.draw(shapes(min_dims=1, max_dims=2, max_size=500))
    assume(shape[-1] > 0)
    x = _with_nonfinite(rng, data.draw(arrays(shape, FLOATS, ["normal", "halfint"])))
    f = getattr(A, name)
    x0 = x.copy()
    y = f(x)
    with np.errstate(all="ignore"):
        if name in SOFTMAX_ACTS:
            x64 = f64(x)
            if name == "sparsemax":
                yr = _sparsemax_ref(np.where(np.isneginf(x64), -1e300, x64), -1)
                bad = np.isnan(x64).any(-1, keepdims=True) | np.isposinf(x64).any(-1, keepdims=True) | \
                    np.isneginf(x64).all(-1, keepdims=True)
                yr = np.where(bad, np.nan, yr)
            else:
                p, lp = _softmax_ref(x64, -1)
                yr = p if name == "softmax" else lp
            check(y, yr, 1.0, x.dtype, shape[-1], name)
        else:
            ref = ACTS[name]
            yr = ref.forward(f64(x))
            # the reference is undefined (NaN from inf * 0) at a non-NaN input: accept anything
            ok = ~np.isnan(yr) | np.isnan(f64(x))
            check(np.where(ok, y, 0), np.where(ok, yr, 0), None, x.dtype, 2, name)
            d, dmag = ref.backward(f64(x))
            g = np.ones(shape, x.dtype)
            dx = f.backward(x, g)
            # where the reference derivative is an undefined form (inf * 0), accept anything; the
            # piecewise functions' derivative at NaN is a branch choice (torch: the 'else' branch)
            defined = ~np.isnan(d) | np.isnan(f64(x))
            if name in PIECEWISE:
                defined &= ~np.isnan(f64(x))
            # x * (...) at x = +-inf: the limit or NaN (torch's inf * 0), either accepted
            if name in ("silu", "mish", "gelu"):
                defined &= ~np.isinf(f64(x))
            check(np.where(defined, dx, 0), np.where(defined, d, 0), dmag, x.dtype, 2, f"{name} backward")
    check_unchanged((x,), (x0,))


# ============================================================================ element-wise losses

REDUCTIONS = ["mean", "sum", "none"]


def _bce_logits_ref(x, y, c):
    """(1 - y) x + c softplus(-x) without cancelling x against softplus(-x) ~ -x for x << 0."""
    with np.errstate(all="ignore"):
        lin = np.where(x < 0, x * ((1 - y) - c), (1 - y) * x)
        return lin + c * np.log1p(np.exp(-np.abs(x)))


def _ew_ref(name, x, y, p):
    """(loss, dloss/dx, second-derivative bound) in float64 for the element-wise losses."""
    r = x - y
    ar = np.abs(r)
    if name == "mse_loss":
        return r * r, 2 * r, 2.0
    if name == "l1_loss":
        return ar, np.sign(r), 0.0
    if name == "huber_loss":
        d = p.get("delta", 1.0)
        return np.where(ar < d, 0.5 * r * r, d * (ar - 0.5 * d)), np.where(ar < d, r, d * np.sign(r)), 1.0
    if name == "smooth_l1_loss":
        b = p.get("beta", 1.0)
        if b == 0:
            return ar, np.sign(r), 0.0
        return np.where(ar < b, 0.5 * r * r / b, ar - 0.5 * b), np.where(ar < b, r / b, np.sign(r)), 1.0 / b
    if name == "log_cosh_loss":   # (a series where the closed form cancels)
        r2 = r * r
        small = r2 * (0.5 - r2 * (1 / 12 - r2 * (1 / 45 - r2 * 17 / 2520)))
        return np.where(ar < 1e-2, small, ar + np.log1p(np.exp(-2 * ar)) - math.log(2)), np.tanh(r), 1.0
    if name == "binary_cross_entropy":
        with np.errstate(divide="ignore"):
            lp, l1p = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
        return -(y * lp + (1 - y) * l1p), (x - y) / np.maximum(x * (1 - x), 1e-12), 0.0
    if name == "binary_cross_entropy_with_logits":
        pw = p.get("pos_weight")
        pw = 1.0 if pw is None else f64(pw)
        c = 1 + (pw - 1) * y
        return _bce_logits_ref(x, y, c), (1 - y) - c * _sigmoid(-x), 0.25 * np.abs(c)
    if name in ("hinge_loss", "squared_hinge_loss"):
        yy = 2 * y - 1 if (y.size and np.all((y == 0) | (y == 1))) else y
        m = np.maximum(1 - yy * x, 0)
        if name == "hinge_loss":
            return m, np.where(m > 0, -yy, 0.0), 0.0
        return m * m, -2 * yy * m, 2 * yy * yy
    if name == "sigmoid_focal_loss":
        alpha, gamma = p.get("alpha", 0.25), p.get("gamma", 2.0)
        s = _sigmoid(x)
        ce = _bce_logits_ref(x, y, 1.0)
        q = 1 - (s * y + (1 - s) * (1 - y))
        at = 1.0 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
        with np.errstate(all="ignore"):
            dq = -(2 * y - 1) * s * (1 - s)
            second = np.where(q > 0, ce * gamma * q ** (gamma - 1) * dq, 0.0)
        return at * ce * q ** gamma, at * ((s - y) * q ** gamma + second), 2.0 + gamma * gamma
    raise KeyError(name)


EW_LOSSES = {   # name: (param strategy, input kinds, target maker)
    "mse_loss": st.sampled_from([{}, {"weight": True}]),
    "l1_loss": st.sampled_from([{}, {"weight": True}]),
    "huber_loss": st.fixed_dictionaries({"delta": st.sampled_from([1.0, 0.5, 2.5])},
                                        optional={"weight": st.just(True)}),
    "smooth_l1_loss": st.fixed_dictionaries({"beta": st.sampled_from([1.0, 0.0, 0.25, 3.0])}),
    "log_cosh_loss": st.just({}),
    "binary_cross_entropy": st.sampled_from([{}, {"weight": True}]),
    "binary_cross_entropy_with_logits": st.sampled_from([{}, {"weight": True}, {"pos_weight": True},
                                                         {"weight": True, "pos_weight": True}]),
    "hinge_loss": st.just({}),
    "squared_hinge_loss": st.just({}),
    "sigmoid_focal_loss": st.fixed_dictionaries({"alpha": st.sampled_from([0.25, -1.0, 0.0, 1.0]),
                                                 "gamma": st.sampled_from([2.0, 0.0, 1.0, 0.5, 3.5])}),
}


def _ew_inputs(data, name, shape, dtype, cap):
    """(input, target) for loss `name` with the input in its domain."""
    rng = np.random.default_rng(data.draw(seeds))
    lay = data.draw(st.sampled_from(LAYOUTS))
    if name == "binary_cross_entropy":
        kind = data.draw(st.sampled_from(["uniform", "edges"]))

        def probs(s):
            v = rng.uniform(0, 1, s)
            if kind == "edges":
                v = np.where(rng.random(s) < 0.3, rng.choice([0.0, 1.0, 1e-30, 0.5], s), v)
            return v.astype(dtype)
        x = layout(rng, shape, lay, probs)
        y = layout(rng, shape, "C", lambda s: rng.choice([0.0, 1.0, 0.3], s).astype(dtype))
        return x, y
    if name in ("hinge_loss", "squared_hinge_loss", "sigmoid_focal_loss",
                "binary_cross_entropy_with_logits"):
        x = data.draw(arrays(shape, [dtype], ["normal", "zeros", "halfint", "wide"], cap=min(cap, 1e4)))
        labels = {"hinge_loss": [-1.0, 1.0], "squared_hinge_loss": [0.0, 1.0]}.get(name, [0.0, 1.0, 0.25])
        if name.endswith("hinge_loss") and data.draw(st.booleans()):
            labels = [-1.0, 1.0, 0.5, 0.0]
        y = layout(rng, shape, data.draw(st.sampled_from(LAYOUTS)),
                   lambda s: rng.choice(labels, s).astype(dtype))
        return x, y
    x = data.draw(arrays(shape, [dtype], KINDS, cap=cap))
    y = data.draw(arrays(shape, [dtype], KINDS, cap=cap))
    return x, y


@fuzz(2.0)
@given(data=st.data())
def test_elementwise_loss_fuzz(isa, data):
    """The element-wise losses: value (every reduction) and value_and_grad vs numpy."""
    name = data.draw(st.sampled_from(sorted(EW_LOSSES)))
    params = dict(data.draw(EW_LOSSES[name]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    shape = data.draw(shapes(max_size=3000))
    dtype = data.draw(st.sampled_from(FLOATS))
    cap = 1e15 if dtype == np.float32 else 1e150
    x, y = _ew_inputs(data, name, shape, dtype, cap)
    if name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss", "hinge_loss"):
        tdt = data.draw(st.sampled_from([None, None, np.int32, np.int64, np.bool_]))
        if tdt is not None:   # integer / bool targets are promoted with the input (numpy's rules)
            y = np.clip(np.round(y), -1000, 1000).astype(tdt) if tdt is not np.bool_ else y > 0
            dtype = result_dtype(x, y)
    rng = np.random.default_rng(data.draw(seeds))
    call = {}
    if params.pop("weight", False):
        call["weight"] = rng.uniform(0, 2, shape).astype(dtype)
    if params.pop("pos_weight", False):
        call["pos_weight"] = rng.uniform(0.5, 3, shape[-1:] if shape else ()).astype(dtype)
    call.update(params)
    p64 = {k: (f64(v) if isinstance(v, np.ndarray) else v) for k, v in call.items()}
    loss_fn = getattr(L, name)
    copies = [x.copy(), y.copy()]
    x64, y64 = f64(x), f64(y)
    with np.errstate(all="ignore"):
        lref, gref, h = _ew_ref(name, x64, y64, p64)
    w = p64.get("weight")
    w = 1.0 if w is None else np.broadcast_to(w, shape)
    lref, gref = w * lref, w * gref
    n = max(x.size, 1)
    dt = np.dtype(dtype)
    # conditioning: the difference x - y is rounded, an error of eps (|x| + |y|)
    size = np.abs(x64) + np.abs(y64)
    lmag = np.abs(gref) * size
    gmag = np.abs(w) * h * size
    gout = rng.normal(0, 1, shape).astype(dtype) if reduction == "none" else 1.0
    value, grad = loss_fn.value_and_grad(x, y, reduction=reduction, grad_output=gout, **call)
    only = loss_fn(x, y, reduction=reduction, **call)
    if reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dt
        check(value, lref, lmag, dt, 4, f"{name}{params} none")
        gr = gref * f64(gout)
        gm = gmag * np.abs(f64(gout))
    else:
        assert isinstance(value, float)
        total = lref.sum()
        tmag = (np.abs(lref) + lmag).sum()
        if reduction == "mean":
            den = float(np.sum(w)) if (name in ("mse_loss", "l1_loss") and "weight" in call) else x.size
            with np.errstate(all="ignore"):
                total, tmag = total / den, tmag / abs(den)
            gr, gm = gref / den, gmag / abs(den)
        else:
            gr, gm = gref, gmag
        check(value, total, tmag, dt, 4, f"{name}{params} {reduction}")
    if name == "binary_cross_entropy":   # the clamp at 1e-12 makes the gradient at p in {0, 1} huge
        gm = gm + np.abs(gr) * 1e-3
    check(grad, gr, gm, dt, 4, f"{name}{params} {reduction} grad")
    assert grad.dtype == dt and grad.shape == shape
    check(only, value, None, dt, 1, "call vs value_and_grad")
    check_unchanged((x, y), copies)
    del n


@fuzz()
@given(data=st.data(), seed=seeds)
def test_elementwise_loss_nonfinite_fuzz(isa, data, seed):
    """NaN/Inf in input or target: per-element losses NaN exactly where numpy's are."""
    rng = np.random.default_rng(seed)
    name = data.draw(st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
                                      "binary_cross_entropy_with_logits", "hinge_loss", "squared_hinge_loss",
                                      "sigmoid_focal_loss"]))
    shape = data.draw(shapes(min_dims=1, max_dims=2, max_size=400))
    dtype = data.draw(st.sampled_from(FLOATS))
    x, y = _ew_inputs(data, name, shape, dtype, 1e4)
    x = _with_nonfinite(rng, x, 0.15)
    if name not in ("hinge_loss", "squared_hinge_loss", "sigmoid_focal_loss", "binary_cross_entropy_with_logits"):
        y = _with_nonfinite(rng, y, 0.15)
    value = getattr(L, name)(x, y, reduction="none")
    with np.errstate(all="ignore"):
        lref, _, _ = _ew_ref(name, f64(x), f64(y), {})
        # in float64 a few forms that are limits (inf - inf in log_cosh...) are NaN: recompute them
        if name == "log_cosh_loss":
            lref = np.where(np.isinf(f64(x) - f64(y)), np.inf, lref)
        if name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss"):
            xx, yy = f64(x), f64(y)
            lim = np.where(np.isposinf(xx), np.where(yy == 1, 0.0, np.inf), np.where(yy == 0, 0.0, np.inf))
            if name == "sigmoid_focal_loss":   # (1 - p_t)^gamma -> 0 or 1
                at = 0.25 * yy + 0.75 * (1 - yy)
                lim = at * lim
            # an infinite logit on the right side has the limit 0, but x + softplus(-x) is
            # inf - inf: torch gives NaN there and so does nnmat -- left undefined here
            lref = np.where(np.isinf(xx), np.where(lim == 0, np.nan, lim), lref)
    ok = ~np.isnan(lref) | np.isnan(f64(x)) | np.isnan(f64(y))   # elsewhere an undefined form
    check(np.where(ok, value, 0), np.where(ok, lref, 0),
          np.where(np.isfinite(f64(x)), 10 * np.abs(f64(x)), 0), dtype, 4, f"{name} nonfinite")


# ============================================================================ multi-class losses

def _ce_ref(x, t, w, ignore_index, eps, reduction, prob):
    """torch cross_entropy in float64 (class axis 1, or 0 for 1-D): (value, grad, mags)."""
    squeeze = x.ndim == 1
    if squeeze:
        x = x[None]
        t = t[None]
    C = x.shape[1]
    w = np.ones(C) if w is None else w
    wb = w.reshape((1, C) + (1,) * (x.ndim - 2))
    P, lp = _softmax_ref(x, 1)
    if prob:
        a = wb * (t * (1 - eps) + eps / C)
        valid = np.ones(x.shape[:1] + x.shape[2:], bool)
        den = valid.size
    else:
        valid = t != ignore_index
        ti = np.where(valid, t, 0)
        onehot = (np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2)) == ti[:, None]).astype(float)
        a = (1 - eps) * wb * onehot + eps / C * wb
        a = a * valid[:, None]
        den = np.sum(w[ti] * valid)
    per = -(a * lp).sum(axis=1)
    lmag = (np.abs(a) * (np.abs(lp) + 1 + np.abs(x))).sum(axis=1)
    g = -a + P * a.sum(axis=1, keepdims=True)
    gmag = np.abs(a) + P * np.abs(a).sum(axis=1, keepdims=True) * (1 + np.abs(x))
    if reduction == "none":
        vals = (per[0], lmag[0]) if squeeze else (per, lmag)
        return vals[0], vals[1], (g[0] if squeeze else g), (gmag[0] if squeeze else gmag), 1.0
    s, sm = per.sum(), lmag.sum()
    d = den if reduction == "mean" else 1.0
    # ignored positions have a zero gradient even when D = 0 (all ignored), as torch
    keep = valid[:, None]
    with np.errstate(all="ignore"):
        g, gmag = np.where(keep, g / d, 0.0), np.where(keep, gmag / abs(d), 0.0)
        return s / d, sm / abs(d), (g[0] if squeeze else g), (gmag[0] if squeeze else gmag), d


@fuzz(2.0)
@given(data=st.data())
def test_cross_entropy_fuzz(isa, data):
    """cross_entropy: index/probability targets, weight, ignore_index, label_smoothing,
    (C), (N, C), (N, C, d...) inputs, every reduction, value and gradient vs numpy."""
    nd = data.draw(st.sampled_from([1, 2, 2, 3, 4]))
    C = data.draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 17, 64, 65, 300])))
    rest = [data.draw(st.integers(0, 9)) for _ in range(nd - 1)]
    shape = (C,) if nd == 1 else (rest[0], C) + tuple(rest[1:])
    while math.prod(shape) > 4000:
        shape = (shape[0] // 2,) + shape[1:] if nd > 1 else (shape[0] // 2,)
    C = shape[0] if nd == 1 else shape[1]
    assume(C > 0)
    dtype = data.draw(st.sampled_from(FLOATS))
    x = data.draw(arrays(shape, [dtype], ["normal", "zeros", "halfint"]))
    rng = np.random.default_rng(data.draw(seeds))
    prob = data.draw(st.booleans())
    ignore_index = -100
    loss_shape = shape[1:] if nd == 1 else (shape[0],) + shape[2:]
    loss_shape = () if nd == 1 else loss_shape
    if prob:
        raw = rng.random(shape) ** 3
        t = (raw / np.maximum(raw.sum(axis=0 if nd == 1 else 1, keepdims=True), 1e-300)).astype(dtype)
        if data.draw(st.booleans()):
            t = rng.uniform(-0.5, 1.5, shape).astype(dtype)   # not a distribution: still defined
    else:
        ignore_index = data.draw(st.sampled_from([-100, 0, C - 1, -1]))
        t = rng.integers(0, C, loss_shape)
        if data.draw(st.booleans()):
            t = np.where(rng.random(loss_shape) < 0.3, ignore_index, t)
        itypes = [np.int64, np.int32] + ([np.uint8] if 0 <= ignore_index and C <= 255 else [])
        t = t.astype(data.draw(st.sampled_from(itypes)))
    w = data.draw(st.none() | st.just(rng.uniform(0, 2, C).astype(dtype)))
    eps = data.draw(st.sampled_from([0.0, 0.0, 0.1, 1.0, 0.37]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    kw = dict(weight=w, reduction=reduction, label_smoothing=eps)
    if not prob:
        kw["ignore_index"] = ignore_index
    gout = rng.normal(0, 1, loss_shape).astype(dtype) if reduction == "none" else 0.5
    copies = [x.copy(), t.copy()]
    value, grad = L.cross_entropy.value_and_grad(x, t, grad_output=gout, **kw)
    v, vm, g, gm, _ = _ce_ref(f64(x), f64(t) if prob else t.astype(np.int64), None if w is None else f64(w),
                              ignore_index, eps, reduction, prob)
    dt = np.dtype(dtype)
    if reduction == "none":
        assert value.shape == loss_shape and value.dtype == dt
        go = f64(gout)[None] if nd == 1 else f64(gout)[:, None]
        g, gm = g * go, gm * np.abs(go)
    else:
        assert isinstance(value, float)
        g, gm = g * 0.5, gm * 0.5
    check(value, v, vm, dt, C, f"cross_entropy {kw} prob={prob}")
    check(grad, g, gm, dt, C, f"cross_entropy grad {kw} prob={prob}")
    check(L.cross_entropy(x, t, **kw), value, None, dt, 1, "call vs value_and_grad")
    check_unchanged((x, t), copies)
    if not prob and data.draw(st.booleans()):   # nll_loss(log_softmax(x)) == cross_entropy with eps = 0
        lp = A.log_softmax(x, axis=0 if nd == 1 else 1)
        nv, ng = L.nll_loss.value_and_grad(lp, t, weight=w, ignore_index=ignore_index, reduction=reduction)
        v0, vm0, _, _, _ = _ce_ref(f64(x), t.astype(np.int64), None if w is None else f64(w), ignore_index, 0.0,
                                   reduction, False)
        check(nv, v0, vm0, dt, C, "nll_loss(log_softmax)")


@fuzz()
@given(data=st.data())
def test_nll_loss_fuzz(isa, data):
    """nll_loss: -w[t] x[t], ignore_index, every reduction, gradient, vs numpy."""
    nd = data.draw(st.sampled_from([1, 2, 3]))
    C = data.draw(st.integers(1, 70))
    rest = [data.draw(st.integers(0, 12)) for _ in range(nd - 1)]
    shape = (C,) if nd == 1 else (rest[0], C) + tuple(rest[1:])
    dtype = data.draw(st.sampled_from(FLOATS))
    x = data.draw(arrays(shape, [dtype], KINDS, cap=1e30))
    rng = np.random.default_rng(data.draw(seeds))
    loss_shape = () if nd == 1 else (shape[0],) + shape[2:]
    ignore_index = data.draw(st.sampled_from([-100, 0, C - 1]))
    t = np.where(rng.random(loss_shape) < 0.2, ignore_index, rng.integers(0, C, loss_shape)).astype(np.int64)
    w = data.draw(st.none() | st.just(rng.uniform(0, 2, C).astype(dtype)))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    value, grad = L.nll_loss.value_and_grad(x, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    x64 = f64(x)
    w64 = np.ones(C) if w is None else f64(w)
    xs = x64[None] if nd == 1 else x64
    ts = t[None] if nd == 1 else t
    valid = ts != ignore_index
    ti = np.where(valid, ts, 0)
    picked = np.take_along_axis(xs, ti[:, None], axis=1)[:, 0]
    coef = w64[ti] * valid
    per = -coef * picked
    gref = np.zeros_like(xs)
    np.put_along_axis(gref, ti[:, None], -coef[:, None], axis=1)
    den = coef.sum() if reduction == "mean" else 1.0
    dt = np.dtype(dtype)
    if reduction == "none":
        check(value, per[0] if nd == 1 else per, None, dt, 1, "nll none")
    else:
        with np.errstate(all="ignore"):
            check(value, per.sum() / den, np.abs(per).sum() / abs(den), dt, 1, f"nll {reduction}")
    with np.errstate(all="ignore"):   # ignored positions: 0 even when den = 0 (torch)
        gref = np.where(valid[:, None], gref / den, 0.0)
    check(grad, gref[0] if nd == 1 else gref, None, dt, 1, "nll grad")


@fuzz()
@given(data=st.data())
def test_kl_div_fuzz(isa, data):
    """kl_div (torch; log_target both ways, batchmean) and kl_divergence (Keras) vs numpy."""
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_size=3000))
    dtype = data.draw(st.sampled_from(FLOATS))
    rng = np.random.default_rng(data.draw(seeds))
    dt = np.dtype(dtype)
    which = data.draw(st.sampled_from(["kl_div", "kl_divergence"]))
    if which == "kl_div":
        log_target = data.draw(st.booleans())
        reduction = data.draw(st.sampled_from(REDUCTIONS + ["batchmean"]))
        x = data.draw(arrays(shape, [dtype], ["normal", "zeros", "halfint"]))
        if log_target:
            t = layout(rng, shape, data.draw(st.sampled_from(LAYOUTS)),
                       lambda s: rng.normal(-2, 2, s).astype(dtype))
        else:
            t = layout(rng, shape, data.draw(st.sampled_from(LAYOUTS)),
                       lambda s: np.where(rng.random(s) < 0.3, 0.0, rng.random(s)).astype(dtype))
        value, grad = L.kl_div.value_and_grad(x, t, reduction=reduction, log_target=log_target)
        x64, t64 = f64(x), f64(t)
        with np.errstate(all="ignore"):
            if log_target:
                p = np.exp(t64)
                per = p * (t64 - x64)
            else:
                p = t64
                per = np.where(t64 > 0, t64 * (np.log(t64) - x64), 0.0)
        mag = np.abs(p) * (np.abs(x64) + np.abs(np.log(np.maximum(p, 1e-300))) + 1)
        div = {"mean": x.size, "batchmean": shape[0], "sum": 1, "none": 1}[reduction]
        if reduction == "none":
            check(value, per, mag, dt, 1, "kl_div none")
            check(grad, -p, None, dt, 1, "kl_div grad")
        else:
            with np.errstate(all="ignore"):
                check(value, per.sum() / div, mag.sum() / div, dt, 1, f"kl_div {reduction}")
                check(grad, -p / div, None, dt, 1, f"kl_div grad {reduction}")
    else:
        reduction = data.draw(st.sampled_from(REDUCTIONS))
        x = layout(rng, shape, data.draw(st.sampled_from(LAYOUTS)),
                   lambda s: np.where(rng.random(s) < 0.1, rng.choice([0.0, 1.0, 1e-9], s),
                                      rng.uniform(1e-6, 1, s)).astype(dtype))
        t = layout(rng, shape, data.draw(st.sampled_from(LAYOUTS)),
                   lambda s: np.where(rng.random(s) < 0.2, 0.0, rng.random(s)).astype(dtype))
        value, grad = L.kl_divergence.value_and_grad(x, t, reduction=reduction)
        xc = np.clip(f64(x), 1e-7, 1.0)
        tc = np.clip(f64(t), 1e-7, 1.0)
        per = (tc * np.log(tc / xc)).sum(-1)
        mag = (tc * (np.abs(np.log(tc)) + np.abs(np.log(xc)))).sum(-1)
        inside = (f64(x) > 1e-7) & (f64(x) < 1.0)
        # the clip bounds are not exact in float32: treat elements within an ulp of them as either
        near = np.isclose(f64(x), 1e-7, rtol=1e-6, atol=0) | (f64(x) == 1.0)
        gref = np.where(inside, -tc / xc, 0.0)
        rows = int(np.prod(shape[:-1]))
        div = {"mean": rows if rows else 1, "sum": 1, "none": 1}[reduction]
        if reduction == "none":
            check(value, per, mag, dt, shape[-1], "kl_divergence none")
        else:
            check(value, per.sum() / div, mag.sum() / div, dt, shape[-1], f"kl_divergence {reduction}")
        g = np.where(near, 0.0, grad)
        check(g, np.where(near, 0.0, gref / div), None, dt, 1, "kl_divergence grad")


# ============================================================================ embedding / boxes

def _pnorm(z, p):
    if p == math.inf:
        return np.abs(z).max(-1) if z.shape[-1] else np.zeros(z.shape[:-1])
    return (np.abs(z) ** p).sum(-1) ** (1 / p)


def _pnorm_grad(z, p, d):
    with np.errstate(all="ignore"):
        if p == math.inf:
            am = np.abs(z) == d[..., None]
            return np.sign(z) * am / np.maximum(am.sum(-1, keepdims=True), 1)
        return np.where(d[..., None] > 0, np.sign(z) * np.abs(z) ** (p - 1) / d[..., None] ** (p - 1), 0.0)


@fuzz()
@given(data=st.data())
def test_triplet_margin_loss_fuzz(isa, data):
    """triplet_margin_loss (p, margin, eps, swap, every reduction) value and 3 gradients vs numpy."""
    n = data.draw(st.integers(0, 40))
    d = data.draw(st.one_of(st.integers(1, 70), st.sampled_from([1, 8, 16, 17, 64, 257])))
    shape = data.draw(st.sampled_from([(n, d), (d,)]))
    dtype = data.draw(st.sampled_from(FLOATS))
    a, p_, q = (data.draw(arrays(shape, [dtype], ["normal", "zeros"])) for _ in range(3))
    p = data.draw(st.sampled_from([2.0, 1.0, 3.0, 1.5, math.inf]))
    margin = data.draw(st.sampled_from([1.0, 0.5, 3.0]))
    eps = data.draw(st.sampled_from([1e-6, 0.0, 0.1]))
    swap = data.draw(st.booleans())
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    value, grads = L.triplet_margin_loss.value_and_grad(a, p_, q, margin=margin, p=p, eps=eps, swap=swap,
                                                        reduction=reduction)
    A64, P64, N64 = (np.atleast_2d(f64(v)) for v in (a, p_, q))
    zap, zan, zpn = A64 - P64 + eps, A64 - N64 + eps, P64 - N64 + eps
    dap, dan, dpn = _pnorm(zap, p), _pnorm(zan, p), _pnorm(zpn, p)
    use_pn = swap & (dpn < dan)
    tie = swap & (dpn == dan)
    dneg = np.where(use_pn, dpn, dan)
    hinge = margin + dap - dneg
    per = np.maximum(hinge, 0)
    # skip exact ties of the hinge / swap: the gradient is a convention there
    assume(not np.any(np.abs(hinge) < 1e-4) and not tie.any())
    assume(not np.any(np.abs(dpn - dan) < 1e-4 * (1 + dan)) or not swap)
    act = (hinge > 0)[:, None]
    gap, gan, gpn = _pnorm_grad(zap, p, dap), _pnorm_grad(zan, p, dan), _pnorm_grad(zpn, p, dpn)
    un = use_pn[:, None]
    ga = act * (gap - np.where(un, 0.0, gan))
    gp = act * (-gap - np.where(un, gpn, 0.0))
    gn = act * np.where(un, gpn, gan)
    rows = A64.shape[0]
    div = rows if reduction == "mean" else 1
    dt = np.dtype(dtype)
    mag = (np.abs(A64) + np.abs(P64) + np.abs(N64) + eps).sum(-1)
    if reduction == "none":
        check(value, per if len(shape) == 2 else per[0], mag if len(shape) == 2 else mag[0], dt, d, "triplet none")
    else:
        with np.errstate(all="ignore"):
            check(value, per.sum() / div, mag.sum() / div, dt, d, f"triplet {reduction}")
    for got, ref, nm in zip(grads, (ga, gp, gn), "apn"):
        with np.errstate(all="ignore"):
            r = ref / div
        check(got, r if len(shape) == 2 else r[0], 4 * np.ones_like(r) / div * (1 if p != 1 else 0) if
              len(shape) == 2 else 4 * np.ones_like(r[0]) / div * (1 if p != 1 else 0), dt, d, f"triplet grad {nm} p={p}")


def _giou_ref(b1, b2, eps=1e-7):
    x1, y1, x2, y2 = np.moveaxis(b1, -1, 0)
    X1, Y1, X2, Y2 = np.moveaxis(b2, -1, 0)
    iw = np.maximum(np.minimum(x2, X2) - np.maximum(x1, X1), 0)
    ih = np.maximum(np.minimum(y2, Y2) - np.maximum(y1, Y1), 0)
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (X2 - X1) * (Y2 - Y1) - inter
    iou = inter / (union + eps)
    cw = np.maximum(x2, X2) - np.minimum(x1, X1)
    ch = np.maximum(y2, Y2) - np.minimum(y1, Y1)
    area_c = cw * ch
    return 1 - iou + (area_c - union) / (area_c + eps)


@fuzz()
@given(data=st.data())
def test_generalized_box_iou_loss_fuzz(isa, data):
    """generalized_box_iou_loss value (every reduction) vs numpy, gradient vs central differences."""
    n = data.draw(st.integers(0, 40))
    lead = data.draw(st.sampled_from([(n,), (), (2, n // 2)]))
    dtype = data.draw(st.sampled_from(FLOATS))
    rng = np.random.default_rng(data.draw(seeds))

    def boxes():
        xy = rng.uniform(-10, 10, lead + (2,))
        wh = rng.uniform(0.1, 8, lead + (2,))
        return np.concatenate([xy, xy + wh], -1).astype(dtype)
    b1, b2 = boxes(), boxes()
    if data.draw(st.booleans()) and b1.size:   # some identical / overlapping boxes
        b1[..., :2] = np.where(rng.random(lead + (2,)) < 0.3, b2[..., :2] + 0.5, b1[..., :2])
        b1[..., 2:] = np.maximum(b1[..., 2:], b1[..., :2] + 0.1)
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    copies = [b1.copy(), b2.copy()]
    value, grad = L.generalized_box_iou_loss.value_and_grad(b1, b2, reduction=reduction)
    b164, b264 = f64(b1), f64(b2)
    per = _giou_ref(b164, b264)
    dt = np.dtype(dtype)
    cnt = max(per.size, 1)
    if reduction == "none":
        check(value, per, 100.0, dt, 1, "giou none")
    else:
        ref = per.sum() / (cnt if reduction == "mean" else 1) if per.size else 0.0
        check(value, ref, 100.0, dt, cnt, f"giou {reduction}")
    # gradient: central differences in float64 (h = 1e-6), so float64 is checked to ~1e-6 only
    h = 1e-6
    fd = np.zeros_like(b164)
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        fd[..., j] = (_giou_ref(b164 + e, b264) - _giou_ref(b164 - e, b264)) / (2 * h)
    # skip the rare draws within h of a kink (coinciding edges)
    edges = np.concatenate([b164[..., [0, 2]][..., :, None] - b264[..., [0, 2]][..., None, :],
                            b164[..., [1, 3]][..., :, None] - b264[..., [1, 3]][..., None, :]], -1)
    assume(not np.any(np.abs(edges) < 1e-3))
    if reduction == "mean" and per.size:
        fd = fd / per.size
    err = np.abs(f64(grad) - fd)
    assert np.all(err <= 1e-4 * (1 + np.abs(fd))), f"giou grad: max err {err.max()}"
    check_unchanged((b1, b2), copies)


# ============================================================================ threads

@fuzz(0.4)
@given(data=st.data())
def test_results_identical_for_1_and_2_threads(isa, data):
    """matmul, an activation, an element-wise loss and cross_entropy on inputs big enough to
    be threaded: bitwise-identical results for 1 and 2 threads."""
    what = data.draw(st.sampled_from(["matmul", "activation", "loss", "cross_entropy", "softmax"]))
    dtype = data.draw(st.sampled_from(FLOATS))
    rng = np.random.default_rng(data.draw(seeds))
    if what == "matmul":
        m, k, n = (data.draw(st.integers(150, 300)) for _ in range(3))
        args = (rng.normal(size=(m, k)).astype(dtype), rng.normal(size=(k, n)).astype(dtype))
        run = lambda: nnmat.matmul(*args)   # noqa: E731
    elif what == "activation":
        name = data.draw(st.sampled_from(ELEMENTWISE_ACTS))
        x = rng.normal(0, 3, data.draw(st.integers(140_000, 200_000))).astype(dtype)
        g = rng.normal(size=x.shape).astype(dtype)
        f = getattr(A, name)
        run = lambda: (f(x), f.backward(x, g))   # noqa: E731
    elif what == "loss":
        name = data.draw(st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "log_cosh_loss",
                                          "binary_cross_entropy_with_logits", "sigmoid_focal_loss"]))
        size = data.draw(st.integers(70_000, 150_000))
        x = rng.normal(size=size).astype(dtype)
        y = (rng.random(size) < 0.5).astype(dtype)
        red = data.draw(st.sampled_from(["mean", "sum"]))
        run = lambda: getattr(L, name).value_and_grad(x, y, reduction=red)   # noqa: E731
    elif what == "cross_entropy":
        C = data.draw(st.integers(2, 40))
        N = 200_000 // C
        x = rng.normal(size=(N, C)).astype(dtype)
        t = rng.integers(0, C, N)
        run = lambda: L.cross_entropy.value_and_grad(x, t, label_smoothing=0.1)   # noqa: E731
    else:
        C = data.draw(st.integers(2, 40))
        x = rng.normal(size=(200_000 // C, C)).astype(dtype)
        axis = data.draw(st.sampled_from([0, 1]))
        run = lambda: (A.softmax(x, axis=axis), A.sparsemax(x, axis=axis))   # noqa: E731

    def flat(r):
        if isinstance(r, tuple):
            return [z for v in r for z in flat(v)]
        return [np.asarray(r)]
    with nnmat.threads(1):
        one = flat(run())
    with nnmat.threads(2):
        two = flat(run())
    for u, v in zip(one, two):
        assert u.tobytes() == v.tobytes(), f"{what}: 1 and 2 threads differ"


# ============================================================================ regressions

@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_tanh_backward_accurate_in_the_tails(isa, dtype):
    """Found by fuzzing: sigmoid/tanh.backward(x) computed s (1 - s) / 1 - tanh^2, which cancel
    once s or |tanh| rounds near 1 (float32: 0.06% error at |x| = 5, 100% from |x| ~ 9)."""
    x = np.array([-5.11133, 5.11133, 9.5, -12.0, 17.0, 30.0, -40.0, 0.0, 1e-3], dtype=dtype)
    g = np.ones_like(x)
    x64 = f64(x)
    check(A.sigmoid.backward(x, g), _sigmoid(x64) * _sigmoid(-x64), None, dtype, 2, "sigmoid'")
    check(A.tanh.backward(x, g), 1 / np.cosh(x64) ** 2, None, dtype, 2, "tanh'")
    nf = np.array([np.inf, -np.inf, np.nan], dtype=dtype)
    assert np.array_equal(A.sigmoid.backward(nf, np.ones_like(nf)), [0, 0, np.nan], equal_nan=True)
    assert np.array_equal(A.tanh.backward(nf, np.ones_like(nf)), [0, 0, np.nan], equal_nan=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gelu_tanh_backward_finite_for_huge_x(isa, dtype):
    """Found by fuzzing: gelu(approximate='tanh').backward gave NaN for |x| large enough that
    x^2 overflows (0 * inf in the correction term); the derivative is 0 / 1 there."""
    big = np.finfo(dtype).max / 4
    x = np.array([-3.4987486e+23, 3.4987486e+23, -big, big, -1e10, 1e10, -20.0, 20.0], dtype=dtype)
    dx = A.gelu.backward(x, np.ones_like(x), approximate="tanh")
    d, _ = _gelu_bwd(f64(x), "tanh")
    check(dx, d, None, dtype, 2, "gelu_tanh'")
    assert np.array_equal(dx[:6], [0, 1, 0, 1, 0, 1])
