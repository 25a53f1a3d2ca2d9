"""nnmat.linear: torch.nn.functional.linear semantics, x @ weight.T + bias."""
import numpy as np
import pytest

import nnmat
from _helpers import assert_close_to_reference, random_array

FLOATS = [np.float32, np.float64]


def assert_linear_close(y, x, w, bias, dtype, ref=None):
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    mag = np.abs(x64) @ np.abs(w64).T
    if ref is None:
        ref = x64 @ w64.T
        if bias is not None:
            ref = ref + np.asarray(bias, np.float64)
    if bias is not None:
        mag = mag + np.abs(np.asarray(bias, np.float64))
    assert_close_to_reference(y, ref, mag, dtype, w64.shape[1] + 1)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(
    "batch, in_features, out_features",
    [(0, 5, 3), (1, 1, 1), (7, 13, 33), (97, 257, 65), (64, 31, 1), (3, 600, 7)],
    ids=lambda v: str(v),
)
def test_linear_matches_numpy(isa, rng, dtype, with_bias, batch, in_features, out_features):
    x = random_array(rng, (batch, in_features), dtype)
    w = random_array(rng, (out_features, in_features), dtype)
    bias = random_array(rng, (out_features,), dtype) if with_bias else None
    y = nnmat.linear(x, w, bias)
    assert y.shape == (batch, out_features)
    assert y.dtype == dtype
    assert_linear_close(y, x, w, bias, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("x_shape", [(5,), (9, 20), (2, 6, 20), (2, 3, 4, 20), (0, 4, 20)], ids=str)
def test_linear_matches_torch(rng, dtype, with_bias, x_shape):
    torch = pytest.importorskip("torch")
    in_features = x_shape[-1]
    x = random_array(rng, x_shape, dtype)
    w = random_array(rng, (11, in_features), dtype)
    bias = random_array(rng, (11,), dtype) if with_bias else None
    expected = torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w), None if bias is None else torch.from_numpy(bias)
    ).numpy()
    y = nnmat.linear(x, w, bias)
    assert y.shape == expected.shape
    assert y.dtype == expected.dtype
    assert_linear_close(y, x, w, bias, dtype, ref=expected)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_one_dimensional_x(isa, rng, dtype):
    x = random_array(rng, (17,), dtype)
    w = random_array(rng, (6, 17), dtype)
    bias = random_array(rng, (6,), dtype)
    y = nnmat.linear(x, w, bias)
    assert y.shape == (6,)
    assert_linear_close(y, x, w, bias, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_three_dimensional_x(isa, rng, dtype):
    x = random_array(rng, (4, 9, 40), dtype)
    w = random_array(rng, (35, 40), dtype)
    bias = random_array(rng, (35,), dtype)
    y = nnmat.linear(x, w, bias)
    assert y.shape == (4, 9, 35)
    assert_linear_close(y, x, w, bias, dtype)
    # each leading index is an independent row
    assert np.array_equal(y[2, 5], nnmat.linear(x[2, 5], w, bias))


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_non_contiguous_operands(isa, rng, dtype):
    x = random_array(rng, (30, 50), dtype)[::2, ::-2]  # (15, 25)
    w = random_array(rng, (25, 12), dtype).T  # (12, 25), transposed view
    bias = random_array(rng, (24,), dtype)[::-2]  # (12,), negative stride
    x0, w0, b0 = x.copy(), w.copy(), bias.copy()
    y = nnmat.linear(x, w, bias)
    assert_linear_close(y, x, w, bias, dtype)
    assert np.array_equal(x, x0) and np.array_equal(w, w0) and np.array_equal(bias, b0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 40, 9), (8, 300, 33), (200, 64, 48), (130, 300, 70)], ids=str)
def test_linear_fortran_ordered_weight(isa, rng, dtype, shape):
    """weight.T is then C-contiguous, which takes the kernels' in-place (direct) B path."""
    batch, in_features, out_features = shape
    x = random_array(rng, (batch, in_features), dtype)
    w = np.asfortranarray(random_array(rng, (out_features, in_features), dtype))
    bias = random_array(rng, (out_features,), dtype)
    y = nnmat.linear(x, w, bias)
    assert_linear_close(y, x, w, bias, dtype)
    with nnmat.threads(1):
        y1 = nnmat.linear(x, w, bias)
    with nnmat.threads(2):
        y2 = nnmat.linear(x, w, bias)
    assert np.array_equal(y1, y2)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_bias_added_once_across_k_blocks(isa, rng, dtype):
    x = np.zeros((50, 700), dtype)  # k = 700: three kc blocks; x @ w.T == 0 exactly
    w = random_array(rng, (40, 700), dtype)
    bias = random_array(rng, (40,), dtype)
    y = nnmat.linear(x, w, bias)
    assert np.array_equal(y, np.broadcast_to(bias, (50, 40)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_zero_in_features_gives_bias(isa, rng, dtype):
    bias = random_array(rng, (4,), dtype)
    y = nnmat.linear(np.empty((3, 0), dtype), np.empty((4, 0), dtype), bias)
    assert np.array_equal(y, np.broadcast_to(bias, (3, 4)))
    y0 = nnmat.linear(np.empty((3, 0), dtype), np.empty((4, 0), dtype))
    assert np.array_equal(y0, np.zeros((3, 4), dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_empty_batch(isa, dtype):
    y = nnmat.linear(np.empty((0, 8), dtype), np.ones((3, 8), dtype), np.ones(3, dtype))
    assert y.shape == (0, 3) and y.dtype == dtype
    y = nnmat.linear(np.empty((2, 0, 8), dtype), np.ones((3, 8), dtype))
    assert y.shape == (2, 0, 3)


def test_linear_nan_in_bias_poisons_only_its_column(isa, rng):
    x = random_array(rng, (6, 10), np.float32)
    w = random_array(rng, (5, 10), np.float32)
    bias = np.zeros(5, np.float32)
    bias[3] = np.nan
    y = nnmat.linear(x, w, bias)
    assert np.all(np.isnan(y[:, 3]))
    assert np.all(np.isfinite(np.delete(y, 3, axis=1)))


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ((np.float32, np.float32, np.float32), np.float32),
        ((np.float32, np.float64, np.float32), np.float64),
        ((np.float32, np.float32, np.float64), np.float64),
        ((np.int64, np.float32, None), np.float64),
        ((np.int32, np.int32, np.int32), np.float64),
    ],
    ids=str,
)
def test_linear_result_dtype_is_promoted_float(rng, dtypes, expected):
    dx, dw, db = dtypes
    x = rng.integers(-3, 4, (4, 6)).astype(dx)
    w = rng.integers(-3, 4, (5, 6)).astype(dw)
    bias = None if db is None else rng.integers(-3, 4, 5).astype(db)
    y = nnmat.linear(x, w, bias)
    assert y.dtype == expected
    ref = x.astype(np.float64) @ w.astype(np.float64).T + (0 if bias is None else bias)
    assert np.array_equal(y, ref)  # small integers: exact


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bias_shape", [(6,), (4,), (1, 5), (5, 1), ()], ids=str)
def test_linear_bias_wrong_shape_raises_value_error(bias_shape):
    with pytest.raises(ValueError):
        nnmat.linear(np.ones((3, 4)), np.ones((5, 4)), np.ones(bias_shape))


@pytest.mark.parametrize("x_shape", [(3, 5), (5,), (2, 3, 3)], ids=str)
def test_linear_feature_mismatch_raises_value_error(x_shape):
    with pytest.raises(ValueError, match="features"):
        nnmat.linear(np.ones(x_shape), np.ones((6, 4)))


@pytest.mark.parametrize("w_shape", [(4,), (2, 3, 4), ()], ids=str)
def test_linear_weight_must_be_2d(w_shape):
    with pytest.raises(ValueError):
        nnmat.linear(np.ones((3, 4)), np.ones(w_shape))


def test_linear_zero_dimensional_x_raises_value_error():
    with pytest.raises(ValueError):
        nnmat.linear(np.float64(1.0), np.ones((2, 1)))


@pytest.mark.parametrize("activation", ["softmax", "log_softmax", "none", "RELU", "", 0])
def test_linear_unsupported_activation_raises_value_error(activation):
    with pytest.raises(ValueError, match="activation"):
        nnmat.linear(np.ones((2, 3)), np.ones((4, 3)), activation=activation)


def test_linear_explicit_activation_none_is_accepted():
    y = nnmat.linear(np.ones((2, 3)), np.ones((4, 3)), activation=None)
    assert np.array_equal(y, np.full((2, 4), 3.0))


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
def test_linear_complex_or_object_raise_type_error(which):
    args = {"x": np.ones((2, 3)), "weight": np.ones((4, 3)), "bias": np.ones(4)}
    for dtype in (np.complex128, object):
        bad = dict(args)
        bad[which] = args[which].astype(dtype)
        with pytest.raises(TypeError):
            nnmat.linear(bad["x"], bad["weight"], bad["bias"])


# ------------------------------------------------------------ fused activation

EPILOGUE_ACTS = ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "mish", "softplus", "leaky_relu",
                 "elu", "selu", "hardtanh", "hardsigmoid", "hardswish", "identity"]


def _act(name):
    from nnmat import activations as A
    if name == "gelu_tanh":
        return lambda z: A.gelu(z, approximate="tanh")
    if name == "identity":
        return lambda z: z
    return getattr(A, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5, 3), (7, 13, 5), (30, 64, 70), (256, 784, 256), (3, 700, 517), (129, 300, 40)])
def test_linear_fused_activation_equals_activation_of_linear(isa, rng, dtype, shape):
    m, k, n = shape
    x = rng.standard_normal((m, k)).astype(dtype)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    plain = nnmat.linear(x, w, b)
    for name in EPILOGUE_ACTS:
        fused = nnmat.linear(x, w, b, activation=name)
        # same GEMM bits, same element-wise kernel: identical results
        np.testing.assert_array_equal(fused, _act(name)(plain), err_msg=name)


def test_linear_fused_activation_thread_invariant_and_nd(rng):
    x = rng.standard_normal((4, 50, 96)).astype(np.float32)
    w = rng.standard_normal((200, 96)).astype(np.float32)
    with nnmat.threads(1):
        a = nnmat.linear(x, w, activation="gelu")
    with nnmat.threads(2):
        b = nnmat.linear(x, w, activation="gelu")
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 50, 200)
    from nnmat import activations as A
    np.testing.assert_array_equal(a, A.gelu(nnmat.linear(x, w)))


def test_linear_fused_activation_accepts_functions_and_empty(rng):
    from nnmat import activations as A
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    np.testing.assert_array_equal(nnmat.linear(x, w, activation=A.relu), nnmat.linear(x, w, activation="relu"))
    assert nnmat.linear(np.zeros((0, 4)), w, activation="relu").shape == (0, 5)
    # k == 0: the output is the activation of the bias
    out = nnmat.linear(np.zeros((2, 0)), np.zeros((3, 0)), np.array([-1.0, 0.0, 2.0]), activation="relu")
    np.testing.assert_array_equal(out, [[0, 0, 2], [0, 0, 2]])


def test_linear_fused_activation_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((64, 100)).astype(np.float32)
    w = rng.standard_normal((48, 100)).astype(np.float32) * 0.1
    b = rng.standard_normal(48).astype(np.float32)
    for name, tf in (("relu", F.relu), ("gelu", F.gelu), ("silu", F.silu), ("tanh", torch.tanh)):
        ref = tf(F.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b))).numpy()
        np.testing.assert_allclose(nnmat.linear(x, w, b, activation=name), ref, rtol=1e-4, atol=1e-5)
