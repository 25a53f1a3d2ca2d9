"""Dice losses (spec/losses.md 2.5): Keras `dice_loss` and segmentation_models.pytorch
`soft_dice_loss`: worked examples, numpy references, finite differences, torch
re-implementation of the smp formulas with autograd, edge cases and bad input."""
import numpy as np
import pytest

import nnmat
from nnmat.losses import dice_loss, soft_dice_loss

DTYPES = [np.float32, np.float64]
P = np.array([[0.9, 0.1], [0.8, 0.3]])
Y = np.array([[1, 0], [1, 1]])
XMC = np.array([[[2.0, 0.1, -1.0, 0.3], [0.5, 1.5, 0.2, 0.0], [-0.5, 0.3, 1.8, 0.1]]])


def close(got, want, dt):
    """Agreement with the spec's 6-significant-digit numbers."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    unit = 10.0 ** (np.floor(np.log10(np.abs(want))) - 5)
    tol = 0.5 * unit * 1.0001 + (4e-7 * np.abs(want) if dt == np.float32 else 0.0)
    err = np.abs(got - want)
    assert np.all(err <= tol), f"got {got}, spec {want}, error {err}, allowed {tol}"


# ---------------------------------------------------------------------------
# worked examples of the spec

@pytest.mark.parametrize("dt", DTYPES)
def test_spec_keras(isa, dt):
    p, y = P.astype(dt), Y.astype(dt)
    v, g = dice_loss.value_and_grad(p, y)
    assert isinstance(v, float) and g.dtype == dt and g.shape == p.shape
    close(v, 0.215686, dt)
    close(g.ravel(), [-0.23837, 0.153787, -0.23837, -0.23837], dt)
    close(dice_loss(p, y, axis=1, reduction="none"), [0.1, 0.290323], dt)
    close(dice_loss(p, y, axis=1), 0.195161, dt)
    close(dice_loss(p, y, axis=1, reduction="sum"), 0.390323, dt)
    assert dice_loss(np.zeros(4, dt), np.zeros(4, dt)) == 1.0  # all-empty


@pytest.mark.parametrize("dt", DTYPES)
def test_spec_smp(isa, dt):
    p, y = P.astype(dt).reshape(2, 1, 2), Y.astype(dt).reshape(2, 1, 2)
    v, g = soft_dice_loss.value_and_grad(p, y, mode="binary", from_logits=False)
    close(v, 0.215686, dt)
    close(g.ravel(), [-0.23837, 0.153787, -0.23837, -0.23837], dt)
    logits = np.log(P / (1 - P)).astype(dt).reshape(2, 1, 2)
    close(soft_dice_loss(logits, y), 0.215686, dt)
    close(soft_dice_loss(logits, Y.reshape(2, 2)), 0.215686, dt)  # (N, *spatial) target, C == 1
    close(soft_dice_loss(p, y, from_logits=False, smooth=1.0), 0.180328, dt)
    x = XMC.astype(dt)
    close(soft_dice_loss(x, np.array([[0, 1, 2, 1]]), mode="multiclass"), 0.370193, dt)
    close(soft_dice_loss(x, np.array([[0, 1, 1, 1]]), mode="multiclass"), 0.279465, dt)
    assert soft_dice_loss(np.zeros((2, 1, 3), dt), np.zeros((2, 1, 3), dt)) == 0.0


# ---------------------------------------------------------------------------
# Keras dice vs numpy

def keras_ref(p, y, axis, eps=1e-7):
    p, y = p.astype(np.float64), y.astype(np.float64)
    i = np.sum(p * y, axis=axis)
    s = np.sum(y, axis=axis) + np.sum(p, axis=axis) + eps
    loss = 1 - 2 * i / s
    grad = -2 * y / np.expand_dims(s, axis) + np.expand_dims(2 * i / s ** 2, axis) if axis is not None \
        else -2 * y / s + 2 * i / s ** 2
    return loss, grad


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (1, 2), (0, 2), (2, 0), ()])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_keras_vs_numpy(isa, rng, dt, axis, reduction):
    p = rng.uniform(0, 1, (3, 5, 7)).astype(dt)
    y = (rng.uniform(0, 1, (3, 5, 7)) > 0.6).astype(dt)
    loss, grad = keras_ref(p, y, axis)
    v, g = dice_loss.value_and_grad(p, y, axis=axis, reduction=reduction)
    tol = dict(rtol=2e-5 if dt == np.float32 else 1e-12, atol=1e-6 if dt == np.float32 else 1e-14)
    m = np.size(loss)
    if reduction == "none":
        assert v.shape == np.shape(loss) and v.dtype == dt
        np.testing.assert_allclose(v, loss, **tol)
        np.testing.assert_allclose(g, grad, **tol)
    else:
        assert isinstance(v, float)
        np.testing.assert_allclose(v, np.mean(loss) if reduction == "mean" else np.sum(loss), **tol)
        np.testing.assert_allclose(g, grad / (m if reduction == "mean" else 1), **tol)
    assert g.shape == p.shape and g.dtype == dt and g.flags.c_contiguous
    if reduction == "none" and np.ndim(loss):
        go = rng.standard_normal(np.shape(loss)).astype(dt)
        g2 = dice_loss.grad(p, y, axis=axis, reduction="none", grad_output=go)
        np.testing.assert_allclose(g2, grad * np.expand_dims(go, axis), **tol)


# ---------------------------------------------------------------------------
# smp DiceLoss: numpy reference (value) and torch re-implementation (value + autograd)

def smp_numpy(x, target, mode, classes=None, log_loss=False, from_logits=True, smooth=0.0,
              ignore_index=None, eps=1e-7):
    x = x.astype(np.float64)
    n, c = x.shape[:2]
    if from_logits:
        if mode == "multiclass":
            e = np.exp(x - x.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        else:
            p = 1 / (1 + np.exp(-x))
    else:
        p = x
    if mode == "binary":
        p = p.reshape(n, 1, -1)
        y = target.astype(np.float64).reshape(n, 1, -1)
        m = y != ignore_index if ignore_index is not None else np.ones_like(y, bool)
        p, y = p * m, y * m
    elif mode == "multilabel":
        p = p.reshape(n, c, -1)
        y = target.astype(np.float64).reshape(n, c, -1)
        m = y != ignore_index if ignore_index is not None else np.ones_like(y, bool)
        p, y = p * m, y * m
    else:
        p = p.reshape(n, c, -1)
        lab = target.reshape(n, -1)
        m = lab != ignore_index if ignore_index is not None else np.ones_like(lab, bool)
        y = (np.where(m, lab, 0)[:, None, :] == np.arange(c)[None, :, None]) * m[:, None, :]
        p = p * m[:, None, :]
    inter = (p * y).sum(axis=(0, 2))
    card = (p + y).sum(axis=(0, 2))
    score = (2 * inter + smooth) / np.maximum(card + smooth, eps)
    loss = -np.log(np.maximum(score, eps)) if log_loss else 1 - score
    loss = loss * (y.sum(axis=(0, 2)) > 0)
    if classes is not None:
        loss = loss[np.asarray(classes)]
    return loss.mean()


def smp_torch(torch, x, target, mode, classes=None, log_loss=False, from_logits=True, smooth=0.0,
              ignore_index=None, eps=1e-7):
    """The smp DiceLoss formulas (dice.py / _functional.py) re-implemented with torch ops."""
    F_ = torch.nn.functional
    y_pred = torch.tensor(x, requires_grad=True)
    y_true = torch.tensor(target)
    out = y_pred
    if from_logits:
        out = out.log_softmax(dim=1).exp() if mode == "multiclass" else F_.logsigmoid(out).exp()
    bs, nc = out.size(0), out.size(1)
    if mode == "binary":
        y_true = y_true.view(bs, 1, -1)
        out = out.view(bs, 1, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            out = out * mask
            y_true = y_true * mask
    elif mode == "multiclass":
        y_true = y_true.view(bs, -1)
        out = out.view(bs, nc, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            out = out * mask.unsqueeze(1)
            y_true = F_.one_hot((y_true * mask).to(torch.long), nc)
            y_true = y_true.permute(0, 2, 1) * mask.unsqueeze(1)
        else:
            y_true = F_.one_hot(y_true.to(torch.long), nc).permute(0, 2, 1)
    else:
        y_true = y_true.view(bs, nc, -1)
        out = out.view(bs, nc, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            out = out * mask
            y_true = y_true * mask
    y_true = y_true.type_as(out)
    inter = torch.sum(out * y_true, dim=(0, 2))
    card = torch.sum(out + y_true, dim=(0, 2))
    scores = (2.0 * inter + smooth) / (card + smooth).clamp_min(eps)
    loss = -torch.log(scores.clamp_min(eps)) if log_loss else 1.0 - scores
    loss = loss * (y_true.sum((0, 2)) > 0).to(loss.dtype)
    if classes is not None:
        loss = loss[torch.tensor(classes, dtype=torch.long)]
    loss = loss.mean()
    loss.backward()
    return loss.item(), y_pred.grad.numpy()


def smp_case(rng, mode, shape, ignore=False):
    x = rng.standard_normal(shape) * 2
    n, c = shape[:2]
    if mode == "multiclass":
        t = rng.integers(0, c, (n,) + shape[2:])
        if c > 2:
            t[t == c - 1] = 0  # one absent class -> masked channel
        if ignore:
            t[rng.uniform(size=t.shape) < 0.2] = 255
    else:
        t = (rng.uniform(size=shape) > 0.5).astype(np.float64)
        if ignore:
            t[rng.uniform(size=t.shape) < 0.2] = -1.0
    return x, t


SMP_CASES = [
    ("binary", (3, 1, 4, 5), {}),
    ("binary", (2, 1, 7), {"from_logits": False}),
    ("binary", (2, 1, 3, 3), {"log_loss": True, "smooth": 0.5}),
    ("binary", (2, 1, 6), {"ignore_index": -1.0}),
    ("multilabel", (2, 3, 4, 4), {}),
    ("multilabel", (3, 4, 5), {"log_loss": True, "ignore_index": -1.0}),
    ("multilabel", (2, 3, 5), {"classes": [0, 2, 2], "smooth": 1.0}),
    ("multiclass", (2, 4, 3, 5), {}),
    ("multiclass", (3, 5, 7), {"ignore_index": 255}),
    ("multiclass", (2, 4, 6), {"log_loss": True, "classes": [1, 0, -1]}),
    ("multiclass", (5, 3), {"from_logits": False, "smooth": 1.0}),
    ("multiclass", (1, 3, 2, 2, 3), {"smooth": 0.25}),
]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("case", range(len(SMP_CASES)))
def test_smp_vs_numpy_and_fd(isa, rng, dt, case):
    mode, shape, kw = SMP_CASES[case]
    x, t = smp_case(rng, mode, shape, ignore="ignore_index" in kw)
    if not kw.get("from_logits", True):
        x = rng.uniform(0.01, 1, shape)
    want = smp_numpy(x, t, mode, **kw)
    xd = x.astype(dt)
    td = t if mode == "multiclass" else t.astype(dt)  # float targets promote with the input
    v, g = soft_dice_loss.value_and_grad(xd, td, mode=mode, **kw)
    assert isinstance(v, float) and g.shape == x.shape and g.dtype == dt
    np.testing.assert_allclose(v, want, rtol=1e-5 if dt == np.float32 else 1e-12)
    if dt == np.float64:
        # central differences on a few entries
        idx = rng.choice(x.size, size=min(8, x.size), replace=False)
        h = 1e-6
        for i in idx:
            xp, xm = x.copy(), x.copy()
            xp.flat[i] += h
            xm.flat[i] -= h
            num = (soft_dice_loss(xp, t, mode=mode, **kw) - soft_dice_loss(xm, t, mode=mode, **kw)) / (2 * h)
            np.testing.assert_allclose(g.flat[i], num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", range(len(SMP_CASES)))
def test_smp_vs_torch(rng, case):
    torch = pytest.importorskip("torch")
    mode, shape, kw = SMP_CASES[case]
    x, t = smp_case(rng, mode, shape, ignore="ignore_index" in kw)
    if not kw.get("from_logits", True):
        x = rng.uniform(0.01, 1, shape)
    want_v, want_g = smp_torch(torch, x, t, mode, **kw)
    v, g = soft_dice_loss.value_and_grad(x, t, mode=mode, **kw)
    np.testing.assert_allclose(v, want_v, rtol=1e-12)
    np.testing.assert_allclose(g, want_g, rtol=1e-9, atol=1e-14)
    g3 = soft_dice_loss.grad(x, t, mode=mode, grad_output=3.0, **kw)
    np.testing.assert_allclose(g3, 3 * want_g, rtol=1e-9, atol=1e-14)


def test_smp_eps_clamp_and_log_clamp():
    torch = pytest.importorskip("torch")
    # probabilities ~0 and an empty-ish target: the denominator clamp is active
    x = np.full((1, 2, 3), 1e-9)
    t = np.zeros((1, 2, 3))
    t[0, 0, 0] = 1e-9
    for kw in ({}, {"log_loss": True}, {"eps": 1e-3}):
        want_v, want_g = smp_torch(torch, x, t, "multilabel", from_logits=False, **kw)
        v, g = soft_dice_loss.value_and_grad(x, t, mode="multilabel", from_logits=False, **kw)
        np.testing.assert_allclose(v, want_v, rtol=1e-12)
        np.testing.assert_allclose(g, want_g, rtol=1e-9, atol=1e-14)


def test_float_target_promotes():
    x = np.zeros((1, 2, 3), np.float32)
    assert soft_dice_loss.grad(x, np.ones((1, 2, 3)), mode="multilabel").dtype == np.float64
    assert soft_dice_loss.grad(x, np.ones((1, 2, 3), np.float32), mode="multilabel").dtype == np.float32
    assert soft_dice_loss.grad(x, np.ones((1, 2, 3), np.int64), mode="multilabel").dtype == np.float64


# ---------------------------------------------------------------------------
# finite differences for the Keras form

@pytest.mark.parametrize("axis", [None, 1, (0, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_keras_finite_differences(rng, axis, reduction):
    p = rng.uniform(0, 1, (2, 3, 4))
    y = (rng.uniform(size=p.shape) > 0.5).astype(float)
    g = dice_loss.grad(p, y, axis=axis, reduction=reduction)
    h = 1e-6
    num = np.empty_like(p)
    for i in range(p.size):
        a, b = p.copy(), p.copy()
        a.flat[i] += h
        b.flat[i] -= h
        num.flat[i] = (dice_loss(a, y, axis=axis, reduction=reduction)
                       - dice_loss(b, y, axis=axis, reduction=reduction)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------
# edge cases

def test_empty_inputs():
    e = np.zeros((0, 3))
    assert dice_loss(e, e) == 1.0  # all-empty: nothing overlaps, nothing predicted
    assert dice_loss.grad(e, e).shape == (0, 3)
    assert np.isnan(dice_loss(e, e, axis=1))  # no remaining index: mean of nothing
    assert dice_loss(e, e, axis=1, reduction="sum") == 0.0
    assert dice_loss(e, e, axis=1, reduction="none").shape == (0,)
    np.testing.assert_array_equal(dice_loss(e, e, axis=0, reduction="none"), [1.0, 1.0, 1.0])
    v = dice_loss(np.zeros(3), np.zeros(3), reduction="none")
    assert v.shape == () and v == 1.0
    # smp: every channel masked -> 0; zero channels -> mean of nothing
    assert soft_dice_loss(np.zeros((0, 2, 4)), np.zeros((0, 4), np.int64), mode="multiclass") == 0.0
    assert soft_dice_loss.grad(np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64), mode="multiclass").shape == (2, 3, 0)
    assert np.isnan(soft_dice_loss(np.zeros((2, 0, 4)), np.zeros((2, 0, 4)), mode="multilabel"))
    assert np.isnan(soft_dice_loss(np.zeros((2, 3, 4)), np.ones((2, 3, 4)), mode="multilabel", classes=[]))


def test_non_contiguous_and_dtypes(isa, rng):
    base = rng.uniform(0, 1, (6, 9, 4))
    p = base[::2, ::3]
    y = (base > 0.5)[1::2, ::3]  # bool target, non-contiguous
    assert not p.flags.c_contiguous and not y.flags.c_contiguous
    for axis in (None, 1, (0, 2)):
        v, g = dice_loss.value_and_grad(p, y, axis=axis)
        v2, g2 = dice_loss.value_and_grad(p.copy(), y.astype(float), axis=axis)
        assert v == v2
        np.testing.assert_array_equal(g, g2)
    x = base.transpose(0, 2, 1)[:, :3]  # (6, 3, 9) non-contiguous logits
    t = rng.integers(0, 3, (6, 9))[:, ::-1]
    before = x.copy()
    v, g = soft_dice_loss.value_and_grad(x, t, mode="multiclass")
    v2, g2 = soft_dice_loss.value_and_grad(x.copy(), t.copy(), mode="multiclass")
    assert v == v2
    np.testing.assert_array_equal(g, g2)
    np.testing.assert_array_equal(x, before)
    # dtypes: float32 logits stay float32 (multiclass labels do not promote); int32 labels accepted
    g = soft_dice_loss.grad(x.astype(np.float32), t.astype(np.int32), mode="multiclass")
    assert g.dtype == np.float32
    assert dice_loss.grad(p.astype(np.float32), y).dtype == np.float32
    assert dice_loss.grad(p.astype(np.float32), y.astype(np.float64)).dtype == np.float64


def test_nan_propagation():
    p = np.array([[0.5, np.nan], [0.2, 0.3]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.isnan(dice_loss(p, y))
    v = dice_loss(p, y, axis=1, reduction="none")
    assert np.isnan(v[0]) and not np.isnan(v[1])
    g = dice_loss.grad(p, y, axis=1, reduction="none")
    assert np.isnan(g[0]).all() and not np.isnan(g[1]).any()
    x = XMC.copy()
    x[0, 1, 2] = np.nan
    v, g = soft_dice_loss.value_and_grad(x, np.array([[0, 1, 2, 1]]), mode="multiclass")
    assert np.isnan(v) and np.isnan(g).any()
    v, g = soft_dice_loss.value_and_grad(x, (x > 0).astype(float), mode="multilabel")
    assert np.isnan(v) and np.isnan(g).any()
    # a NaN at an ignored entry still reaches the value: smp multiplies by the mask (NaN * 0)
    assert np.isnan(soft_dice_loss(x, np.array([[0, 1, 2, 255]]), mode="multiclass", ignore_index=255))
    assert not np.isnan(soft_dice_loss(np.nan_to_num(x), np.array([[0, 1, 2, 255]]), mode="multiclass",
                                       ignore_index=255))
    t = (x > 0).astype(float)
    t[0, 1, 2] = -1.0
    assert np.isnan(soft_dice_loss(x, t, mode="multilabel", ignore_index=-1))


def test_threads_bitwise_identical(rng):
    p = rng.uniform(0, 1, (4, 3, 100, 120)).astype(np.float32)
    y = (rng.uniform(size=p.shape) > 0.5).astype(np.float32)
    lab = rng.integers(0, 3, (4, 100, 120))
    pr = rng.uniform(0, 1, (3000, 64))
    out = []
    for nt in (1, 2):
        with nnmat.threads(nt):
            out.append((dice_loss.value_and_grad(p, y),
                        dice_loss.value_and_grad(p, y, axis=(2, 3)),
                        dice_loss.value_and_grad(pr, pr > 0.5, axis=1),
                        soft_dice_loss.value_and_grad(p, lab, mode="multiclass"),
                        soft_dice_loss.value_and_grad(p, y, mode="multilabel"),
                        soft_dice_loss.value_and_grad(p[:, :1], y[:, :1], mode="binary"),
                        soft_dice_loss.value_and_grad(p, np.where(lab == 1, 7, lab), mode="multiclass",
                                                      ignore_index=7)))
    for a, b in zip(*out):
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
    # float32 data, double accumulation
    np.testing.assert_allclose(out[0][0][0], keras_ref(p, y, None)[0], rtol=1e-6)
    np.testing.assert_allclose(out[0][3][0], smp_numpy(p, lab, "multiclass"), rtol=1e-5)


def test_bad_input():
    p, y = P, Y
    with pytest.raises(ValueError, match="dice_loss: target shape"):
        dice_loss(p, y[:1])
    with pytest.raises(ValueError, match="dice_loss: eps"):
        dice_loss(p, y, eps=0.0)
    with pytest.raises(ValueError, match="dice_loss: eps"):
        dice_loss(p, y, eps=-1e-7)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        dice_loss(p, y, axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        dice_loss(p, y, axis=(1, -1))
    with pytest.raises(TypeError, match="axis"):
        dice_loss(p, y, axis=1.5)
    with pytest.raises(ValueError, match="reduction"):
        dice_loss(p, y, reduction="batchmean")
    x = XMC
    with pytest.raises(ValueError, match="soft_dice_loss: mode"):
        soft_dice_loss(x, np.array([[0, 1, 2, 1]]), mode="multi")
    with pytest.raises(IndexError, match="label 3 is out of range"):
        soft_dice_loss(x, np.array([[0, 1, 3, 1]]), mode="multiclass")
    with pytest.raises(IndexError, match="label -1"):
        soft_dice_loss(x, np.array([[0, -1, 2, 1]]), mode="multiclass")
    # an ignored label may be out of range
    soft_dice_loss(x, np.array([[0, -1, 2, 1]]), mode="multiclass", ignore_index=-1)
    with pytest.raises(TypeError, match="integer class labels"):
        soft_dice_loss(x, np.array([[0.0, 1.0, 2.0, 1.0]]), mode="multiclass")
    with pytest.raises(ValueError, match="multiclass target shape"):
        soft_dice_loss(x, np.array([0, 1, 2, 1]), mode="multiclass")
    with pytest.raises(ValueError, match="target shape"):
        soft_dice_loss(x, np.zeros((1, 3, 3)), mode="multilabel")
    with pytest.raises(ValueError, match="target shape"):
        soft_dice_loss(x, np.zeros((1, 4)), mode="binary")  # (N, *spatial) only when C == 1
    with pytest.raises(ValueError, match="input must have shape"):
        soft_dice_loss(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="soft_dice_loss: eps"):
        soft_dice_loss(x, np.zeros_like(x), mode="multilabel", eps=0.0)
    with pytest.raises(ValueError, match="smooth"):
        soft_dice_loss(x, np.zeros_like(x), mode="multilabel", smooth=-1.0)
    with pytest.raises(ValueError, match="classes is not supported"):
        soft_dice_loss(x[:, :1], np.zeros((1, 1, 4)), classes=[0])
    with pytest.raises(IndexError, match="classes"):
        soft_dice_loss(x, np.zeros_like(x), mode="multilabel", classes=[3])
    with pytest.raises(TypeError, match="classes"):
        soft_dice_loss(x, np.zeros_like(x), mode="multilabel", classes=[0.5])
    with pytest.raises(TypeError, match="log_loss"):
        soft_dice_loss(x, np.zeros_like(x), mode="multilabel", log_loss="yes")
    with pytest.raises(TypeError, match="ignore_index"):
        soft_dice_loss(x, np.array([[0, 1, 2, 1]]), mode="multiclass", ignore_index=1.5)
    with pytest.raises(ValueError, match="grad_output"):
        soft_dice_loss.grad(x, np.array([[0, 1, 2, 1]]), mode="multiclass", grad_output=np.ones(3))
