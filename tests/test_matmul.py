"""nnmat.matmul against numpy.matmul: shapes, layouts, dtypes, out=, errors, special values,
and bitwise thread-count invariance (matmul, gemm, linear) on every ISA."""
import numpy as np
import pytest

import nnmat
from _helpers import LAYOUTS, assert_matmul_close, make_operand, random_array

FLOATS = [np.float32, np.float64]

# (m, k, n): zeros in every position, ones, primes, sizes around the micro-kernel tiles
# (f32 12x32 / 6x16 / 4x8, f64 12x16 / 6x8 / 4x4) and the cache blocks (kc=256, mc=480/240).
SHAPES_2D = [
    (0, 0, 0), (0, 5, 7), (5, 0, 7), (5, 7, 0), (0, 0, 3), (1, 1, 1),
    (1, 7, 1), (1, 13, 31), (31, 13, 1), (7, 13, 31), (13, 97, 7),
    (3, 5, 7), (4, 4, 4), (5, 9, 9), (6, 8, 16), (7, 3, 17), (11, 20, 31), (12, 16, 32),
    (13, 33, 33), (25, 64, 65), (49, 31, 97), (97, 251, 13), (251, 7, 97),
    (37, 255, 41), (37, 256, 41), (37, 257, 41), (61, 513, 35),
]
SHAPES_LARGE = [(257, 257, 257), (481, 300, 97), (241, 513, 129), (513, 97, 481), (600, 263, 70)]


def _id(shape):
    return "x".join(map(str, shape))


# --------------------------------------------------------------------------- 2-D values


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES_2D, ids=_id)
def test_matmul_2d_matches_reference(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    c = nnmat.matmul(a, b)
    assert isinstance(c, np.ndarray)
    assert c.shape == (m, n)
    assert c.dtype == dtype
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES_LARGE, ids=_id)
def test_matmul_2d_large_not_multiple_of_blocks(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    assert_matmul_close(nnmat.matmul(a, b), a, b)


@pytest.mark.parametrize(
    "dtype, shape",
    [(np.float32, (50, 64, 4097)), (np.float64, (50, 100, 2049))],
    ids=["f32-nc4096", "f64-nc2048"],
)
def test_matmul_columns_beyond_nc_block(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = np.asfortranarray(random_array(rng, (k, n), dtype))  # forces the packed path
    assert_matmul_close(nnmat.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("b_layout", ["F", "C", "strided"])
def test_matmul_with_tiny_cache_blocking_override(isa, rng, dtype, b_layout):
    """Every blocking loop runs many times (mc, kc, nc much smaller than the problem).

    The first row block packs each B panel just before using it, the later ones
    reuse it: several row blocks, for each layout pack_b reads.
    """
    a = np.asfortranarray(random_array(rng, (301, 70), dtype))  # with m > 4 MR: the packed path
    b = random_array(rng, (70, 2 * 83), dtype)
    b = {"F": np.asfortranarray(b[:, :83]), "C": np.ascontiguousarray(b[:, :83]), "strided": b[:, ::2]}[b_layout]
    nnmat._core.set_gemm_blocking(mc=24, kc=7, nc=48)
    try:
        c = nnmat.matmul(a, b)
    finally:
        nnmat._core.set_gemm_blocking(0, 0, 0)
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", ["C", "sliced", "reversed"])
def test_matmul_gram_products_of_tall_matrices(isa, rng, dtype, layout):
    """X.T @ X and Z.T @ X with k = 3000 (several k blocks on every ISA) and few
    columns: a column-major A and a narrow B, whose packing copies whole vectors
    where they stay inside the operand and falls back to element copies at the
    last row or column (and for negative strides); the packed path with the tile
    that wastes fewest columns."""
    def make(n):
        base = random_array(rng, (3000, 2 * n + 3), dtype)
        return {"C": np.ascontiguousarray(base[:, :n]), "sliced": base[:, 3:n + 3], "reversed": base[::-1, :n]}[layout]

    z = make(50)   # z.T @ x: 50 > 4 MR rows with a column-major A: the packed path
    for n in (1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 24, 31, 32, 33, 64):
        x = make(n)
        assert_matmul_close(nnmat.matmul(x.T, x), x.T, x)
        assert_matmul_close(nnmat.matmul(z.T, x), z.T, x)
        assert_matmul_close(nnmat.matmul(x.T, z), x.T, z)


def _arrays_before_guard_page(shape, dtype):
    """Yields C- and F-ordered arrays of `shape` whose last element ends exactly at an
    inaccessible page, so that a kernel reading past an operand crashes instead of
    passing by luck (Linux only: mmap + mprotect)."""
    import ctypes
    import mmap
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    page = mmap.PAGESIZE
    span = (nbytes + page - 1) // page * page
    buf = mmap.mmap(-1, span + page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    if libc.mprotect(base + span, page, 0) != 0:  # PROT_NONE
        pytest.skip("mprotect failed")
    try:
        mem = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=span - nbytes)
        for order in ("C", "F"):
            x = mem.view(dtype).reshape(shape, order=order)
            yield x
            del x
        del mem
    finally:
        libc.mprotect(base + span, page, mmap.PROT_READ | mmap.PROT_WRITE)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="needs mmap + mprotect")
@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_never_reads_past_an_operand(isa, rng, dtype):
    """Operands that end at an inaccessible page: partial panels are packed with
    partial vector loads, and a wrong lane count would read the next page."""
    for k, n in ((3000, 1), (3000, 3), (3000, 4), (3000, 10), (3000, 17), (40, 5), (7, 13)):
        for x in _arrays_before_guard_page((k, n), dtype):
            x[...] = random_array(rng, (k, n), dtype)
            assert_matmul_close(nnmat.matmul(x.T, x), x.T, x)
            w = random_array(rng, (60, k), dtype)
            assert_matmul_close(nnmat.matmul(w, x), w, x)
            assert_matmul_close(nnmat.matmul(x.T, w.T), x.T, w.T)


# Sizes on both sides of every path boundary of the driver: micro-tile rows and
# columns of each ISA (both tiles where small and packed problems use different
# ones), the "few rows" direct path, the tall direct path with a ragged last
# column strip, in-place vs packed A, and the packed path.
_SWEEP_M = (1, 5, 7, 8, 11, 12, 13, 25, 47, 48, 49, 60, 97, 200)
_SWEEP_N = (1, 7, 16, 17, 31, 33, 40, 100)
_SWEEP_K = (1, 10, 300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_layout", ["C", "T"])
@pytest.mark.parametrize("b_layout", ["C", "T"])  # a transposed B always takes the packed path
def test_matmul_path_boundary_sweep(isa, rng, dtype, a_layout, b_layout):
    for k in _SWEEP_K:
        for n in _SWEEP_N:
            b = random_array(rng, (k, n), dtype)
            if b_layout == "T":
                b = np.ascontiguousarray(b.T).T
            for m in _SWEEP_M:
                a = random_array(rng, (m, k), dtype)
                if a_layout == "T":
                    a = np.ascontiguousarray(a.T).T
                assert_matmul_close(nnmat.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_zero_inner_dimension_gives_zeros(isa, dtype):
    a = np.empty((4, 0), dtype)
    b = np.empty((0, 6), dtype)
    c = nnmat.matmul(a, b)
    assert c.shape == (4, 6) and c.dtype == dtype
    assert np.array_equal(c, np.zeros((4, 6), dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_small_integers_are_exact(isa, dtype):
    """Integer-valued products are exact in floating point, whatever the summation order."""
    a = np.arange(-30, 36, dtype=dtype).reshape(6, 11)
    b = (np.arange(77, dtype=dtype).reshape(11, 7) % 5) - 2
    assert np.array_equal(nnmat.matmul(a, b), a @ b)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
def test_matmul_layouts(isa, rng, dtype, layout_a, layout_b):
    # k = 263 crosses the kc=256 block; m = 61 exceeds 4 micro-tile rows on every ISA.
    a = make_operand(rng, (61, 263), layout_a, dtype)
    b = make_operand(rng, (263, 45), layout_b, dtype)
    a_before, b_before = a.copy(), b.copy()
    c = nnmat.matmul(a, b)
    assert c.shape == (61, 45) and c.dtype == dtype
    assert_matmul_close(c, a, b)
    assert np.array_equal(a, a_before) and np.array_equal(b, b_before)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(13, 7, 33), (25, 40, 17), (61, 300, 45), (100, 257, 70)], ids=_id)
def test_matmul_does_not_read_outside_operand_views(isa, rng, dtype, order, shape):
    """Operands are windows into NaN-filled arrays: reading past a tile edge would show."""
    m, k, n = shape
    big_a = np.full((m + 9, k + 9), np.nan, dtype, order=order)
    big_b = np.full((k + 9, n + 9), np.nan, dtype, order=order)
    a = big_a[4 : 4 + m, 4 : 4 + k]
    b = big_b[4 : 4 + k, 4 : 4 + n]
    a[...] = random_array(rng, (m, k), dtype)
    b[...] = random_array(rng, (k, n), dtype)
    c = nnmat.matmul(a, b)
    assert not np.isnan(c).any()
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_strided_views_of_larger_arrays(isa, rng, dtype):
    big_a = random_array(rng, (80, 90), dtype)
    big_b = random_array(rng, (70, 60), dtype)
    a = big_a[::2, ::3]  # (40, 30)
    b = big_b[5:35, ::-2]  # (30, 30), negative column stride
    assert_matmul_close(nnmat.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_byte_swapped_inputs(rng, dtype):
    a = random_array(rng, (9, 14), dtype)
    b = random_array(rng, (14, 5), dtype)
    swapped_a = a.astype(a.dtype.newbyteorder(">"))
    swapped_b = b.astype(b.dtype.newbyteorder(">"))
    c = nnmat.matmul(swapped_a, swapped_b)
    assert c.shape == (9, 5)
    assert_matmul_close(c, a, b, dtype=dtype)


def test_matmul_strides_not_a_multiple_of_itemsize(rng):
    """A field of a packed structured array has strides that are not multiples of 4;
    numpy.matmul accepts it, and so must a drop-in replacement."""
    rec = np.zeros((5, 6), dtype=[("x", np.float32), ("pad", np.uint8)])
    rec["x"] = random_array(rng, (5, 6), np.float32)
    a = rec["x"]
    assert a.strides[1] % a.itemsize != 0
    b = random_array(rng, (6, 3), np.float32)
    assert_matmul_close(nnmat.matmul(a, a.T), a, a.T)
    assert_matmul_close(nnmat.matmul(a, b), a, b)


def test_matmul_unaligned_data(rng):
    a = random_array(rng, (7, 9), np.float64)
    b = random_array(rng, (9, 33), np.float64)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    buf[1:] = np.frombuffer(a.tobytes(), np.uint8)
    ua = np.frombuffer(buf, dtype=np.float64, offset=1).reshape(7, 9)
    assert not ua.flags.aligned and np.array_equal(ua, a)
    assert_matmul_close(nnmat.matmul(ua, b), a, b)
    assert_matmul_close(nnmat.matmul(b.T, ua.T), b.T, a.T)


def test_matmul_accepts_python_lists():
    c = nnmat.matmul([[1.0, 2.0], [3.0, 4.0]], [[5.0], [6.0]])
    assert c.dtype == np.float64
    assert np.array_equal(c, np.array([[17.0], [39.0]]))


# --------------------------------------------------------------------------- 1-D and N-D


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((7,), (7, 5)),
        ((5, 7), (7,)),
        ((1,), (1, 3)),
        ((3, 1), (1,)),
        ((0,), (0, 4)),
        ((4, 0), (0,)),
        ((300,), (300, 97)),  # crosses kc with a single row
        ((97, 300), (300,)),
        ((6,), (2, 3, 6, 4)),
        ((2, 3, 4, 6), (6,)),
    ],
    ids=str,
)
def test_matmul_with_vector_operand(isa, rng, dtype, shape_a, shape_b):
    a = random_array(rng, shape_a, dtype)
    b = random_array(rng, shape_b, dtype)
    c = nnmat.matmul(a, b)
    expected = np.matmul(a, b)
    assert c.shape == expected.shape
    assert c.dtype == expected.dtype
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("k", [0, 1, 7, 300])
def test_matmul_vector_vector_returns_scalar(isa, rng, dtype, k):
    a = random_array(rng, (k,), dtype)
    b = random_array(rng, (k,), dtype)
    c = nnmat.matmul(a, b)
    expected = np.matmul(a, b)
    assert np.ndim(c) == 0
    assert not isinstance(c, np.ndarray)
    assert type(c) is type(expected)
    assert_matmul_close(np.asarray(c), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((2, 1, 3, 4), (5, 4, 6)),
        ((3, 4), (2, 4, 5)),
        ((2, 4, 5), (5, 3)),
        ((1, 3, 4), (7, 4, 5)),
        ((7, 1, 3, 4), (1, 2, 4, 5)),
        ((0, 3, 4), (4, 5)),
        ((2, 0, 4), (2, 4, 5)),
        ((3, 5, 0), (3, 0, 2)),
        ((4, 13, 31), (4, 31, 17)),
        ((2, 2, 2, 3, 4), (2, 1, 4, 1)),
    ],
    ids=str,
)
def test_matmul_batched_broadcasting(isa, rng, dtype, shape_a, shape_b):
    a = random_array(rng, shape_a, dtype)
    b = random_array(rng, shape_b, dtype)
    c = nnmat.matmul(a, b)
    assert c.shape == np.matmul(a, b).shape
    assert c.dtype == dtype
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_batched_with_stride0_and_strided_batches(isa, rng, dtype):
    a = np.broadcast_to(random_array(rng, (1, 9, 11), dtype), (6, 9, 11))  # stride-0 batch
    b = random_array(rng, (12, 11, 8), dtype)[::-2]  # negative batch stride, (6, 11, 8)
    c = nnmat.matmul(a, b)
    assert c.shape == (6, 9, 8)
    assert_matmul_close(c, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_many_small_batches(isa, rng, dtype):
    """Products too small to split, but enough of them that the batch runs on threads."""
    a = random_array(rng, (64, 33, 48), dtype)
    b = np.swapaxes(random_array(rng, (64, 41, 48), dtype), 1, 2)  # (64, 48, 41), packed B
    with nnmat.threads(2):
        c = nnmat.matmul(a, b)
    assert_matmul_close(c, a, b)
    with nnmat.threads(2):
        out = np.full((64, 33, 41), np.nan, dtype)
        nnmat.matmul(a, b, out=out)
    assert np.array_equal(out, c)


# --------------------------------------------------------------------------- out=


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_contiguous_is_returned_and_filled(isa, rng, dtype):
    a = random_array(rng, (13, 17), dtype)
    b = random_array(rng, (17, 19), dtype)
    out = np.full((13, 19), np.nan, dtype)
    res = nnmat.matmul(a, b, out=out)
    assert res is out
    assert_matmul_close(out, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_non_contiguous_view_leaves_rest_untouched(isa, rng, dtype):
    a = random_array(rng, (13, 17), dtype)
    b = random_array(rng, (17, 19), dtype)
    big = np.full((30, 60), -7.0, dtype)
    view = big[1::2, ::-3][:13, :19]
    res = nnmat.matmul(a, b, out=view)
    assert res is view
    assert_matmul_close(view, a, b)
    mask = np.ones(big.shape, bool)
    mask[1::2, ::-3][:13, :19] = False
    assert np.all(big[mask] == -7.0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_fortran_order(isa, rng, dtype):
    a = random_array(rng, (70, 33), dtype)
    b = random_array(rng, (33, 50), dtype)
    out = np.zeros((70, 50), dtype, order="F")
    nnmat.matmul(a, b, out=out)
    assert_matmul_close(out, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_aliasing_first_input(isa, rng, dtype):
    a = random_array(rng, (24, 24), dtype)
    b = random_array(rng, (24, 24), dtype)
    a0 = a.copy()
    res = nnmat.matmul(a, b, out=a)
    assert res is a
    assert_matmul_close(a, a0, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_aliasing_second_input_transposed(isa, rng, dtype):
    a = random_array(rng, (40, 40), dtype)
    b = random_array(rng, (40, 40), dtype)
    b0 = b.copy()
    nnmat.matmul(a, b.T, out=b)
    assert_matmul_close(b, a, b0.T)


# out as a view of the buffer whose first 20 rows are a: (buffer rows, out).
_OUT_BESIDE_A = {
    "overlapping": (30, lambda buf: buf[10:]),   # overlaps the last 10 rows of a
    # Negative strides: out's memory range starts below its data pointer. Rows
    # 39 .. 20, reversed: adjacent to a, not overlapping.
    "reversed-adjacent": (40, lambda buf: buf[::-1][:20]),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", sorted(_OUT_BESIDE_A))
def test_matmul_out_next_to_or_overlapping_input(isa, rng, dtype, case):
    rows, make_out = _OUT_BESIDE_A[case]
    buf = random_array(rng, (rows, 20), dtype)
    a = buf[:20]
    b = random_array(rng, (20, 20), dtype)
    a0 = a.copy()
    out = make_out(buf)
    nnmat.matmul(a, b, out=out)
    assert_matmul_close(out, a0, b)
    out = buf[::-1][10:30]   # rows 29 .. 10, reversed: overlaps a's last 10 rows
    a0 = buf[:20].copy()
    nnmat.matmul(buf[:20], b, out=out)
    assert_matmul_close(out, a0, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_square_matrix_squared_in_place(isa, rng, dtype):
    a = random_array(rng, (33, 33), dtype)
    a0 = a.copy()
    nnmat.matmul(a, a, out=a)
    assert_matmul_close(a, a0, a0)


def test_matmul_float64_out_for_float32_inputs(isa, rng):
    a = random_array(rng, (20, 30), np.float32)
    b = random_array(rng, (30, 10), np.float32)
    out = np.zeros((20, 10), np.float64)
    res = nnmat.matmul(a, b, out=out)
    assert res is out and out.dtype == np.float64
    assert_matmul_close(out, a, b, dtype=np.float32)


def test_matmul_float32_out_for_float64_inputs(isa, rng):
    a = random_array(rng, (20, 30), np.float64)
    b = random_array(rng, (30, 10), np.float64)
    out = np.zeros((20, 10), np.float32)
    nnmat.matmul(a, b, out=out)
    assert_matmul_close(out, a, b, dtype=np.float32)


def test_matmul_out_byte_swapped(rng):
    a = random_array(rng, (6, 5), np.float64)
    b = random_array(rng, (5, 4), np.float64)
    out = np.zeros((6, 4), np.dtype(">f8"))
    nnmat.matmul(a, b, out=out)
    assert_matmul_close(out.astype(np.float64), a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "shape_a, shape_b", [((3, 5, 6), (6,)), ((6,), (3, 6, 5)), ((6,), (6, 4))], ids=str
)
def test_matmul_out_with_vector_operand(isa, rng, dtype, shape_a, shape_b):
    a = random_array(rng, shape_a, dtype)
    b = random_array(rng, shape_b, dtype)
    out = np.zeros(np.matmul(a, b).shape, dtype)
    assert nnmat.matmul(a, b, out=out) is out
    assert_matmul_close(out, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_out_zero_dimensional_for_vector_dot_product(rng, dtype):
    """numpy.matmul(v, w, out=<0-d array>) writes the dot product into the 0-d array."""
    a = random_array(rng, (6,), dtype)
    b = random_array(rng, (6,), dtype)
    out = np.zeros((), dtype)
    res = nnmat.matmul(a, b, out=out)
    assert res is out
    assert_matmul_close(out, a, b)


def test_matmul_out_wrong_shape_raises_value_error(rng):
    a = random_array(rng, (3, 4), np.float64)
    b = random_array(rng, (4, 5), np.float64)
    for shape in [(3, 4), (5, 3), (1, 3, 5), (15,)]:
        with pytest.raises(ValueError):
            nnmat.matmul(a, b, out=np.zeros(shape))


def test_matmul_out_read_only_raises_value_error(rng):
    a = random_array(rng, (3, 4), np.float64)
    b = random_array(rng, (4, 5), np.float64)
    out = np.zeros((3, 5))
    out.flags.writeable = False
    with pytest.raises(ValueError):
        nnmat.matmul(a, b, out=out)
    assert np.all(out == 0)


@pytest.mark.parametrize("out_dtype", [np.int64, np.int32, np.bool_])
def test_matmul_out_uncastable_dtype_raises_type_error(rng, out_dtype):
    a = random_array(rng, (3, 4), np.float64)
    b = random_array(rng, (4, 5), np.float64)
    out = np.zeros((3, 5), out_dtype)
    with pytest.raises(TypeError):
        nnmat.matmul(a, b, out=out)
    with pytest.raises(TypeError):  # numpy agrees
        np.matmul(a, b, out=out)


def test_matmul_out_must_be_ndarray(rng):
    a = random_array(rng, (2, 2), np.float64)
    with pytest.raises(TypeError):
        nnmat.matmul(a, a, out=[[0.0, 0.0], [0.0, 0.0]])


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "dtype_a, dtype_b",
    [
        (np.int32, np.int32),
        (np.int64, np.int64),
        (np.int8, np.int16),
        (np.uint8, np.uint8),
        (np.bool_, np.bool_),
        (np.complex64, np.complex64),
        (np.complex128, np.float64),
        (np.float32, np.complex64),
        (np.float16, np.float16),
        (np.int32, np.complex128),
    ],
    ids=lambda d: np.dtype(d).name,
)
def test_matmul_non_float_dtypes_give_numpys_exact_answer(rng, dtype_a, dtype_b):
    a = (rng.integers(-3, 4, size=(7, 9)) + (0.5 if np.dtype(dtype_a).kind in "fc" else 0)).astype(dtype_a)
    b = (rng.integers(0, 4, size=(9, 5)) + (0.25 if np.dtype(dtype_b).kind in "fc" else 0)).astype(dtype_b)
    if np.dtype(dtype_a).kind == "c":
        a = a + 1j * a[::-1]
    expected = np.matmul(a, b)
    c = nnmat.matmul(a, b)
    assert c.dtype == expected.dtype
    assert np.array_equal(c, expected)


def test_matmul_integer_out_for_integer_inputs():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    b = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = np.zeros((2, 4), np.int64)
    assert nnmat.matmul(a, b, out=out) is out
    assert np.array_equal(out, a @ b)


@pytest.mark.parametrize(
    "dtype_a, dtype_b",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.int32, np.float32),
        (np.int64, np.float64),
        (np.float16, np.float32),
        (np.bool_, np.float32),
        (np.uint8, np.float64),
    ],
    ids=lambda d: np.dtype(d).name,
)
def test_matmul_mixed_dtypes_promote_like_numpy(isa, rng, dtype_a, dtype_b):
    a = (rng.integers(0, 2, size=(31, 40)) if np.dtype(dtype_a).kind in "biu" else rng.uniform(-1, 1, (31, 40)))
    b = (rng.integers(0, 2, size=(40, 17)) if np.dtype(dtype_b).kind in "biu" else rng.uniform(-1, 1, (40, 17)))
    a, b = a.astype(dtype_a), b.astype(dtype_b)
    c = nnmat.matmul(a, b)
    expected_dtype = np.matmul(a, b).dtype
    assert c.dtype == expected_dtype
    assert_matmul_close(c, a, b)


def test_matmul_object_arrays_raise_type_error():
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object)
    b = np.ones((2, 2))
    with pytest.raises(TypeError):
        nnmat.matmul(a, b)
    with pytest.raises(TypeError):
        nnmat.matmul(b, a)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("which", [0, 1])
def test_matmul_zero_dimensional_operand_raises_value_error(which):
    ops = [np.ones((2, 2)), np.ones((2, 2))]
    ops[which] = np.float64(3.0)
    with pytest.raises(ValueError, match="dimension"):
        nnmat.matmul(*ops)
    with pytest.raises(ValueError):
        nnmat.matmul(2.0, 3.0)


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((3, 4), (5, 6)), ((4,), (5,)), ((3, 4), (3,)), ((4,), (3, 4)), ((2, 3, 4), (2, 5, 6))],
    ids=str,
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_core_dimension_mismatch_raises_like_numpy(shape_a, shape_b, dtype):
    a, b = np.ones(shape_a, dtype), np.ones(shape_b, dtype)
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        np.matmul(a, b)
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        nnmat.matmul(a, b)


def test_matmul_batch_shapes_not_broadcastable_raise_value_error():
    with pytest.raises(ValueError):
        nnmat.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(ValueError):
        nnmat.matmul(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))


# --------------------------------------------------------------------------- special values


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 7, 9), (50, 300, 70)], ids=_id)
def test_matmul_nan_in_a_row_poisons_only_that_row(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = np.asfortranarray(random_array(rng, (k, n), dtype))
    a[m - 2, k // 2] = np.nan
    c = nnmat.matmul(a, b)
    assert np.all(np.isnan(c[m - 2]))
    rest = np.delete(c, m - 2, axis=0)
    assert np.all(np.isfinite(rest))
    assert_matmul_close(rest, np.delete(a, m - 2, axis=0), b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 7, 9), (50, 300, 70)], ids=_id)
def test_matmul_nan_in_b_column_poisons_only_that_column(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    b[k - 1, n - 1] = np.nan
    c = nnmat.matmul(a, b)
    assert np.array_equal(np.isnan(c), np.isnan(np.matmul(a, b)))
    assert np.all(np.isnan(c[:, n - 1])) and np.all(np.isfinite(c[:, : n - 1]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_inf_propagates_like_numpy(isa, rng, dtype):
    a = random_array(rng, (9, 20), dtype, 0.5, 1.0)  # strictly positive: no inf * 0
    b = random_array(rng, (20, 35), dtype, 0.5, 1.0)
    a[3, 4] = np.inf
    b[7, 30] = -np.inf
    c = nnmat.matmul(a, b)
    with np.errstate(invalid="ignore"):  # numpy warns about inf + -inf
        expected = np.matmul(a, b)
    assert np.array_equal(np.isnan(c), np.isnan(expected))
    assert np.array_equal(np.isposinf(c), np.isposinf(expected))
    assert np.array_equal(np.isneginf(c), np.isneginf(expected))
    assert np.isposinf(c[3, 0]) and np.isnan(c[3, 30])  # +inf + -inf


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_zero_times_inf_is_nan(isa, dtype):
    a = np.zeros((3, 4), dtype)
    b = np.ones((4, 5), dtype)
    b[2, 1] = np.inf
    c = nnmat.matmul(a, b)
    assert np.isnan(c[:, 1]).all()
    assert (c[:, [0, 2, 3, 4]] == 0).all()


# --------------------------------------------------------------------------- accuracy


def test_matmul_float32_long_sum_of_ones_is_exact(isa):
    k = 70001  # exact in float32 (< 2**24); a dropped or repeated k-block would show
    a = np.ones((3, k), np.float32)
    b = np.ones((k, 5), np.float32)
    assert np.array_equal(nnmat.matmul(a, b), np.full((3, 5), k, np.float32))


def test_matmul_float32_large_k_accuracy(isa, rng):
    k = 20000
    a = random_array(rng, (6, k), np.float32, 0.0, 1.0)
    b = random_array(rng, (k, 7), np.float32, 0.0, 1.0)
    c = nnmat.matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    # positive data: |a|@|b| == ref, so this is a plain relative error bound
    assert np.max(np.abs(c - ref) / ref) < 2e-5


def test_matmul_float64_large_k_accuracy(isa, rng):
    k = 5000
    a = random_array(rng, (5, k), np.float64)
    b = random_array(rng, (k, 4), np.float64)
    assert_matmul_close(nnmat.matmul(a, b), a, b)


# --------------------------------------------------------------------------- threads

THREADED_SHAPES = [(300, 400, 500), (1000, 64, 64), (8, 512, 512), (130, 700, 90)]


def _run_with_threads(n, fn, *args, **kwargs):
    with nnmat.threads(n):
        assert nnmat.get_num_threads() == n
        return fn(*args, **kwargs)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", THREADED_SHAPES, ids=_id)
def test_matmul_bitwise_identical_for_any_thread_count(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    c1 = _run_with_threads(1, nnmat.matmul, a, b)
    c2 = _run_with_threads(2, nnmat.matmul, a, b)
    c3 = _run_with_threads(3, nnmat.matmul, a, b)
    assert np.array_equal(c1, c2)
    assert np.array_equal(c1, c3)
    assert_matmul_close(c1, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(300, 400, 500), (8, 512, 512), (130, 700, 90)], ids=_id)
def test_matmul_transposed_inputs_bitwise_identical_for_any_thread_count(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (k, m), dtype).T  # column stride != 1: A is packed
    b = random_array(rng, (n, k), dtype).T  # column stride != 1: B is packed
    c1 = _run_with_threads(1, nnmat.matmul, a, b)
    c2 = _run_with_threads(2, nnmat.matmul, a, b)
    assert np.array_equal(c1, c2)
    assert_matmul_close(c1, a, b)


@pytest.mark.parametrize("dtype", FLOATS)
def test_batched_matmul_bitwise_identical_for_any_thread_count(isa, rng, dtype):
    a = random_array(rng, (16, 64, 72), dtype)
    b = random_array(rng, (16, 72, 56), dtype)
    c1 = _run_with_threads(1, nnmat.matmul, a, b)
    c2 = _run_with_threads(2, nnmat.matmul, a, b)
    assert np.array_equal(c1, c2)
    # each batch entry equals the 2-D product computed on its own
    for i in (0, 7, 15):
        assert np.array_equal(c1[i], nnmat.matmul(a[i], b[i]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", THREADED_SHAPES, ids=_id)
def test_gemm_alpha_beta_bitwise_identical_for_any_thread_count(isa, rng, dtype, shape):
    m, k, n = shape
    a = random_array(rng, (m, k), dtype)
    b = random_array(rng, (k, n), dtype)
    c0 = random_array(rng, (m, n), dtype)
    results = []
    for nt in (1, 2, 3):
        c = c0.copy()
        _run_with_threads(nt, nnmat.gemm, a, b, c, alpha=-1.5, beta=0.75)
        results.append(c)
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[0], results[2])


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_bitwise_identical_for_any_thread_count(isa, rng, dtype):
    x = random_array(rng, (4, 75, 300), dtype)
    w = random_array(rng, (130, 300), dtype)
    bias = random_array(rng, (130,), dtype)
    y1 = _run_with_threads(1, nnmat.linear, x, w, bias)
    y2 = _run_with_threads(2, nnmat.linear, x, w, bias)
    assert np.array_equal(y1, y2)
