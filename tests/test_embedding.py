"""Embedding losses (spec/losses.md 7.1-7.4): triplet_margin_loss (torch), contrastive_loss
(Hadsell), batch_contrastive_loss (pytorch-metric-learning ContrastiveLoss), center_loss and
center_update (Caffe), angular_loss (pytorch-metric-learning AngularLoss).

References: the spec's worked examples; plain-numpy references; finite differences in float64;
torch.nn.functional.triplet_margin_loss; small torch re-implementations (autograd) of the
pytorch-metric-learning formulas (the package is not installed).
"""
import inspect
import math

import numpy as np
import pytest

import nnmat
from nnmat.losses import (angular_loss, batch_contrastive_loss, center_loss, center_update,
                          contrastive_loss, triplet_margin_loss)

R6 = dict(rtol=5e-6, atol=1e-12)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


# ==============================================================================================
# 7.1 triplet margin loss

TA = np.array([[0, 0], [1, 1], [0, 2]], dtype=np.float64)
TP = np.array([[0.5, 0], [1, 2], [0, 2.1]])
TN = np.array([[1, 0], [1.5, 1], [3, 2]], dtype=np.float64)


def np_triplet(a, p, n, margin=1.0, pn=2.0, eps=1e-6, swap=False):
    def dist(u, v):
        d = np.abs(u - v + eps)
        return d.max(-1) if np.isinf(pn) else (d ** pn).sum(-1) ** (1 / pn)
    dan = dist(a, n)
    if swap:
        dan = np.minimum(dan, dist(p, n))
    return np.maximum(margin + dist(a, p) - dan, 0)


def test_triplet_spec_example(isa):
    np.testing.assert_allclose(triplet_margin_loss(TA, TP, TN, reduction="none"), [0.5, 1.5, 0], **R6)
    assert triplet_margin_loss(TA, TP, TN) == pytest.approx(0.666667, rel=5e-6)
    assert triplet_margin_loss(TA, TP, TN, reduction="sum") == pytest.approx(2.0, rel=5e-6)
    np.testing.assert_allclose(triplet_margin_loss(TA, TP, TN, swap=True, reduction="none"),
                               [1.0, 1.5, 0], **R6)
    assert triplet_margin_loss(TA, TP, TN, swap=True) == pytest.approx(0.833333, rel=5e-6)
    ga, gp, gn = triplet_margin_loss.grad(TA, TP, TN)
    np.testing.assert_allclose(ga, [[5e-13, 3.33334e-07], [0.333334, -0.333334], [0, 0]],
                               rtol=5e-6, atol=1e-15)
    np.testing.assert_allclose(gp, [[0.333333, -6.66668e-07], [-3.33334e-07, 0.333333], [0, 0]], **R6)
    np.testing.assert_allclose(gn, [[-0.333333, 3.33334e-07], [-0.333333, 6.66668e-07], [0, 0]], **R6)
    assert triplet_margin_loss(TA, TP, TN, p=1) == pytest.approx(0.666667, rel=5e-6)
    assert triplet_margin_loss(TA, TP, TN, margin=0.5) == pytest.approx(0.333333, rel=5e-6)


@pytest.mark.parametrize("pn", [2, 1, 3, 1.5, math.inf])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_against_torch(rng, pn, swap, reduction):
    torch = pytest.importorskip("torch")
    a, p, n = (rng.normal(size=(17, 5)) for _ in range(3))
    ta, tp, tn = (torch.tensor(v, requires_grad=True) for v in (a, p, n))
    tl = torch.nn.functional.triplet_margin_loss(ta, tp, tn, margin=1.5, p=pn, swap=swap,
                                                 reduction=reduction)
    w = rng.uniform(0.5, 1.5, size=17) if reduction == "none" else None
    (tl * torch.tensor(w) if w is not None else tl).sum().backward()
    val, grads = triplet_margin_loss.value_and_grad(a, p, n, margin=1.5, p=pn, swap=swap,
                                                    reduction=reduction, grad_output=w)
    np.testing.assert_allclose(val, tl.detach().numpy(), rtol=1e-12, atol=1e-14)
    for g, t in zip(grads, (ta, tp, tn)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pn,swap", [(2, False), (2, True), (1, False), (3, True)])
def test_triplet_matches_numpy(isa, rng, dtype, pn, swap):
    a, p, n = (rng.normal(size=(31, 7)).astype(dtype) for _ in range(3))
    got = triplet_margin_loss(a, p, n, p=pn, swap=swap, reduction="none")
    assert got.dtype == dtype
    ref = np_triplet(*(v.astype(np.float64) for v in (a, p, n)), pn=pn, swap=swap)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    assert triplet_margin_loss(a, p, n, p=pn, swap=swap) == pytest.approx(ref.mean(), rel=tol)


@pytest.mark.parametrize("pn,swap", [(2, False), (3, True), (1.5, False)])
def test_triplet_finite_differences(rng, pn, swap):
    a, p, n = (rng.normal(size=(6, 4)) for _ in range(3))
    grads = triplet_margin_loss.grad(a, p, n, p=pn, swap=swap, margin=2.0, reduction="sum")
    args = [a, p, n]
    for i in range(3):
        def f(v, i=i):
            x = list(args)
            x[i] = v
            return np_triplet(*x, margin=2.0, pn=pn, swap=swap).sum()
        np.testing.assert_allclose(grads[i], numeric_grad(f, args[i]), rtol=1e-6, atol=1e-7)


def test_triplet_shapes_empty_and_layouts(rng):
    e = np.zeros((0, 3))
    assert math.isnan(triplet_margin_loss(e, e, e))
    assert triplet_margin_loss(e, e, e, reduction="sum") == 0.0
    v, g = triplet_margin_loss.value_and_grad(e, e, e, reduction="none")
    assert v.shape == (0,) and all(x.shape == (0, 3) for x in g)
    # 1-D inputs: one triplet, 'none' gives a 0-d array
    one = triplet_margin_loss(TA[1], TP[1], TN[1], reduction="none")
    assert isinstance(one, np.ndarray) and one.shape == () and one == pytest.approx(1.5, rel=1e-6)
    assert all(x.shape == (2,) for x in triplet_margin_loss.grad(TA[1], TP[1], TN[1]))
    # non-contiguous inputs, inputs untouched
    big = rng.normal(size=(3, 20, 9))
    a, p, n = big[0, ::2, ::2], np.asfortranarray(big[1])[::2, ::2], big[2, ::-2, ::2]
    keep = [x.copy() for x in (a, p, n)]
    v1, g1 = triplet_margin_loss.value_and_grad(a, p, n, reduction="none")
    v2, g2 = triplet_margin_loss.value_and_grad(*(np.ascontiguousarray(x) for x in (a, p, n)),
                                                reduction="none")
    np.testing.assert_array_equal(v1, v2)
    for x, y in zip(g1, g2):
        np.testing.assert_array_equal(x, y)
    for x, k in zip((a, p, n), keep):
        np.testing.assert_array_equal(x, k)


def test_triplet_nan_propagation():
    a = TA.copy()
    a[0, 1] = np.nan
    v, (ga, gp, gn) = triplet_margin_loss.value_and_grad(a, TP, TN, reduction="none")
    assert np.isnan(v[0]) and np.isfinite(v[1:]).all()
    assert np.isnan(ga[0]).all() and np.isfinite(ga[1:]).all()
    assert math.isnan(triplet_margin_loss(a, TP, TN))


def test_triplet_bad_input():
    with pytest.raises(ValueError, match="triplet_margin_loss: margin must be greater than 0"):
        triplet_margin_loss(TA, TP, TN, margin=0.0)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        triplet_margin_loss(TA, TP, TN, margin=-1.0)
    with pytest.raises(ValueError, match="p must be > 0"):
        triplet_margin_loss(TA, TP, TN, p=0)
    with pytest.raises(ValueError, match="positive shape"):
        triplet_margin_loss(TA, TP[:2], TN)
    with pytest.raises(ValueError, match="negative shape"):
        triplet_margin_loss(TA, TP, TN[:, :1])
    with pytest.raises(ValueError, match=r"anchor must be \(N, D\)"):
        triplet_margin_loss(TA[None], TP[None], TN[None])
    with pytest.raises(ValueError, match="reduction"):
        triplet_margin_loss(TA, TP, TN, reduction="batchmean")
    with pytest.raises(TypeError):
        triplet_margin_loss(TA, TP, TN, swap=1)


def test_triplet_thread_count_invariance(rng):
    a, p, n = (rng.normal(size=(6000, 48)) for _ in range(3))
    with nnmat.threads(1):
        v1, g1 = triplet_margin_loss.value_and_grad(a, p, n, p=3)
    with nnmat.threads(2):
        v2, g2 = triplet_margin_loss.value_and_grad(a, p, n, p=3)
    assert v1 == v2
    for x, y in zip(g1, g2):
        np.testing.assert_array_equal(x, y)


# ==============================================================================================
# 7.2a contrastive loss (Hadsell)

CX1 = np.array([[0, 0], [1, 1], [0, 1], [2, 0]], dtype=np.float64)
CX2 = np.array([[0.3, 0.4], [1, 1.5], [0, 1.2], [0, 0]])
CT = np.array([1, 0, 0, 1])


def np_contrastive(x1, x2, t, margin=1.0):
    d = np.sqrt(((x1 - x2) ** 2).sum(-1))
    return t * 0.5 * d ** 2 + (1 - t) * 0.5 * np.maximum(0, margin - d) ** 2


def test_contrastive_spec_example(isa):
    np.testing.assert_allclose(contrastive_loss(CX1, CX2, CT, reduction="none"),
                               [0.125, 0.125, 0.32, 2.0], **R6)
    assert contrastive_loss(CX1, CX2, CT) == pytest.approx(0.6425, rel=5e-6)
    assert contrastive_loss(CX1, CX2, CT, reduction="sum") == pytest.approx(2.57, rel=5e-6)
    g1, g2 = contrastive_loss.grad(CX1, CX2, CT, reduction="sum")
    dldD = np.array([0.5, -0.5, -0.8, 2.0])
    D = np.array([0.5, 0.5, 0.2, 2.0])
    np.testing.assert_allclose(g1, dldD[:, None] * (CX1 - CX2) / D[:, None], **R6)
    np.testing.assert_array_equal(g2, -g1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contrastive_random(isa, rng, dtype):
    x1 = rng.normal(size=(23, 5)).astype(dtype)
    x2 = (x1 + rng.normal(scale=0.4, size=(23, 5))).astype(dtype)
    t = rng.integers(0, 2, size=23)
    ref = np_contrastive(x1.astype(np.float64), x2.astype(np.float64), t, margin=1.3)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    v = contrastive_loss(x1, x2, t, margin=1.3, reduction="none")
    assert v.dtype == dtype
    np.testing.assert_allclose(v, ref, rtol=tol, atol=tol)
    assert contrastive_loss(x1, x2, t, margin=1.3) == pytest.approx(ref.mean(), rel=tol)
    if dtype == np.float64:
        w = rng.uniform(0.5, 2, size=23)
        g1, g2 = contrastive_loss.grad(x1, x2, t, margin=1.3, reduction="none", grad_output=w)
        f1 = lambda v: (w * np_contrastive(v, x2, t, 1.3)).sum()
        f2 = lambda v: (w * np_contrastive(x1, v, t, 1.3)).sum()
        np.testing.assert_allclose(g1, numeric_grad(f1, x1), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g2, numeric_grad(f2, x2), rtol=1e-6, atol=1e-7)


def test_contrastive_edges():
    # identical pair: D = 0 -> gradient 0 (similar) and 0 (dissimilar: direction undefined)
    v, (g1, g2) = contrastive_loss.value_and_grad([[1.0, 2.0]] * 2, [[1.0, 2.0]] * 2, [1, 0],
                                                  reduction="none")
    np.testing.assert_allclose(v, [0, 0.5])
    np.testing.assert_array_equal(g1, 0)
    e = np.zeros((0, 2))
    assert math.isnan(contrastive_loss(e, e, np.zeros(0)))
    assert contrastive_loss(e, e, np.zeros(0), reduction="sum") == 0.0
    assert contrastive_loss([0.0, 0.0], [0.3, 0.4], 1, reduction="none").shape == ()
    assert contrastive_loss(CX1, CX2, CT.astype(bool)) == pytest.approx(0.6425)
    x = CX1.copy()
    x[2, 0] = np.nan
    assert np.isnan(contrastive_loss(x, CX2, CT, reduction="none")[2])
    with pytest.raises(ValueError, match="contrastive_loss: margin"):
        contrastive_loss(CX1, CX2, CT, margin=-1)
    with pytest.raises(ValueError, match="target must have shape"):
        contrastive_loss(CX1, CX2, CT[:3])
    with pytest.raises(ValueError, match="x2 shape"):
        contrastive_loss(CX1, CX2[:, :1], CT)


# ==============================================================================================
# 7.2b batch contrastive loss (pytorch-metric-learning)

BE = np.array([[1.0, 0.2], [0.8, 0.6], [-0.5, 1.0], [0.1, 0.9], [0.6, -0.4]])
BL = np.array([0, 0, 1, 1, 0])


def np_batch_contrastive(x, lab, pm=0.0, nm=1.0, normalize=True):
    x = np.asarray(x, np.float64)
    lab = np.asarray(lab)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    eye = np.eye(len(x), dtype=bool)
    same = (lab[:, None] == lab[None]) & ~eye
    diff = lab[:, None] != lab[None]
    pos = np.maximum(d[same] - pm, 0)
    neg = np.maximum(nm - d[diff], 0)
    out = 0.0
    for v in (pos, neg):
        if (v > 0).any():
            out += v.sum() / (v > 0).sum()
    return out


def torch_batch_contrastive(torch, x, lab, pm=0.0, nm=1.0):
    u = torch.nn.functional.normalize(x, p=2, dim=1)
    d = ((u[:, None] - u[None]) ** 2).sum(-1)
    lab = torch.tensor(lab)
    eye = torch.eye(len(lab), dtype=torch.bool)
    same = (lab[:, None] == lab[None]) & ~eye
    diff = lab[:, None] != lab[None]
    # sqrt only where used (off-diagonal pairs are never at distance 0 in random data)
    pos = torch.relu(d[same].sqrt() - pm)
    neg = torch.relu(nm - d[diff].sqrt())
    return pos.sum() / (pos > 0).sum() + neg.sum() / (neg > 0).sum()


def test_batch_contrastive_spec_example(isa):
    v, g = batch_contrastive_loss.value_and_grad(BE, BL)
    assert v == pytest.approx(0.938209, rel=5e-6)
    np.testing.assert_allclose(g, [[0.00246861, -0.0123431], [-0.819409, 1.09254],
                                   [-0.191811, -0.0959054], [1.27049, -0.141165],
                                   [-0.334657, -0.501986]], **R6)
    assert batch_contrastive_loss(BE, BL, pos_margin=0.1, neg_margin=1.5, normalize=False) == \
        pytest.approx(0.935416, rel=5e-6)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_contrastive_random(isa, rng, normalize, dtype):
    x = rng.normal(size=(19, 6)).astype(dtype)
    lab = rng.integers(0, 4, size=19)
    pm, nm = (0.3, 1.2) if normalize else (1.5, 3.0)
    ref = np_batch_contrastive(x, lab, pm, nm, normalize)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    v = batch_contrastive_loss(x, lab, pos_margin=pm, neg_margin=nm, normalize=normalize)
    assert v == pytest.approx(ref, rel=tol)
    g = batch_contrastive_loss.grad(x, lab, pos_margin=pm, neg_margin=nm, normalize=normalize)
    assert g.dtype == dtype and g.shape == x.shape
    if dtype == np.float64:
        num = numeric_grad(lambda z: np_batch_contrastive(z, lab, pm, nm, normalize), x)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)


def test_batch_contrastive_against_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(24, 5))
    lab = rng.integers(0, 3, size=24)
    t = torch.tensor(x, requires_grad=True)
    tl = torch_batch_contrastive(torch, t, lab, 0.2, 1.1)
    tl.backward()
    v, g = batch_contrastive_loss.value_and_grad(x, lab, pos_margin=0.2, neg_margin=1.1,
                                                 grad_output=2.0)
    assert v == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(g, 2 * t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_batch_contrastive_edges():
    for b in (0, 1):
        v, g = batch_contrastive_loss.value_and_grad(np.ones((b, 3)), np.zeros(b, dtype=int))
        assert v == 0.0 and g.shape == (b, 3) and not g.any()
    # only positive pairs, all at distance 0 after normalisation: loss 0, gradient 0
    v, g = batch_contrastive_loss.value_and_grad([[1.0, 0], [2.0, 0]], [3, 3])
    assert v == 0.0 and not g.any()
    x = BE.copy()
    x[1, 1] = np.nan
    assert math.isnan(batch_contrastive_loss(x, BL))
    with pytest.raises(TypeError, match="batch_contrastive_loss: labels must be an integer"):
        batch_contrastive_loss(BE, BL.astype(float))
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        batch_contrastive_loss(BE, BL[:4])
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        batch_contrastive_loss(BE[0], BL[:1])
    with pytest.raises(ValueError, match="grad_output"):
        batch_contrastive_loss.grad(BE, BL, grad_output=np.ones(5))


@pytest.mark.parametrize("b", [63, 64])   # 64 rows and more: the Gram-matrix (GEMM) path
@pytest.mark.parametrize("normalize", [True, False])
def test_batch_contrastive_both_paths(isa, rng, b, normalize):
    x = rng.normal(size=(b, 4))
    lab = rng.integers(0, 4, size=b)
    x[5], lab[5] = x[9] * (1 + 1e-7), lab[9]   # nearly coinciding positive pair (direct fallback)
    x[7], lab[7] = x[8], lab[8]                 # coinciding positive pair: distance 0
    pm, nm = (0.3, 1.2) if normalize else (1.5, 3.0)
    f = lambda z: np_batch_contrastive(z, lab, pm, nm, normalize)
    v, g = batch_contrastive_loss.value_and_grad(x, lab, pos_margin=pm, neg_margin=nm, normalize=normalize)
    assert v == pytest.approx(f(x), rel=1e-12)
    num = numeric_grad(f, x)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6 * np.abs(num).max())
    v32, g32 = batch_contrastive_loss.value_and_grad(x.astype(np.float32), lab, pos_margin=pm,
                                                     neg_margin=nm, normalize=normalize)
    assert g32.dtype == np.float32
    assert v32 == pytest.approx(f(x.astype(np.float32)), rel=2e-6)
    np.testing.assert_allclose(g32, num, rtol=1e-4, atol=2e-6 * np.abs(num).max())


def test_batch_contrastive_thread_count_invariance(rng):
    x = rng.normal(size=(300, 24))
    lab = rng.integers(0, 7, size=300)
    with nnmat.threads(1):
        v1, g1 = batch_contrastive_loss.value_and_grad(x, lab, neg_margin=1.4)
    with nnmat.threads(2):
        v2, g2 = batch_contrastive_loss.value_and_grad(x, lab, neg_margin=1.4)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


# ==============================================================================================
# 7.3 center loss

CFX = np.array([[1, 2], [3, 1], [0, -1]], dtype=np.float64)
CFY = np.array([0, 1, 0])
CFC = np.array([[0.5, 1], [2, 2], [5, 5]])


def test_center_loss_spec_example(isa):
    v, g = center_loss.value_and_grad(CFX, CFY, CFC)
    assert v == pytest.approx(1.25, rel=5e-6)
    np.testing.assert_allclose(g, [[0.166667, 0.333333], [0.333333, -0.333333],
                                   [-0.166667, -0.666667]], **R6)
    keep = CFC.copy()
    new = center_update(CFX, CFY, CFC, alpha=0.5)
    np.testing.assert_allclose(new, [[0.5, 0.833333], [2.25, 1.75], [5, 5]], **R6)
    np.testing.assert_array_equal(CFC, keep)          # input centers never modified
    assert new is not CFC and not np.shares_memory(new, CFC)
    assert center_loss(CFX, CFY, CFC, reduction="sum") == pytest.approx(3.75)
    np.testing.assert_allclose(center_loss(CFX, CFY, CFC, reduction="none"), [0.625, 1.0, 2.125])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_center_loss_random(isa, rng, dtype):
    x = rng.normal(size=(37, 5)).astype(dtype)
    y = rng.integers(0, 6, size=37)
    c = rng.normal(size=(7, 5)).astype(dtype)
    diff = x.astype(np.float64) - c.astype(np.float64)[y]
    ref = 0.5 * (diff ** 2).sum(1)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    w = rng.uniform(size=37)
    v, g = center_loss.value_and_grad(x, y, c, reduction="none", grad_output=w)
    assert v.dtype == dtype and g.dtype == dtype
    np.testing.assert_allclose(v, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(g, w[:, None] * diff, rtol=tol, atol=tol)
    m, gm = center_loss.value_and_grad(x, y, c)
    assert m == pytest.approx(ref.mean(), rel=tol)
    np.testing.assert_allclose(gm, diff / 37, rtol=tol, atol=tol)
    # update vs a plain loop
    new = center_update(x, y, c, alpha=0.3)
    ref_c = c.astype(np.float64).copy()
    for j in range(7):
        idx = y == j
        if idx.any():
            ref_c[j] -= 0.3 * (c[j].astype(np.float64) - x[idx].astype(np.float64)).sum(0) / (1 + idx.sum())
    assert new.dtype == dtype
    np.testing.assert_allclose(new, ref_c, rtol=tol, atol=tol)
    np.testing.assert_array_equal(new[6], c[6])   # class 6 never appears


def test_center_loss_edges_and_bad_input(rng):
    e = np.zeros((0, 2))
    assert math.isnan(center_loss(e, np.zeros(0, int), CFC))
    assert center_loss(e, np.zeros(0, int), CFC, reduction="sum") == 0.0
    np.testing.assert_array_equal(center_update(e, np.zeros(0, int), CFC), CFC)
    x = CFX[::-1][::1].T.T   # negative strides
    np.testing.assert_array_equal(center_loss.grad(x, CFY[::-1], CFC),
                                  center_loss.grad(np.ascontiguousarray(x), CFY[::-1].copy(), CFC))
    xn = CFX.copy()
    xn[1, 0] = np.nan
    assert np.isnan(center_loss(xn, CFY, CFC, reduction="none")[1])
    with pytest.raises(IndexError, match="center_loss: label 3 is out of range for 3 centers"):
        center_loss(CFX, [0, 3, 0], CFC)
    with pytest.raises(IndexError, match="label -1"):
        center_loss(CFX, [0, -1, 0], CFC)
    with pytest.raises(IndexError, match="center_update: label 5"):
        center_update(CFX, [5, 0, 0], CFC)
    with pytest.raises(TypeError, match="labels must be an integer"):
        center_loss(CFX, [0.0, 1.0, 0.0], CFC)
    with pytest.raises(TypeError, match="labels must be an integer"):
        center_loss(CFX, [True, False, True], CFC)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        center_loss(CFX, [0, 1], CFC)
    with pytest.raises(ValueError, match="centers must have shape"):
        center_loss(CFX, CFY, CFC[:, :1])
    with pytest.raises(ValueError, match="features must be 2-D"):
        center_loss(CFX[0], CFY[:1], CFC)


# ==============================================================================================
# 7.4 angular loss

AE = np.array([[1.0, 0.2], [0.8, 0.6], [-0.5, 1.0], [0.1, 0.9]])
AL = np.array([0, 0, 1, 1])


def np_angular(x, lab, alpha=40.0, normalize_negatives=False):
    x = np.asarray(x, np.float64)
    lab = np.asarray(lab)
    t = np.tan(np.radians(alpha)) ** 2
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    r = u if normalize_negatives else x
    losses = []
    for a in range(len(x)):
        for p in range(len(x)):
            if a == p or lab[a] != lab[p]:
                continue
            neg = lab != lab[a]
            f = 4 * t * r[neg] @ (u[a] + u[p]) - 2 * (1 + t) * u[a] @ u[p]
            losses.append(np.logaddexp.reduce(np.append(f, 0.0)) if neg.any() else 0.0)
    if not losses or (lab == lab[0]).all():
        return 0.0
    return float(np.mean(losses))


def torch_angular(torch, x, lab, alpha=40.0):
    """pytorch-metric-learning AngularLoss.compute_loss, re-written (all pairs, mean reducer)."""
    lab = torch.tensor(lab)
    same = (lab[:, None] == lab[None]) & ~torch.eye(len(lab), dtype=torch.bool)
    a1, p = torch.where(same)
    anchors = torch.nn.functional.normalize(x[a1], p=2, dim=1)
    positives = torch.nn.functional.normalize(x[p], p=2, dim=1)
    keep = lab[a1][:, None] != lab[None]
    sq = torch.tan(torch.tensor(np.radians(alpha))) ** 2
    ap_dot = (anchors * positives).sum(1, keepdim=True)
    ap_emb = torch.matmul(anchors + positives, x.unsqueeze(2)).squeeze(2).t()
    f = 4 * sq * ap_emb - 2 * (1 + sq) * ap_dot
    f = f.masked_fill(~keep, torch.finfo(f.dtype).min)
    f = torch.cat([f, torch.zeros(len(a1), 1, dtype=f.dtype)], dim=1)
    return torch.logsumexp(f, dim=1).mean()


def test_angular_spec_example(isa):
    v, g = angular_loss.value_and_grad(AE, AL)
    assert v == pytest.approx(0.507668, rel=5e-6)
    np.testing.assert_allclose(g, [[-0.0539732, 0.280634], [-0.566365, 1.52438],
                                   [0.20856, 0.10136], [1.80157, 0.298978]], **R6)
    assert angular_loss(3 * AE, AL) == pytest.approx(4.47132, rel=5e-6)
    assert angular_loss(AE, AL, normalize_negatives=True) == pytest.approx(0.558823, rel=5e-6)


@pytest.mark.parametrize("normalize_negatives", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_angular_random(isa, rng, normalize_negatives, dtype):
    x = (0.5 * rng.normal(size=(14, 4))).astype(dtype)
    lab = rng.integers(0, 3, size=14)
    ref = np_angular(x, lab, 35.0, normalize_negatives)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    v, g = angular_loss.value_and_grad(x, lab, alpha=35.0, normalize_negatives=normalize_negatives)
    assert v == pytest.approx(ref, rel=tol)
    assert g.dtype == dtype
    if dtype == np.float64:
        num = numeric_grad(lambda z: np_angular(z, lab, 35.0, normalize_negatives), x)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_angular_against_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(16, 5))
    lab = rng.integers(0, 4, size=16)
    t = torch.tensor(x, requires_grad=True)
    tl = torch_angular(torch, t, lab)
    tl.backward()
    v, g = angular_loss.value_and_grad(x, lab)
    assert v == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_angular_edges_and_bad_input():
    for lab in ([0, 0, 0, 0], [0, 1, 2, 3], np.zeros(0, dtype=int)):   # no negative pair / no positive pair / empty
        x = AE[:len(lab)]
        v, g = angular_loss.value_and_grad(x, lab)
        assert v == 0.0 and g.shape == x.shape and not g.any()
    x = AE.copy()
    x[3, 0] = np.nan
    assert math.isnan(angular_loss(x, AL))
    with pytest.raises(ValueError, match="angular_loss: alpha"):
        angular_loss(AE, AL, alpha=90)
    with pytest.raises(TypeError, match="labels must be an integer"):
        angular_loss(AE, AL.astype(np.float32))
    with pytest.raises(ValueError, match="labels must have shape"):
        angular_loss(AE, AL[:2])


def test_angular_thread_count_invariance(rng):
    x = rng.normal(size=(260, 16))
    lab = rng.integers(0, 9, size=260)
    with nnmat.threads(1):
        v1, g1 = angular_loss.value_and_grad(x, lab)
    with nnmat.threads(2):
        v2, g2 = angular_loss.value_and_grad(x, lab)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


# ==============================================================================================

def test_signatures():
    sig = lambda f: str(inspect.signature(f))
    assert sig(triplet_margin_loss) == ("(anchor, positive, negative, margin=1.0, p=2, eps=1e-06, "
                                        "swap=False, reduction='mean')")
    assert sig(contrastive_loss) == "(x1, x2, target, margin=1.0, reduction='mean')"
    assert sig(batch_contrastive_loss) == "(embeddings, labels, pos_margin=0.0, neg_margin=1.0, normalize=True)"
    assert sig(center_loss) == "(features, labels, centers, reduction='mean')"
    params = inspect.signature(center_update).parameters
    assert [(k, v.default) for k, v in params.items()] == [
        ("features", inspect.Parameter.empty), ("labels", inspect.Parameter.empty),
        ("centers", inspect.Parameter.empty), ("alpha", 0.5)]
    assert sig(angular_loss) == "(embeddings, labels, alpha=40.0, normalize_negatives=False)"
