"""Small helpers shared by the test modules (imported as ``from _helpers import ...``)."""
import numpy as np

# Micro-kernel tiles per ISA (rows x columns of C), as documented in cpp/gemm/gemm_*.cpp
# (two where small problems and packed large ones use different tiles).
KERNEL_SHAPES = {
    "generic": {"float32": "4x8", "float64": "4x4"},
    "avx2": {"float32": "6x16", "float64": "6x8"},
    "avx512": {"float32": "12x32", "float64": "12x16 (small), 8x24 (packed)"},
}

LAYOUTS = ["C", "F", "T", "strided", "reversed", "bcast_rows", "bcast_cols"]


def tolerance(dtype, k):
    """Allowed error relative to |a| @ |b| for a length-k dot product computed in dtype."""
    eps = np.finfo(np.dtype(dtype)).eps
    return 8.0 * eps * np.sqrt(max(k, 1))


def assert_close_to_reference(got, ref, mag, dtype, k, what="result"):
    """|got - ref| <= tol(dtype, k) * mag elementwise (mag: the |a|@|b| magnitude, float64)."""
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    err = np.abs(got.astype(np.float64) - ref)
    bound = tolerance(dtype, k) * np.asarray(mag, dtype=np.float64) + np.finfo(np.dtype(dtype)).tiny
    bad = ~(err <= bound)  # also catches NaN in got
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements out of tolerance "
            f"(dtype {np.dtype(dtype)}, k={k}); first at {idx}: got {got[idx]!r}, "
            f"expected {ref[idx]!r}, bound {bound[idx]:.3g}"
        )


def assert_matmul_close(got, a, b, dtype=None):
    """got == a @ b (numpy semantics) within a tolerance for the computation's precision."""
    a64 = np.asarray(a).astype(np.float64)
    b64 = np.asarray(b).astype(np.float64)
    ref = np.matmul(a64, b64)
    mag = np.matmul(np.abs(a64), np.abs(b64))
    dtype = np.asarray(got).dtype if dtype is None else dtype
    assert_close_to_reference(got, ref, mag, dtype, a64.shape[-1])


def random_array(rng, shape, dtype, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(dtype)


def make_operand(rng, shape, layout, dtype):
    """A 2-D array of `shape` whose memory layout is `layout` (see LAYOUTS)."""
    rows, cols = shape
    if layout == "C":
        return random_array(rng, shape, dtype)
    if layout == "F":
        return np.asfortranarray(random_array(rng, shape, dtype))
    if layout == "T":  # a transposed view of a C-ordered array
        return random_array(rng, (cols, rows), dtype).T
    if layout == "strided":
        return random_array(rng, (2 * rows + 1, 3 * cols + 2), dtype)[1::2, ::3][:rows, :cols]
    if layout == "reversed":  # negative strides in both dimensions
        return random_array(rng, shape, dtype)[::-1, ::-1]
    if layout == "bcast_rows":  # row stride 0: every row is the same
        return np.broadcast_to(random_array(rng, (1, cols), dtype), shape)
    if layout == "bcast_cols":  # column stride 0: every column is the same
        return np.broadcast_to(random_array(rng, (rows, 1), dtype), shape)
    raise ValueError(layout)
