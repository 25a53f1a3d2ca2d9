"""Box losses (spec/losses.md 6.1-6.4): iou_loss (mmdetection), generalized/distance/complete
box IoU losses (torchvision).

References: the spec's worked examples; plain-numpy value references; finite differences in
float64; a small torch re-implementation of the torchvision / mmdetection formulas with autograd
(torchvision itself is not installed), which also fixes the tie rule (torch.max/min split 0.5).
"""
import math

import numpy as np
import pytest

import nnmat
from nnmat.losses import (complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss,
                          iou_loss)

B1 = np.array([[0, 0, 2, 2], [1, 1, 3, 4], [0, 0, 1, 1], [0, 0, 4, 2]], dtype=np.float64)
B2 = np.array([[1, 1, 3, 3], [1, 1, 3, 4], [2, 2, 3, 3], [1, 0, 3, 3]], dtype=np.float64)

TV = {  # torchvision-style losses, default reduction 'none'
    "giou": generalized_box_iou_loss,
    "diou": distance_box_iou_loss,
    "ciou": complete_box_iou_loss,
}
ALL = [("iou", m) for m in ("linear", "square", "log")] + [(k, None) for k in TV]


def call(kind, mode, fn_attr, *args, **kw):
    if kind == "iou":
        f = iou_loss
        kw.setdefault("mode", mode)
    else:
        f = TV[kind]
    f = f if fn_attr is None else getattr(f, fn_attr)
    return f(*args, **kw)


def rel(digits=6):
    return dict(rtol=0.5 * 10.0 ** (1 - digits), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Independent references

def np_box_loss(kind, b1, b2, mode="log", eps=None, alpha=None):
    """Plain-numpy per-box values, straight from the spec's formulas."""
    b1 = np.asarray(b1, np.float64).reshape(-1, 4)
    b2 = np.asarray(b2, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b1.T
    g1, h1, g2, h2 = b2.T
    area1 = (x2 - x1) * (y2 - y1)
    area2 = (g2 - g1) * (h2 - h1)
    iw = np.minimum(x2, g2) - np.maximum(x1, g1)
    ih = np.minimum(y2, h2) - np.maximum(y1, h1)
    if kind == "iou":
        eps = 1e-6 if eps is None else eps
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        union = np.maximum(area1 + area2 - inter, 1e-6)
        iou = np.maximum(inter / union, eps)
        return {"linear": 1 - iou, "square": 1 - iou ** 2, "log": -np.log(iou)}[mode]
    eps = 1e-7 if eps is None else eps
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = area1 + area2 - inter
    cw = np.maximum(x2, g2) - np.minimum(x1, g1)
    ch = np.maximum(y2, h2) - np.minimum(y1, h1)
    if kind == "giou":
        iou = inter / (union + eps)
        return 1 - iou + (cw * ch - union) / (cw * ch + eps)
    iou = inter / (union + 1e-7 if kind == "ciou" else union + eps)
    c2 = cw ** 2 + ch ** 2 + (1e-7 if kind == "ciou" else eps)
    rho2 = ((x1 + x2) / 2 - (g1 + g2) / 2) ** 2 + ((y1 + y2) / 2 - (h1 + h2) / 2) ** 2
    diou = 1 - iou + rho2 / c2
    if kind == "diou":
        return diou
    with np.errstate(divide="ignore", invalid="ignore"):
        v = 4 / math.pi ** 2 * (np.arctan((g2 - g1) / (h2 - h1)) - np.arctan((x2 - x1) / (y2 - y1))) ** 2
    if alpha is None:
        alpha = v / (1 - iou + v + eps)
    return diou + alpha * v


def np_ciou_alpha(b1, b2, eps=1e-7):
    """CIoU's alpha = v / (1 - IoU + v + eps) at (b1, b2) (IoU with torchvision's 1e-7)."""
    x1, y1, x2, y2 = np.asarray(b1, np.float64).reshape(-1, 4).T
    g1, h1, g2, h2 = np.asarray(b2, np.float64).reshape(-1, 4).T
    v = 4 / math.pi ** 2 * (np.arctan((g2 - g1) / (h2 - h1)) - np.arctan((x2 - x1) / (y2 - y1))) ** 2
    iw = np.minimum(x2, g2) - np.maximum(x1, g1)
    ih = np.minimum(y2, h2) - np.maximum(y1, h1)
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (x2 - x1) * (y2 - y1) + (g2 - g1) * (h2 - h1) - inter
    iou = inter / (union + 1e-7)
    return v / (1 - iou + v + eps)


def torch_box_loss(torch, kind, b1, b2, mode="log", eps=None):
    """torchvision 0.28 / mmdetection formulas re-written with torch ops (autograd gives the
    reference gradient, including torch.max/min's 0.5/0.5 split on ties)."""
    x1, y1, x2, y2 = b1.unbind(-1)
    g1, h1, g2, h2 = b2.unbind(-1)
    if kind == "iou":
        eps = 1e-6 if eps is None else eps
        lt = torch.max(b1[..., :2], b2[..., :2])
        rb = torch.min(b1[..., 2:], b2[..., 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        area1 = (x2 - x1) * (y2 - y1)
        area2 = (g2 - g1) * (h2 - h1)
        union = torch.max(area1 + area2 - overlap, union_eps := b1.new_tensor([1e-6]))
        del union_eps
        ious = (overlap / union).clamp(min=eps)
        return {"linear": lambda: 1 - ious, "square": lambda: 1 - ious ** 2,
                "log": lambda: -ious.log()}[mode]()
    eps = 1e-7 if eps is None else eps

    def inter_union(e):
        xk1, yk1 = torch.max(x1, g1), torch.max(y1, h1)
        xk2, yk2 = torch.min(x2, g2), torch.min(y2, h2)
        inter = torch.zeros_like(x1)
        mask = (yk2 > yk1) & (xk2 > xk1)
        inter[mask] = (xk2[mask] - xk1[mask]) * (yk2[mask] - yk1[mask])
        union = (x2 - x1) * (y2 - y1) + (g2 - g1) * (h2 - h1) - inter
        return inter, union

    def diou_iou(e):
        inter, union = inter_union(e)
        iou = inter / (union + e)
        xc1, yc1 = torch.min(x1, g1), torch.min(y1, h1)
        xc2, yc2 = torch.max(x2, g2), torch.max(y2, h2)
        diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + e
        cen = ((x2 + x1) / 2 - (g1 + g2) / 2) ** 2 + ((y2 + y1) / 2 - (h1 + h2) / 2) ** 2
        return 1 - iou + cen / diag, iou

    if kind == "giou":
        inter, union = inter_union(eps)
        iou = inter / (union + eps)
        xc1, yc1 = torch.min(x1, g1), torch.min(y1, h1)
        xc2, yc2 = torch.max(x2, g2), torch.max(y2, h2)
        area_c = (xc2 - xc1) * (yc2 - yc1)
        return 1 - (iou - (area_c - union) / (area_c + eps))
    if kind == "diou":
        return diou_iou(eps)[0]
    d, iou = diou_iou(1e-7)
    v = (4 / math.pi ** 2) * (torch.atan((g2 - g1) / (h2 - h1)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return d + alpha * v


def random_boxes(rng, n, integer=False, positive=True):
    """n valid boxes; integer=True gives small integer corners (many ties and touching edges)."""
    if integer:
        xy = rng.integers(0, 4, size=(n, 2)).astype(np.float64)
        wh = rng.integers(1 if positive else 0, 4, size=(n, 2)).astype(np.float64)
    else:
        xy = rng.uniform(-2, 2, size=(n, 2))
        wh = rng.uniform(0.2, 3, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# ----------------------------------------------------------------------------------------------
# Worked examples of the spec (float64, 6 significant digits)

@pytest.mark.parametrize("mode,none,mean,g1,g4", [
    ("linear", [0.857143, 0, 0.999999, 0.6], 0.614285,
     [-0.0408163, -0.0408163, -0.122449, -0.122449], [-0.08, -0.02, 0.08, -0.12]),
    ("square", [0.979592, 0, 1.0, 0.84], None, None, None),
    ("log", [1.94591, 0, 13.8155, 0.916291], 4.16943,
     [-0.285714, -0.285714, -0.857143, -0.857143], [-0.2, -0.05, 0.2, -0.3]),
])
def test_iou_loss_spec_example(isa, mode, none, mean, g1, g4):
    np.testing.assert_allclose(iou_loss(B1, B2, mode=mode, reduction="none"), none, **rel())
    if mean is not None:
        # the spec prints 0.614285 for 0.61428546... (truncated); 5 digits then
        assert iou_loss(B1, B2, mode=mode) == pytest.approx(mean, rel=2e-6)
    if g1 is not None:
        g = iou_loss.grad(B1, B2, mode=mode, reduction="sum")
        np.testing.assert_allclose(g[0], g1, **rel())
        np.testing.assert_allclose(g[3], g4, **rel())
        np.testing.assert_array_equal(g[1:3], 0.0)   # identical boxes: dIoU = 0; disjoint: clamp


def test_iou_loss_default_is_log_mean():
    assert iou_loss(B1, B2) == pytest.approx(4.16943, rel=1e-6)


def test_giou_spec_example(isa):
    f = generalized_box_iou_loss
    np.testing.assert_allclose(f(B1, B2), [1.07937, 1.66667e-08, 1.77778, 0.766667], **rel())
    assert f(B1, B2, reduction="mean") == pytest.approx(0.905952, rel=1e-6)
    assert f(B1, B2, reduction="sum") == pytest.approx(3.62381, rel=1e-6)
    g = f.grad(B1, B2, reduction="sum")
    np.testing.assert_allclose(g[0], [-0.0778534, -0.0778534, -0.23356, -0.23356], **rel())
    np.testing.assert_allclose(g[3], [-0.121667, 0.0911111, 0.121667, -0.286667], **rel())
    np.testing.assert_allclose(g[2], [0.037037, 0.037037, -0.111111, -0.111111], **rel())


def test_diou_spec_example(isa):
    f = distance_box_iou_loss
    np.testing.assert_allclose(f(B1, B2), [0.968254, 1.66667e-08, 1.44444, 0.61], **rel())
    assert f(B1, B2, reduction="mean") == pytest.approx(0.755675, rel=1e-6)
    g = f.grad(B1, B2, reduction="sum")
    np.testing.assert_allclose(g[3], [-0.0768, -0.0388, 0.0768, -0.14], **rel())


def test_ciou_spec_example(isa):
    f = complete_box_iou_loss
    np.testing.assert_allclose(f(B1, B2), [0.968254, 1.66667e-08, 1.44444, 0.626823], **rel())
    assert f(B1, B2, reduction="mean") == pytest.approx(0.75988, rel=1e-6)
    g = f.grad(B1, B2, reduction="sum")
    np.testing.assert_allclose(g[3], [-0.0832809, -0.0258383, 0.0832809, -0.152962], **rel())
    # the eps quirk: eps only enters alpha
    np.testing.assert_allclose(f(B1, B2, eps=0.1)[3], 0.624744, **rel())
    np.testing.assert_allclose(f(B1, B2, eps=0.1)[:3], f(B1, B2)[:3], rtol=0, atol=0)


def test_degenerate_boxes_of_the_spec(isa):
    z = [[1, 1, 1, 1]]
    assert generalized_box_iou_loss(z, z)[0] == 1.0
    assert distance_box_iou_loss(z, z)[0] == 1.0
    assert np.isnan(complete_box_iou_loss(z, z)[0])
    assert np.isnan(complete_box_iou_loss.grad(z, z)).all()
    zw, ref = [1, 1, 1, 3], [0, 0, 2, 2]
    assert generalized_box_iou_loss(zw, ref) == pytest.approx(1.33333, rel=5e-6)
    assert complete_box_iou_loss(zw, ref) == pytest.approx(1.12692, rel=5e-6)
    assert np.isfinite(complete_box_iou_loss.grad(zw, ref)).all()
    assert generalized_box_iou_loss([0, 0, 1, 1], [1, 0, 2, 1]) == 1.0   # touching: I = 0
    # zero-height prediction with w > 0: finite loss and (limit) gradient
    assert np.isfinite(complete_box_iou_loss.value_and_grad([0, 1, 2, 1], ref)[1]).all()
    # mmdet with identical zero-area boxes: union clamped, IoU clamped to eps
    assert iou_loss(z, z, reduction="none")[0] == pytest.approx(-math.log(1e-6))
    np.testing.assert_array_equal(iou_loss.grad(z, z), 0.0)


# ----------------------------------------------------------------------------------------------
# Random inputs: numpy values, finite differences, torch autograd

@pytest.mark.parametrize("kind,mode", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_match_numpy(isa, rng, kind, mode, dtype):
    b1 = random_boxes(rng, 61).astype(dtype)
    b2 = random_boxes(rng, 61).astype(dtype)
    got = call(kind, mode, None, b1, b2, reduction="none")
    assert got.dtype == dtype and got.shape == (61,)
    ref = np_box_loss(kind, b1, b2, mode)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    s = call(kind, mode, None, b1, b2, reduction="sum")
    assert isinstance(s, float)
    assert s == pytest.approx(ref.sum(), rel=tol * 10)
    assert call(kind, mode, None, b1, b2, reduction="mean") == pytest.approx(ref.mean(), rel=tol * 10)


@pytest.mark.parametrize("kind,mode", ALL)
def test_gradient_finite_differences(isa, rng, kind, mode):
    b1 = random_boxes(rng, 13)
    b2 = random_boxes(rng, 13)
    w = rng.uniform(0.5, 1.5, size=13)
    g = call(kind, mode, "grad", b1, b2, reduction="none", grad_output=w)
    # CIoU's alpha is a constant of the gradient (computed under no_grad): hold it fixed
    alpha = np_ciou_alpha(b1, b2) if kind == "ciou" else None
    h = 1e-6
    num = np.zeros_like(b1)
    for i in range(13):
        for k in range(4):
            bp, bm = b1.copy(), b1.copy()
            bp[i, k] += h
            bm[i, k] -= h
            fp = np_box_loss(kind, bp, b2, mode, alpha=alpha)[i]
            fm = np_box_loss(kind, bm, b2, mode, alpha=alpha)[i]
            num[i, k] = w[i] * (fp - fm) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind,mode", ALL)
@pytest.mark.parametrize("integer", [False, True])
def test_against_torch_autograd(isa, rng, kind, mode, integer):
    torch = pytest.importorskip("torch")
    n = 97
    b1 = random_boxes(rng, n, integer=integer)
    b2 = random_boxes(rng, n, integer=integer)
    t1 = torch.tensor(b1, requires_grad=True)
    t2 = torch.tensor(b2)
    tl = torch_box_loss(torch, kind, t1, t2, mode)
    w = rng.uniform(0.5, 1.5, size=n)
    (tl * torch.tensor(w)).sum().backward()
    val, g = call(kind, mode, "value_and_grad", b1, b2, reduction="none", grad_output=w)
    np.testing.assert_allclose(val, tl.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, t1.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind,mode", ALL)
def test_float32_matches_float64(isa, rng, kind, mode):
    b1 = random_boxes(rng, 50)
    b2 = random_boxes(rng, 50)
    v64, g64 = call(kind, mode, "value_and_grad", b1, b2, reduction="sum")
    v32, g32 = call(kind, mode, "value_and_grad", b1.astype(np.float32), b2.astype(np.float32),
                    reduction="sum")
    assert g32.dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=2e-3, atol=2e-5)


# ----------------------------------------------------------------------------------------------
# Reductions, shapes, layouts

@pytest.mark.parametrize("kind,mode", ALL)
def test_reductions_and_grad_scaling(rng, kind, mode):
    b1 = random_boxes(rng, 7)
    b2 = random_boxes(rng, 7)
    none, gn = call(kind, mode, "value_and_grad", b1, b2, reduction="none")
    s, gs = call(kind, mode, "value_and_grad", b1, b2, reduction="sum")
    m, gm = call(kind, mode, "value_and_grad", b1, b2, reduction="mean")
    assert s == pytest.approx(none.sum(), rel=1e-14)
    assert m == pytest.approx(none.mean(), rel=1e-14)
    np.testing.assert_allclose(gn, gs, rtol=1e-15)
    np.testing.assert_allclose(gm, gs / 7, rtol=1e-15)
    np.testing.assert_allclose(call(kind, mode, "grad", b1, b2, reduction="mean", grad_output=3.0),
                               3 * gm, rtol=1e-15)


@pytest.mark.parametrize("kind,mode", ALL)
def test_empty_input(kind, mode):
    e = np.zeros((0, 4))
    none, g = call(kind, mode, "value_and_grad", e, e, reduction="none")
    assert none.shape == (0,) and g.shape == (0, 4)
    assert call(kind, mode, None, e, e, reduction="sum") == 0.0
    mean = call(kind, mode, None, e, e, reduction="mean")
    if kind == "iou":
        assert math.isnan(mean)          # torch's mean of an empty tensor (mmdet)
    else:
        assert mean == 0.0               # torchvision: 0.0 * loss.sum()
    assert call(kind, mode, "grad", e, e, reduction="mean").shape == (0, 4)


@pytest.mark.parametrize("kind,mode", ALL)
def test_leading_shapes_and_single_box(rng, kind, mode):
    b1 = random_boxes(rng, 6).reshape(2, 3, 4)
    b2 = random_boxes(rng, 6).reshape(2, 3, 4)
    v, g = call(kind, mode, "value_and_grad", b1, b2, reduction="none")
    assert v.shape == (2, 3) and g.shape == (2, 3, 4)
    v2, g2 = call(kind, mode, "value_and_grad", b1.reshape(6, 4), b2.reshape(6, 4), reduction="none")
    np.testing.assert_array_equal(v.ravel(), v2)
    np.testing.assert_array_equal(g.reshape(6, 4), g2)
    one = call(kind, mode, None, b1[0, 0], b2[0, 0], reduction="none")
    assert isinstance(one, np.ndarray) and one.shape == ()
    assert one == v[0, 0]
    assert call(kind, mode, "grad", b1[0, 0], b2[0, 0]).shape == (4,)


@pytest.mark.parametrize("kind,mode", ALL)
def test_non_contiguous_and_inputs_untouched(rng, kind, mode):
    big1 = random_boxes(rng, 20)
    big2 = random_boxes(rng, 20)
    b1 = np.asfortranarray(big1)[::2]
    b2 = big2[::-2]
    keep1, keep2 = b1.copy(), b2.copy()
    v, g = call(kind, mode, "value_and_grad", b1, b2, reduction="none")
    vr, gr = call(kind, mode, "value_and_grad", np.ascontiguousarray(b1), np.ascontiguousarray(b2),
                  reduction="none")
    np.testing.assert_array_equal(v, vr)
    np.testing.assert_array_equal(g, gr)
    np.testing.assert_array_equal(b1, keep1)
    np.testing.assert_array_equal(b2, keep2)


def test_integer_and_list_inputs_promote_to_float64():
    v = generalized_box_iou_loss([[0, 0, 2, 2]], np.array([[1, 1, 3, 3]], dtype=np.int32))
    assert v.dtype == np.float64
    assert v[0] == pytest.approx(1.07937, rel=1e-5)
    mixed = iou_loss(B1.astype(np.float32), B2, reduction="none")
    assert mixed.dtype == np.float64


@pytest.mark.parametrize("kind,mode", ALL)
def test_nan_propagates_to_its_box_only(kind, mode):
    b1 = B1.copy()
    b1[2, 1] = np.nan
    v, g = call(kind, mode, "value_and_grad", b1, B2, reduction="none")
    assert np.isnan(v[2]) and np.isnan(g[2]).all()
    assert np.isfinite(v[[0, 1, 3]]).all() and np.isfinite(g[[0, 1, 3]]).all()
    assert math.isnan(call(kind, mode, None, b1, B2, reduction="sum"))
    v2 = call(kind, mode, None, B1, np.where(B2 == 3, np.nan, B2), reduction="none")
    assert np.isnan(v2[[0, 1, 2, 3]]).all()


def test_thread_count_does_not_change_results(rng):
    n = 120_001
    b1 = random_boxes(rng, n)
    b2 = random_boxes(rng, n)
    for f in (iou_loss, generalized_box_iou_loss, complete_box_iou_loss):
        with nnmat.threads(1):
            v1, g1 = f.value_and_grad(b1, b2, reduction="mean")
        with nnmat.threads(2):
            v2, g2 = f.value_and_grad(b1, b2, reduction="mean")
        assert v1 == v2
        np.testing.assert_array_equal(g1, g2)


# ----------------------------------------------------------------------------------------------
# Bad input

@pytest.mark.parametrize("kind,mode", ALL)
def test_bad_input(kind, mode):
    name = "iou_loss" if kind == "iou" else TV[kind].__name__
    with pytest.raises(ValueError, match=name + ".*boxes2 shape"):
        call(kind, mode, None, B1, B2[:3])
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., 4\)"):
        call(kind, mode, None, B1[:, :3], B2[:, :3])
    with pytest.raises(ValueError, match=r"boxes1 must have shape"):
        call(kind, mode, None, 1.0, 1.0)
    bad = B1.copy()
    bad[3] = [4, 0, 0, 2]
    with pytest.raises(ValueError, match=name + ": boxes1 has an inverted box at index 3"):
        call(kind, mode, None, bad, B2)
    bad2 = B2.copy()
    bad2[1] = [1, 4, 3, 1]
    with pytest.raises(ValueError, match="boxes2 has an inverted box at index 1"):
        call(kind, mode, "grad", B1, bad2)
    with pytest.raises(ValueError, match=r"boxes1 has an inverted box at index \(1, 1\)"):
        call(kind, mode, None, bad.reshape(2, 2, 4), B2.reshape(2, 2, 4))
    with pytest.raises(ValueError, match="reduction"):
        call(kind, mode, None, B1, B2, reduction="avg")
    with pytest.raises(TypeError):
        call(kind, mode, None, B1.astype(complex), B2)
    with pytest.raises(ValueError, match="eps"):
        call(kind, mode, None, B1, B2, eps=-1.0)
    with pytest.raises(ValueError, match="grad_output"):
        call(kind, mode, "grad", B1, B2, reduction="none", grad_output=np.ones(3))


def test_iou_loss_bad_mode():
    with pytest.raises(ValueError, match="iou_loss: mode"):
        iou_loss(B1, B2, mode="exp")


def test_signatures():
    import inspect
    assert str(inspect.signature(iou_loss)) == "(boxes1, boxes2, mode='log', eps=1e-06, reduction='mean')"
    for f in TV.values():
        assert str(inspect.signature(f)) == "(boxes1, boxes2, reduction='none', eps=1e-07)"
