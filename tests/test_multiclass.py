"""Multi-class losses (spec 3.1-3.4): worked examples, plain-numpy references, finite
differences, torch (optional), every reduction, both dtypes, every ISA, edge cases."""
import math

import numpy as np
import pytest

import nnmat
from nnmat.losses import cross_entropy, kl_div, kl_divergence, nll_loss, sparsemax_loss

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------- references
def np_log_softmax(x, axis):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_ce_index(x, y, w=None, ignore=-100, eps=0.0):
    """Per-position losses and the 'mean' divisor D; x (N, C, ...) class axis 1."""
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if w is None else np.asarray(w, dtype=np.float64)
    lp = np.moveaxis(np_log_softmax(x, 1), 1, -1)    # (N, ..., C)
    valid = y != ignore
    yc = np.where(valid, y, 0)
    lpy = np.take_along_axis(lp, yc[..., None], -1)[..., 0]
    l = (1 - eps) * w[yc] * (-lpy) + eps / C * (-(lp * w).sum(-1))
    l = np.where(valid, l, 0.0)
    D = np.where(valid, w[yc], 0.0).sum()
    return l, D


def np_ce_prob(x, t, w=None, eps=0.0):
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    w = np.ones(C) if w is None else np.asarray(w, dtype=np.float64)
    tp = np.asarray(t, dtype=np.float64) * (1 - eps) + eps / C
    shape = [1] * x.ndim
    shape[1] = C
    return -(w.reshape(shape) * tp * np_log_softmax(x, 1)).sum(1)


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = h
        g[i] = (f(x + d) - f(x - d)) / (2 * h)
    return g


def close6(a, b):
    np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-6)


# ---------------------------------------------------------- spec 3.1 examples
X31 = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
T31 = np.array([[1.0, 0.0, 0.0], [0.1, 0.7, 0.2]])


def test_spec_31_prob_targets(isa):
    close6(cross_entropy(X31, T31, reduction="none"), [0.41703, 1.05318])
    close6(cross_entropy(X31, T31), 0.735104)
    close6(cross_entropy(X31, T31, reduction="sum"), 1.47021)
    close6(cross_entropy.grad(X31, T31), [[-0.170499, 0.121216, 0.0492829], [0.00805727, 0.0789884, -0.0870457]])
    w = [1.0, 2.0, 0.5]
    close6(cross_entropy(X31, T31, weight=w, reduction="none"), [0.41703, 0.795085])
    close6(cross_entropy(X31, T31, weight=w), 0.606058)
    close6(cross_entropy(X31, T31, label_smoothing=0.1), 0.830104)


# ---------------------------------------------------------- spec 3.2 examples
X32 = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [-0.3, 0.2, 1.5], [1.0, 1.0, 1.0]])
Y32 = np.array([0, 1, -100, 2])
W32 = np.array([1.0, 2.0, 0.5])


def test_spec_32_index_targets(isa):
    close6(cross_entropy(X32, Y32, reduction="none"), [0.41703, 0.153178, 0, 1.09861])
    close6(cross_entropy(X32, Y32), 0.556274)
    close6(cross_entropy(X32, Y32, reduction="sum"), 1.66882)
    close6(cross_entropy(X32, Y32, weight=W32, reduction="none"), [0.41703, 0.306356, 0, 0.549306])
    close6(cross_entropy(X32, Y32, weight=W32), 0.363626)
    close6(cross_entropy(X32, Y32, weight=W32, reduction="sum"), 1.27269)
    close6(cross_entropy(X32, Y32, label_smoothing=0.1, reduction="none"), [0.513697, 0.336512, 0, 1.09861])
    close6(cross_entropy(X32, Y32, label_smoothing=0.1), 0.649607)
    kw = dict(weight=W32, label_smoothing=0.1)
    close6(cross_entropy(X32, Y32, reduction="none", **kw), [0.522314, 0.418592, 0, 0.622547])
    close6(cross_entropy(X32, Y32, **kw), 0.446701)
    close6(cross_entropy(X32, Y32, reduction="sum", **kw), 1.56345)
    close6(cross_entropy.grad(X32, Y32, **kw), [[-0.0752425, 0.0513734, 0.0238691],
                                                [0.0540627, -0.0634889, 0.00942617], [0, 0, 0],
                                                [0.0444444, 0.0349206, -0.0793651]])
    allign = np.full(4, -100)
    assert math.isnan(cross_entropy(X32, allign))
    assert cross_entropy(X32, allign, reduction="sum") == 0.0
    np.testing.assert_array_equal(cross_entropy.grad(X32, allign), np.zeros((4, 3)))
    xk = np.array([[[2.0, 0.1], [0.5, 1.5], [-0.5, 0.3]]])
    close6(cross_entropy(xk, np.array([[0, 1]]), reduction="none"), [[0.266368, 0.436829]])


# ---------------------------------------------------------- spec 3.3 examples
P33 = np.array([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
Q33 = np.array([[0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])


def test_spec_33_kl(isa):
    lq = np.log(Q33)
    close6(kl_div(lq, P33, reduction="none"), [[0.138629, -0.207944, 0.255413], [0, 0.346574, 0]])
    close6(kl_div(lq, P33, reduction="sum"), 0.532672)
    close6(kl_div(lq, P33), 0.0887786)
    close6(kl_div(lq, P33, reduction="batchmean"), 0.266336)
    close6(kl_div.grad(lq, P33, reduction="batchmean"), [[-0.1, -0.15, -0.25], [0, -0.25, -0.25]])
    close6(kl_div(lq, np.log(np.maximum(P33, 1e-30)), reduction="batchmean", log_target=True), 0.266336)
    # Keras: prediction first
    close6(kl_divergence(Q33, P33, reduction="none"), [0.186098, 0.346572])
    np.testing.assert_allclose(kl_divergence(Q33.astype(np.float32), P33.astype(np.float32)), 0.266335, rtol=2e-6)


def test_spec_34_sparsemax_loss(isa):
    z = np.array([[1.0, 0.8, 0.1, -0.5], [0.2, 0.2, 0.2, 0.2], [-1.0, 0.0, 1.0, 0.0]])
    q = np.array([[0, 1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    close6(sparsemax_loss(z, q, reduction="none"), [0.36, 0.375, 0])
    close6(sparsemax_loss(z, q), 0.245)
    _, g = sparsemax_loss.value_and_grad(z, q, reduction="none")
    close6(g, [[0.6, -0.6, 0, 0], [-0.75, 0.25, 0.25, 0.25], [0, 0, 0, 0]])


# ------------------------------------------------- random vs numpy, FD, torch
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7), (4, 37, 3), (2, 5, 3, 2), (1, 1), (3, 100), (9,)])
def test_cross_entropy_vs_numpy(isa, rng, dt, shape):
    x = (rng.standard_normal(shape) * 2).astype(dt)
    C = shape[0] if len(shape) == 1 else shape[1]
    lshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    y = rng.integers(0, C, lshape)
    if len(lshape):
        y.flat[0] = -100
    w = rng.uniform(0.5, 2, C).astype(dt)
    x2 = x[None] if len(shape) == 1 else x
    y2 = np.asarray(y)[None] if len(shape) == 1 else y
    tol = dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-11, atol=1e-13)
    for kw in [dict(), dict(weight=w), dict(label_smoothing=0.2), dict(weight=w, label_smoothing=0.3)]:
        l, D = np_ce_index(x2, y2, kw.get("weight"), -100, kw.get("label_smoothing", 0.0))
        got = cross_entropy(x, y, reduction="none", **kw)
        assert got.dtype == dt and got.shape == lshape
        np.testing.assert_allclose(got, l.reshape(lshape), **tol)
        np.testing.assert_allclose(cross_entropy(x, y, reduction="sum", **kw), l.sum(), **tol)
        if D > 0:
            v, g = cross_entropy.value_and_grad(x, y, **kw)
            np.testing.assert_allclose(v, l.sum() / D, **tol)
            assert g.dtype == dt and g.shape == x.shape
    t = rng.uniform(0, 1, shape).astype(dt)
    for kw in [dict(), dict(weight=w), dict(label_smoothing=0.2)]:
        l = np_ce_prob(x2, t[None] if len(shape) == 1 else t, kw.get("weight"), kw.get("label_smoothing", 0.0))
        np.testing.assert_allclose(cross_entropy(x, t, reduction="none", **kw), l.reshape(lshape), **tol)
        np.testing.assert_allclose(cross_entropy(x, t, **kw), l.mean(), **tol)


def test_cross_entropy_finite_differences(rng):
    x = rng.standard_normal((3, 4, 2))
    y = np.array([[0, 3], [-100, 1], [2, 2]])
    t = rng.uniform(0, 1, (3, 4, 2))
    w = rng.uniform(0.5, 2, 4)
    go = rng.standard_normal((3, 2))
    cases = [(y, dict(weight=w, label_smoothing=0.1)), (y, dict()), (t, dict(weight=w, label_smoothing=0.2)),
             (t, dict())]
    for tgt, kw in cases:
        for red in ("mean", "sum"):
            g = cross_entropy.grad(x, tgt, reduction=red, **kw)
            np.testing.assert_allclose(g, fd_grad(lambda z: cross_entropy(z, tgt, reduction=red, **kw), x),
                                       atol=1e-8)
        g = cross_entropy.grad(x, tgt, reduction="none", grad_output=go, **kw)
        num = fd_grad(lambda z: (cross_entropy(z, tgt, reduction="none", **kw) * go).sum(), x)
        np.testing.assert_allclose(g, num, atol=1e-8)
    # nll, kl, keras kl, sparsemax loss
    lp = np_log_softmax(x, 1)
    for red in ("mean", "sum"):
        np.testing.assert_allclose(nll_loss.grad(lp, y, weight=w, reduction=red),
                                   fd_grad(lambda z: nll_loss(z, y, weight=w, reduction=red), lp), atol=1e-8)
    p = rng.uniform(0.05, 1, (3, 5))
    q = rng.uniform(0.05, 1, (3, 5))
    for red in ("mean", "sum", "batchmean"):
        for lt in (False, True):
            tt = np.log(p) if lt else p
            np.testing.assert_allclose(kl_div.grad(np.log(q), tt, reduction=red, log_target=lt),
                                       fd_grad(lambda z: kl_div(z, tt, reduction=red, log_target=lt), np.log(q)),
                                       atol=1e-8)
    np.testing.assert_allclose(kl_divergence.grad(q, p), fd_grad(lambda z: kl_divergence(z, p), q), atol=1e-7)
    z = rng.standard_normal((4, 6))
    qq = rng.dirichlet(np.ones(6), 4)
    np.testing.assert_allclose(sparsemax_loss.grad(z, qq), fd_grad(lambda v: sparsemax_loss(v, qq), z), atol=1e-7)


@pytest.mark.parametrize("dt", DTYPES)
def test_cross_entropy_nll_vs_torch(isa, rng, dt):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tol = dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-11, atol=1e-13)
    for shape in [(6, 11), (3, 5, 4, 2)]:
        x = (rng.standard_normal(shape) * 2).astype(dt)
        C = shape[1]
        y = rng.integers(0, C, (shape[0],) + shape[2:])
        y.flat[1] = 3 if C > 3 else 0
        y.flat[0] = 2   # used as ignore_index below
        t = rng.dirichlet(np.ones(C), size=(shape[0],) + shape[2:]).astype(dt)
        t = np.moveaxis(t, -1, 1).copy()
        w = rng.uniform(0.5, 2, C).astype(dt)
        for tgt in (y, t):
            for kw in [dict(), dict(weight=w), dict(label_smoothing=0.15), dict(weight=w, label_smoothing=0.05),
                       dict(ignore_index=2)]:
                if tgt is t and "ignore_index" in kw:
                    continue
                for red in ("mean", "sum", "none"):
                    xt = torch.from_numpy(x.copy()).requires_grad_()
                    tk = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
                    ref = F.cross_entropy(xt, torch.from_numpy(tgt), reduction=red, **tk)
                    go = rng.standard_normal(ref.shape).astype(dt)
                    ref.backward(torch.from_numpy(go) if red == "none" else None)
                    v, g = cross_entropy.value_and_grad(x, tgt, reduction=red,
                                                        grad_output=go if red == "none" else None, **kw)
                    np.testing.assert_allclose(v, ref.detach().numpy(), **tol)
                    np.testing.assert_allclose(g, xt.grad.numpy(), **tol)
                    if tgt is y and "label_smoothing" not in kw:
                        lp = np_log_softmax(x, 1).astype(dt)
                        lpt = torch.from_numpy(lp.copy()).requires_grad_()
                        ref = F.nll_loss(lpt, torch.from_numpy(y), reduction=red, **tk)
                        ref.backward(torch.from_numpy(go) if red == "none" else None)
                        v, g = nll_loss.value_and_grad(lp, y, reduction=red,
                                                       grad_output=go if red == "none" else None, **kw)
                        np.testing.assert_allclose(v, ref.detach().numpy(), **tol)
                        np.testing.assert_allclose(g, lpt.grad.numpy(), **tol)


@pytest.mark.parametrize("dt", DTYPES)
def test_kl_div_vs_torch(isa, rng, dt):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.log(rng.dirichlet(np.ones(7), 5)).astype(dt)
    p = rng.dirichlet(np.ones(7), 5).astype(dt)
    p[0, 0] = 0
    tol = dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-11, atol=1e-13)
    for lt in (False, True):
        tgt = np.log(np.maximum(p, 1e-30)).astype(dt) if lt else p
        for red in ("mean", "sum", "none", "batchmean"):
            xt = torch.from_numpy(x.copy()).requires_grad_()
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = F.kl_div(xt, torch.from_numpy(tgt), reduction=red, log_target=lt)
            ref.sum().backward()
            v, g = kl_div.value_and_grad(x, tgt, reduction=red, log_target=lt,
                                         grad_output=np.ones_like(x) if red == "none" else None)
            np.testing.assert_allclose(v, ref.detach().numpy(), **tol)
            np.testing.assert_allclose(g, xt.grad.numpy(), **tol)


def test_keras_kl_and_sparsemax_loss_vs_numpy(isa, rng):
    yp = rng.dirichlet(np.ones(9), (2, 3))
    yt = rng.dirichlet(np.ones(9), (2, 3))
    yt[0, 0, :4] = 0
    yp[1, 1, 2] = 0
    cp, ct = np.clip(yp, 1e-7, 1), np.clip(yt, 1e-7, 1)
    ref = (ct * np.log(ct / cp)).sum(-1)
    np.testing.assert_allclose(kl_divergence(yp, yt, reduction="none"), ref, rtol=1e-12)
    np.testing.assert_allclose(kl_divergence(yp, yt), ref.mean(), rtol=1e-12)
    g = kl_divergence.grad(yp, yt, reduction="sum")
    np.testing.assert_allclose(g, np.where(yp < 1e-7, 0, -ct / cp), rtol=1e-12)
    # sparsemax loss vs the formula (numpy sparsemax)
    z = rng.standard_normal((7, 13)) * 2
    q = rng.dirichlet(np.ones(13), 7)
    zs = -np.sort(-z, 1)
    cs = np.cumsum(zs, 1)
    k = np.arange(1, 14)
    kz = (1 + k * zs > cs).sum(1)
    tau = (cs[np.arange(7), kz - 1] - 1) / kz
    p = np.maximum(z - tau[:, None], 0)
    L = np.where(p > 0, p * (z - p / 2), 0).sum(1) + (q * (q / 2 - z)).sum(1)
    np.testing.assert_allclose(sparsemax_loss(z, q, reduction="none"), L, rtol=1e-12, atol=1e-14)
    v, g = sparsemax_loss.value_and_grad(z, q, reduction="sum")
    np.testing.assert_allclose(v, L.sum(), rtol=1e-12)
    np.testing.assert_allclose(g, p - q, atol=1e-14)


# ---------------------------------------------------------------- properties
def test_thread_invariance_bitwise(rng):
    x = rng.standard_normal((1024, 257)).astype(np.float32)
    y = rng.integers(0, 257, 1024)
    y[::7] = -100
    t = rng.uniform(0, 1, (1024, 257)).astype(np.float32)
    xk = rng.standard_normal((8, 40, 150)).astype(np.float32)
    yk = rng.integers(0, 40, (8, 150))
    res = []
    for nt in (1, 2):
        with nnmat.threads(nt):
            res.append([cross_entropy.value_and_grad(x, y, label_smoothing=0.1),
                        cross_entropy.value_and_grad(x, t),
                        cross_entropy.value_and_grad(xk, yk),
                        nll_loss.value_and_grad(x, y),
                        kl_div.value_and_grad(x, t)])
    for (v1, g1), (v2, g2) in zip(*res):
        assert v1 == v2
        np.testing.assert_array_equal(g1, g2)


def test_value_and_grad_consistent(isa, rng):
    x = rng.standard_normal((33, 17)).astype(np.float32)
    y = rng.integers(0, 17, 33)
    v, g = cross_entropy.value_and_grad(x, y)
    assert v == cross_entropy(x, y)
    np.testing.assert_array_equal(g, cross_entropy.grad(x, y))
    assert isinstance(v, float)


def test_non_contiguous_and_int_inputs(isa, rng):
    x = rng.standard_normal((10, 12))
    xv = x[::2, ::2]
    y = np.array([0, 5, 2, 1, 3], dtype=np.int32)
    close6(cross_entropy(xv, y), cross_entropy(np.ascontiguousarray(xv), y.astype(np.int64)))
    xi = np.array([[1, 2, 3], [0, 0, 1]])
    assert cross_entropy(xi, [2, 0], reduction="none").dtype == np.float64
    assert cross_entropy(xi.astype(np.float32), np.array([2, 0], np.uint8), reduction="none").dtype == np.float32
    x0 = x.copy()
    cross_entropy.value_and_grad(x, np.zeros(10, int))
    np.testing.assert_array_equal(x, x0)


def test_nan_propagation(isa):
    x = np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 3.0]])
    l = cross_entropy(x, np.array([0, 1]), reduction="none")
    assert math.isnan(l[0]) and not math.isnan(l[1])
    g = cross_entropy.grad(x, np.array([0, 1]))
    assert np.isnan(g[0]).all() and np.isfinite(g[1]).all()
    assert math.isnan(kl_div(np.array([np.nan, 0.0]), np.array([0.5, 0.5])))
    assert math.isnan(cross_entropy(np.array([[-np.inf, -np.inf]]), np.array([0])))


def test_empty(isa):
    x = np.zeros((0, 4))
    y = np.zeros(0, int)
    assert math.isnan(cross_entropy(x, y))
    assert cross_entropy(x, y, reduction="sum") == 0.0
    assert cross_entropy(x, y, reduction="none").shape == (0,)
    assert cross_entropy.grad(x, y).shape == (0, 4)
    assert math.isnan(cross_entropy(x, x))
    assert math.isnan(nll_loss(x, y))
    assert math.isnan(kl_div(x, x))
    assert kl_div(x, x, reduction="sum") == 0.0
    assert kl_divergence(x, x) == 0.0


def test_1d_input_and_grad_output(isa):
    x = np.array([2.0, 1.0, 0.1])
    v = cross_entropy(x, 0, reduction="none")
    assert v.shape == ()
    close6(float(v), 0.41703)
    close6(cross_entropy(x, np.array([1.0, 0, 0])), 0.41703)
    g = cross_entropy.grad(x, 0, reduction="none", grad_output=np.array(2.0))
    close6(g, 2 * cross_entropy.grad(x, 0))
    g = cross_entropy.grad(X32, Y32, reduction="mean", grad_output=3.0)
    close6(g, 3 * cross_entropy.grad(X32, Y32))


def test_bad_input():
    x = np.zeros((2, 3))
    with pytest.raises(IndexError, match="Target 3"):
        cross_entropy(x, np.array([0, 3]))
    with pytest.raises(IndexError, match="Target -1"):
        nll_loss(x, np.array([0, -1]))
    with pytest.raises(TypeError):
        cross_entropy(x, np.array([0.0, 1.0]))        # float class indices
    with pytest.raises(TypeError):
        cross_entropy(x, np.zeros((2, 3), int))       # integer "probabilities"
    with pytest.raises(ValueError):
        cross_entropy(x, np.array([0, 1, 2]))          # wrong target shape
    with pytest.raises(ValueError):
        cross_entropy(x, np.zeros((2, 3)), ignore_index=1)
    with pytest.raises(ValueError):
        cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError):
        cross_entropy(x, np.array([0, 1]), label_smoothing=float("nan"))
    with pytest.raises(ValueError):
        cross_entropy(x, np.array([0, 1]), weight=[1.0, 2.0])
    with pytest.raises(ValueError):
        cross_entropy(x, np.array([0, 1]), reduction="batchmean")
    with pytest.raises(ValueError):
        cross_entropy(np.float64(1.0), 0)
    with pytest.raises(ValueError):
        cross_entropy.grad(x, np.array([0, 1]), reduction="none", grad_output=np.ones(3))
    with pytest.raises(ValueError):
        kl_div(x, np.zeros((3, 2)))
    with pytest.raises(ValueError):
        kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError):
        kl_divergence(x, np.zeros((2, 4)))
    with pytest.raises(ValueError):
        sparsemax_loss(x, np.zeros((3, 3)))
    with pytest.raises(TypeError):
        cross_entropy(x, np.array([0, 1]), ignore_index=1.5)


def test_value_only_rows_match_value_and_grad(isa, rng):
    # value-only losses run another row loop than value_and_grad (the next row's max
    # interleaved); per-row arithmetic is the same, so the values are bitwise equal,
    # also around ignored rows (runs of 1, 2 and more valid rows).
    for dt in DTYPES:
        x = (rng.standard_normal((40, 37)) * 3).astype(dt)
        y = rng.integers(0, 37, 40)
        y[[0, 2, 5, 6, 39]] = -100
        w = rng.uniform(0.5, 2, 37).astype(dt)
        for kw in [dict(), dict(weight=w), dict(label_smoothing=0.1), dict(weight=w, label_smoothing=0.2)]:
            v = cross_entropy(x, y, reduction="none", **kw)
            v2, _ = cross_entropy.value_and_grad(x, y, reduction="none", **kw)
            np.testing.assert_array_equal(v, v2)
            assert v[0] == 0 and v[39] == 0
