"""Property tests (hypothesis): random shapes, dtypes, layouts and ISAs against numpy."""
import contextlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnmat
from _helpers import LAYOUTS, assert_close_to_reference, assert_matmul_close, make_operand

ISAS = list(nnmat.config()["isa_available"])
SETTINGS = settings(max_examples=150, deadline=None)

dims = st.integers(0, 40)
float_dtypes = st.sampled_from([np.float32, np.float64])
isas = st.sampled_from(ISAS)
layouts = st.sampled_from(LAYOUTS)
seeds = st.integers(0, 2**32 - 1)


@contextlib.contextmanager
def using_isa(name):
    previous = nnmat._core.get_isa()
    nnmat._core.set_isa(name)
    try:
        yield
    finally:
        nnmat._core.set_isa(previous)


@SETTINGS
@given(m=dims, k=dims, n=dims, dtype=float_dtypes, layout_a=layouts, layout_b=layouts, isa=isas, seed=seeds)
def test_matmul_2d_matches_numpy(m, k, n, dtype, layout_a, layout_b, isa, seed):
    rng = np.random.default_rng(seed)
    a = make_operand(rng, (m, k), layout_a, dtype)
    b = make_operand(rng, (k, n), layout_b, dtype)
    a0, b0 = a.copy(), b.copy()
    with using_isa(isa):
        c = nnmat.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == dtype
    assert_matmul_close(c, a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=3, min_side=0, max_side=9
    ),
    dtype_a=float_dtypes,
    dtype_b=float_dtypes,
    isa=isas,
    seed=seeds,
)
def test_matmul_nd_matches_numpy(shapes, dtype_a, dtype_b, isa, seed):
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a = rng.uniform(-1, 1, shape_a).astype(dtype_a)
    b = rng.uniform(-1, 1, shape_b).astype(dtype_b)
    expected = np.matmul(a, b)
    with using_isa(isa):
        c = nnmat.matmul(a, b)
    assert np.shape(c) == expected.shape == shapes.result_shape
    assert np.result_type(c) == expected.dtype
    assert_matmul_close(np.asarray(c), a, b)


@SETTINGS
@given(
    m=dims, k=dims, n=dims, dtype=float_dtypes, isa=isas, seed=seeds,
    trans_a=st.booleans(), trans_b=st.booleans(),
    alpha=st.sampled_from([0.0, 1.0, -1.0, 0.5, 3.0]),
    beta=st.sampled_from([0.0, 1.0, -2.0, 0.25]),
    c_layout=st.sampled_from(["C", "F", "strided", "reversed"]),
)
def test_gemm_matches_blas_formula(m, k, n, dtype, isa, seed, trans_a, trans_b, alpha, beta, c_layout):
    rng = np.random.default_rng(seed)
    a = make_operand(rng, (k, m) if trans_a else (m, k), "C", dtype)
    b = make_operand(rng, (n, k) if trans_b else (k, n), "C", dtype)
    c = make_operand(rng, (m, n), c_layout, dtype)
    c0 = c.copy()
    with using_isa(isa):
        res = nnmat.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    assert res is c
    opa = (a.T if trans_a else a).astype(np.float64)
    opb = (b.T if trans_b else b).astype(np.float64)
    ref = alpha * (opa @ opb) + beta * c0.astype(np.float64)
    mag = abs(alpha) * (np.abs(opa) @ np.abs(opb)) + abs(beta) * np.abs(c0.astype(np.float64))
    assert_close_to_reference(c, ref, mag, dtype, k + 2)


@SETTINGS
@given(
    lead=st.lists(st.integers(0, 5), max_size=2), in_features=dims, out_features=dims,
    dtype=float_dtypes, with_bias=st.booleans(), isa=isas, seed=seeds,
)
def test_linear_matches_numpy(lead, in_features, out_features, dtype, with_bias, isa, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (*lead, in_features)).astype(dtype)
    w = rng.uniform(-1, 1, (out_features, in_features)).astype(dtype)
    bias = rng.uniform(-1, 1, out_features).astype(dtype) if with_bias else None
    with using_isa(isa):
        y = nnmat.linear(x, w, bias)
    assert y.shape == (*lead, out_features) and y.dtype == dtype
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = x64 @ w64.T
    mag = np.abs(x64) @ np.abs(w64).T
    if with_bias:
        ref = ref + bias
        mag = mag + np.abs(bias.astype(np.float64))
    assert_close_to_reference(y, ref, mag, dtype, in_features + 1)


ANY_DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_, np.complex64]


@SETTINGS
@given(
    m=dims, k=dims, n=dims, isa=isas, seed=seeds,
    dtype_a=st.sampled_from(ANY_DTYPES), dtype_b=st.sampled_from(ANY_DTYPES),
)
def test_matmul_any_dtype_pair_matches_numpy(m, k, n, isa, seed, dtype_a, dtype_b):
    rng = np.random.default_rng(seed)
    # small integers: every product below is exact in every dtype involved
    a = rng.integers(-2, 3, (m, k)).astype(dtype_a)
    b = rng.integers(-2, 3, (k, n)).astype(dtype_b)
    expected = np.matmul(a, b)
    with using_isa(isa):
        c = nnmat.matmul(a, b)
    assert c.dtype == expected.dtype
    assert np.array_equal(c, expected)
