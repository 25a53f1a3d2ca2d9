"""nnmat.gemm: BLAS semantics c = alpha * op(a) @ op(b) + beta * c."""
import numpy as np
import pytest

import nnmat
from _helpers import assert_close_to_reference, random_array

FLOATS = [np.float32, np.float64]


def assert_gemm_close(c, a, b, c0, alpha, beta, dtype, trans_a=False, trans_b=False):
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    a64 = a64.T if trans_a else a64
    b64 = b64.T if trans_b else b64
    ref = alpha * (a64 @ b64)
    mag = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0:
        c064 = np.asarray(c0, np.float64)
        ref = ref + beta * c064
        mag = mag + abs(beta) * np.abs(c064)
    # + 2: the alpha scaling and the beta update each round once more
    assert_close_to_reference(c, ref, mag, dtype, a64.shape[1] + 2)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.75])
@pytest.mark.parametrize("alpha", [1.0, -2.5, 0.5])
@pytest.mark.parametrize("shape", [(7, 13, 5), (37, 53, 29), (70, 600, 45)], ids=lambda s: "x".join(map(str, s)))
def test_gemm_alpha_beta_combinations(isa, rng, dtype, alpha, beta, shape):
    # k = 600 spans three kc=256 blocks: beta must be applied exactly once.
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    c0 = random_array(rng, (m, n), dtype)
    c = c0.copy()
    res = nnmat.gemm(a, b, c, alpha=alpha, beta=beta)
    assert res is c
    assert c.dtype == dtype
    assert_gemm_close(c, a, b, c0, alpha, beta, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("shape", [(11, 17, 23), (61, 263, 50)], ids=lambda s: "x".join(map(str, s)))
def test_gemm_transposes(isa, rng, dtype, trans_a, trans_b, shape):
    m, k, n = shape
    a = random_array(rng, (k, m) if trans_a else (m, k), dtype)
    b = random_array(rng, (n, k) if trans_b else (k, n), dtype)
    c0 = random_array(rng, (m, n), dtype)
    c = c0.copy()
    a_before, b_before = a.copy(), b.copy()
    nnmat.gemm(a, b, c, alpha=1.5, beta=-0.5, trans_a=trans_a, trans_b=trans_b)
    assert_gemm_close(c, a, b, c0, 1.5, -0.5, dtype, trans_a, trans_b)
    assert np.array_equal(a, a_before) and np.array_equal(b, b_before)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_transposes_of_strided_views(isa, rng, dtype):
    a = random_array(rng, (60, 50), dtype)[::3, ::-2]  # (20, 25), op(a) = (25, 20)
    b = random_array(rng, (44, 40), dtype)[::2, 1::2]  # (22, 20), op(b) = (20, 22)
    c = nnmat.gemm(a, b, trans_a=True, trans_b=True, alpha=2.0)
    assert c.shape == (25, 22)
    assert_gemm_close(c, a, b, None, 2.0, 0.0, dtype, True, True)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(6, 9, 10), (50, 300, 70)], ids=lambda s: "x".join(map(str, s)))
def test_gemm_beta_zero_ignores_nan_and_inf_in_c(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    c = np.full((m, n), np.nan, dtype)
    c[::2] = np.inf
    nnmat.gemm(a, b, c, alpha=0.5, beta=0.0)
    assert np.all(np.isfinite(c))
    assert_gemm_close(c, a, b, None, 0.5, 0.0, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_nonzero_beta_propagates_nan_in_c(isa, rng, dtype):
    a = random_array(rng, (8, 9), dtype)
    b = random_array(rng, (9, 10), dtype)
    c = random_array(rng, (8, 10), dtype)
    c[2, 3] = np.nan
    nnmat.gemm(a, b, c, beta=1e-3)
    assert np.array_equal(np.argwhere(np.isnan(c)), [[2, 3]])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("beta", [0.0, 1.0, -3.0])
def test_gemm_alpha_zero_does_not_read_a_or_b(isa, rng, dtype, beta):
    a = random_array(rng, (30, 20), dtype)
    b = random_array(rng, (20, 25), dtype)
    a[3, 4] = np.nan
    b[:, 7] = np.inf
    c0 = random_array(rng, (30, 25), dtype)
    c = c0.copy()
    nnmat.gemm(a, b, c, alpha=0.0, beta=beta)
    assert np.array_equal(c, (dtype(beta) * c0) if beta != 0 else np.zeros_like(c0))


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_alpha_zero_beta_zero_clears_nan_c(isa, dtype):
    a = np.full((4, 3), np.nan, dtype)
    b = np.full((3, 5), np.nan, dtype)
    c = np.full((4, 5), np.nan, dtype)
    nnmat.gemm(a, b, c, alpha=0.0, beta=0.0)
    assert np.array_equal(c, np.zeros((4, 5), dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_empty_inner_dimension_scales_c(isa, rng, dtype):
    c0 = random_array(rng, (5, 6), dtype)
    c = c0.copy()
    nnmat.gemm(np.empty((5, 0), dtype), np.empty((0, 6), dtype), c, alpha=2.0, beta=0.5)
    assert np.array_equal(c, dtype(0.5) * c0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 4, 0), (0, 0, 0)], ids=str)
def test_gemm_empty_output(isa, dtype, shape):
    m, k, n = shape
    c = nnmat.gemm(np.ones((m, k), dtype), np.ones((k, n), dtype))
    assert c.shape == (m, n) and c.dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_without_c_returns_new_array_and_ignores_beta(isa, rng, dtype):
    a = random_array(rng, (19, 23), dtype)
    b = random_array(rng, (23, 29), dtype)
    c = nnmat.gemm(a, b, alpha=-3.0, beta=7.0)
    assert isinstance(c, np.ndarray) and c.shape == (19, 29) and c.dtype == dtype
    assert_gemm_close(c, a, b, None, -3.0, 0.0, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_c_strided_view_updates_only_the_view(isa, rng, dtype):
    a = random_array(rng, (21, 30), dtype)
    b = random_array(rng, (30, 17), dtype)
    big = random_array(rng, (50, 60), dtype)
    big0 = big.copy()
    c = big[3::2, ::-3][:21, :17]
    c0 = c.copy()
    res = nnmat.gemm(a, b, c, alpha=1.25, beta=-1.0)
    assert res is c
    assert_gemm_close(c, a, b, c0, 1.25, -1.0, dtype)
    mask = np.ones(big.shape, bool)
    mask[3::2, ::-3][:21, :17] = False
    assert np.array_equal(big[mask], big0[mask])


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_c_fortran_order(isa, rng, dtype):
    a = random_array(rng, (64, 40), dtype)
    b = random_array(rng, (40, 70), dtype)
    c0 = np.asfortranarray(random_array(rng, (64, 70), dtype))
    c = c0.copy(order="F")
    nnmat.gemm(a, b, c, alpha=1.0, beta=2.0)
    assert_gemm_close(c, a, b, c0, 1.0, 2.0, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_c_aliasing_a(isa, rng, dtype):
    a = random_array(rng, (20, 20), dtype)
    b = random_array(rng, (20, 20), dtype)
    a0 = a.copy()
    nnmat.gemm(a, b, a, alpha=1.0, beta=1.0)
    assert_gemm_close(a, a0, b, a0, 1.0, 1.0, dtype)


def test_gemm_float64_inputs_into_float32_c(isa, rng):
    a = random_array(rng, (9, 12), np.float64)
    b = random_array(rng, (12, 7), np.float64)
    c0 = random_array(rng, (9, 7), np.float32)
    c = c0.copy()
    nnmat.gemm(a, b, c, beta=1.0)
    assert c.dtype == np.float32
    assert_gemm_close(c, a, b, c0, 1.0, 1.0, np.float32)


@pytest.mark.parametrize(
    "dtype_a, dtype_b, expected",
    [
        (np.float32, np.float32, np.float32),
        (np.float32, np.float64, np.float64),
        (np.int32, np.int64, np.float64),
        (np.int64, np.float32, np.float64),
        (np.bool_, np.bool_, np.float64),
    ],
    ids=str,
)
def test_gemm_without_c_result_dtype(rng, dtype_a, dtype_b, expected):
    a = rng.integers(0, 3, (4, 5)).astype(dtype_a)
    b = rng.integers(0, 3, (5, 6)).astype(dtype_b)
    c = nnmat.gemm(a, b, alpha=2.0)
    assert c.dtype == expected
    assert np.array_equal(c, 2.0 * (a.astype(np.float64) @ b.astype(np.float64)))


def test_gemm_accepts_numpy_scalars_for_alpha_beta(rng):
    a = random_array(rng, (3, 4), np.float32)
    b = random_array(rng, (4, 2), np.float32)
    c0 = random_array(rng, (3, 2), np.float32)
    c = c0.copy()
    nnmat.gemm(a, b, c, alpha=np.float32(2.0), beta=np.int64(1))
    assert_gemm_close(c, a, b, c0, 2.0, 1.0, np.float32)


# --------------------------------------------------------------------------- errors


def test_gemm_inner_dimension_mismatch_raises_value_error():
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((3, 4)), np.ones((5, 6)))
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((3, 4)), np.ones((4, 6)), trans_a=True)
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((3, 4)), np.ones((4, 6)), trans_b=True)


@pytest.mark.parametrize("c_shape", [(3, 5), (6, 3), (3, 6, 1), (18,)], ids=str)
def test_gemm_c_wrong_shape_raises_value_error(c_shape):
    c = np.zeros(c_shape)
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((3, 4)), np.ones((4, 6)), c)
    assert np.all(c == 0)


@pytest.mark.parametrize("shape_a, shape_b", [((4,), (4, 2)), ((2, 4), (4,)), ((1, 2, 4), (4, 2)), ((), (1, 1))], ids=str)
def test_gemm_operands_must_be_2d(shape_a, shape_b):
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones(shape_a), np.ones(shape_b))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object])
def test_gemm_complex_or_object_inputs_raise_type_error(dtype):
    a = np.ones((2, 3), dtype)
    b = np.ones((3, 2))
    with pytest.raises(TypeError):
        nnmat.gemm(a, b)
    with pytest.raises(TypeError):
        nnmat.gemm(b.T, a.T)
    with pytest.raises(TypeError):
        nnmat.gemm(a, b, np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.complex128, np.bool_])
def test_gemm_c_with_unsupported_dtype_raises_type_error(dtype):
    c = np.zeros((2, 2), dtype)
    with pytest.raises(TypeError):
        nnmat.gemm(np.ones((2, 3)), np.ones((3, 2)), c)
    assert np.all(c == 0)


def test_gemm_c_must_be_an_ndarray():
    with pytest.raises(TypeError):
        nnmat.gemm(np.ones((2, 3)), np.ones((3, 2)), [[0.0, 0.0], [0.0, 0.0]])


def test_gemm_read_only_c_raises_value_error():
    c = np.zeros((2, 2))
    c.flags.writeable = False
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((2, 3)), np.ones((3, 2)), c)
    assert np.all(c == 0)


def test_gemm_broadcast_c_is_read_only():
    c = np.broadcast_to(np.zeros((1, 2)), (2, 2))
    with pytest.raises(ValueError):
        nnmat.gemm(np.ones((2, 3)), np.ones((3, 2)), c)


@pytest.mark.parametrize(
    "bad",
    [1j, np.complex64(1), None, [1.0], object()],
    ids=["complex", "np.complex64", "None", "list", "object"],
)
@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_gemm_non_real_scalars_raise_type_error(name, bad):
    with pytest.raises(TypeError):
        nnmat.gemm(np.ones((2, 3)), np.ones((3, 2)), np.zeros((2, 2)), **{name: bad})


# ------------------------------------------------------- transposed / strided B (linear layout)

ODD_SIZES = [1, 7, 31, 33, 65]
B_LAYOUTS = ["T", "G"]  # T: a row-major (n, k) weight seen as (k, n); G: neither stride is 1


def _b_operand(rng, k, n, layout, dtype):
    if layout == "T":
        return random_array(rng, (n, k), dtype).T
    return random_array(rng, (2 * k, 3 * n), dtype)[::2, ::3]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", B_LAYOUTS)
def test_gemm_transposed_b_odd_shapes_alpha_beta(isa, rng, dtype, layout):
    for m in ODD_SIZES:
        for k in ODD_SIZES:
            for n in ODD_SIZES:
                a = random_array(rng, (m, k), dtype)
                b = _b_operand(rng, k, n, layout, dtype)
                c0 = random_array(rng, (m, n), dtype)
                c = c0.copy()
                nnmat.gemm(a, b, c, alpha=-1.25, beta=0.5)
                assert_gemm_close(c, a, b, c0, -1.25, 0.5, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 7, 33), (7, 65, 31), (33, 31, 65), (65, 33, 7), (130, 65, 33)],
                         ids=lambda s: "x".join(map(str, s)))
def test_linear_odd_shapes_with_bias(isa, rng, dtype, shape):
    m, k, n = shape
    x = random_array(rng, (m, k), dtype)
    w = random_array(rng, (n, k), dtype)
    bias = random_array(rng, (n,), dtype)
    y = nnmat.linear(x, w, bias)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = x64 @ w64.T + bias
    mag = np.abs(x64) @ np.abs(w64.T) + np.abs(bias)
    assert_close_to_reference(y, ref, mag, dtype, k + 2)


# Every path packs a B of any layout into the same panels (or reads a row-major B
# in place with the same values), so the result does not depend on B's layout.
LAYOUT_SHAPES = [(1, 65, 33), (7, 33, 65), (10, 300, 70), (16, 700, 130), (33, 31, 1), (65, 33, 1000),
                 (130, 700, 90), (600, 40, 70)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", B_LAYOUTS)
def test_gemm_result_independent_of_b_layout(isa, rng, dtype, layout):
    for m, k, n in LAYOUT_SHAPES:
        a = random_array(rng, (m, k), dtype)
        b = _b_operand(rng, k, n, layout, dtype)
        c0 = random_array(rng, (m, n), dtype)
        c_strided, c_contig = c0.copy(), c0.copy()
        nnmat.gemm(a, b, c_strided, alpha=0.75, beta=-1.0)
        nnmat.gemm(a, np.ascontiguousarray(b), c_contig, alpha=0.75, beta=-1.0)
        assert np.array_equal(c_strided, c_contig), (m, k, n)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(16, 700, 300), (10, 600, 300), (600, 40, 70), (65, 33, 1000), (130, 700, 90)],
                         ids=lambda s: "x".join(map(str, s)))
def test_gemm_transposed_b_bitwise_identical_for_any_thread_count(isa, rng, dtype, shape):
    # few rows (B packed strip by strip), 7-12 rows, tall A with a small B, packed path
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    w = random_array(rng, (n, k), dtype)
    bias = random_array(rng, (n,), dtype)
    results = []
    for nt in (1, 2, 3):
        with nnmat.threads(nt):
            results.append(nnmat.linear(a, w, bias))
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[0], results[2])
    ref = a.astype(np.float64) @ w.T.astype(np.float64) + bias
    mag = np.abs(a.astype(np.float64)) @ np.abs(w.T.astype(np.float64)) + np.abs(bias)
    assert_close_to_reference(results[0], ref, mag, dtype, k + 2)
