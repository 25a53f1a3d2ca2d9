"""Element-wise losses (regression, binary, focal, hinge): spec worked examples, a
plain-numpy reference, finite differences, PyTorch (when installed), reductions,
grad_output, empty input, NaN, bad input, thread invariance, on every ISA."""
import numpy as np
import pytest

import nnmat
from nnmat import losses as L

X = np.array([[0.6, 0.4, 2.5], [0.4, 0.6, -1.0]])
Y = np.array([[0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
W = np.array([[1, 2, 0], [0.5, 1, 1]])


def close(got, want, rtol=None, atol=0.0):
    """got agrees with the spec's 6-significant-digit numbers: within half a unit
    of the 6th digit (plus rtol for float32 rounding where given)."""
    f32 = np.asarray(got).dtype == np.float32
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if f32 and rtol is None:
        rtol = 1e-6  # a few float32 roundings
    mag = np.where(want == 0, 1.0, np.abs(want))
    unit = 10.0 ** (np.floor(np.log10(mag)) - 5)
    bound = 0.5 * unit * 1.0001 + (0.0 if rtol is None else rtol * np.abs(want)) + atol
    err = np.abs(got - want)
    assert np.all(err <= bound), f"got {got}, spec {want}, err {err}, bound {bound}"


# ------------------------------------------------------------- spec examples

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spec_regression(isa, dtype):
    x, y = X.astype(dtype), Y.astype(dtype)
    close(L.mse_loss(x, y, reduction="none").ravel(), [0.36, 0.36, 0.25, 0.16, 0.36, 4.0])
    close(L.mse_loss(x, y), 0.915)
    close(L.mse_loss(x, y, reduction="sum"), 5.49)
    close(L.mse_loss.grad(x, y).ravel(), [0.2, -0.2, -0.166667, 0.133333, 0.2, -0.666667])
    close(L.mse_loss(x, y, weight=W), 1.00364)
    close(L.l1_loss(x, y, reduction="none").ravel(), [0.6, 0.6, 0.5, 0.4, 0.6, 2.0])
    close(L.l1_loss(x, y), 0.783333)
    close(L.l1_loss(x, y, reduction="sum"), 4.7)
    close(L.l1_loss.grad(x, y).ravel(), [1 / 6, -1 / 6, -1 / 6, 1 / 6, 1 / 6, -1 / 6])
    close(L.l1_loss(x, y, weight=W), 0.836364)
    close(L.huber_loss(x, y, reduction="none").ravel(), [0.18, 0.18, 0.125, 0.08, 0.18, 1.5])
    close(L.huber_loss(x, y), 0.374167)
    close(L.huber_loss(x, y, reduction="sum"), 2.245)
    close(L.huber_loss.grad(x, y).ravel(), [0.1, -0.1, -0.0833333, 0.0666667, 0.1, -0.166667])
    close(L.huber_loss(x, y, delta=0.5, reduction="none").ravel(), [0.175, 0.175, 0.125, 0.08, 0.175, 0.875])
    close(L.huber_loss(x, y, delta=0.5), 0.2675)
    close(L.huber_loss.grad(x, y, delta=0.5).ravel(),
          [0.0833333, -0.0833333, -0.0833333, 0.0666667, 0.0833333, -0.0833333])
    close(L.huber_loss(x, y, weight=W), 0.376667)  # torch: weighted mean divides by N
    close(L.smooth_l1_loss(x, y), 0.374167)
    close(L.smooth_l1_loss(x, y, beta=0.5, reduction="none").ravel(), [0.35, 0.35, 0.25, 0.16, 0.35, 1.75])
    close(L.smooth_l1_loss(x, y, beta=0.5), 0.535)
    close(L.smooth_l1_loss.grad(x, y, beta=0.5).ravel(),
          [0.166667, -0.166667, -0.166667, 0.133333, 0.166667, -0.166667])
    close(L.smooth_l1_loss(x, y, beta=0.0), 0.783333)
    close(L.log_cosh_loss(x, y, reduction="none").ravel(), [0.170135, 0.170135, 0.120115, 0.0779535, 0.170135, 1.325])
    close(L.log_cosh_loss(x, y, reduction="none").mean(axis=-1), [0.153462, 0.524364])
    close(L.log_cosh_loss(x, y), 0.338913)
    close(L.log_cosh_loss.grad(x, y).ravel(), [0.0895083, -0.0895083, -0.0770195, 0.0633248, 0.0895083, -0.160671])


def test_spec_source_document_mse(isa):
    yhat = [7.6, 8.0, 6.8, 8.9, 7.2, 8.3, 7.0, 8.8, 7.0, 7.6]
    y = [7.8, 8.2, 6.5, 9.1, 7.0, 8.5, 6.9, 8.7, 7.2, 7.8]
    assert L.mse_loss(yhat, y) == pytest.approx(0.039, rel=1e-12)
    assert L.mse_loss(yhat, y, reduction="sum") / 20 == pytest.approx(0.0195, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spec_bce(isa, dtype):
    p, y = np.array([0.9, 0.2, 0.6, 0.999], dtype), np.array([1, 0, 1, 0], dtype)
    close(L.binary_cross_entropy(p, y, reduction="none"), [0.105361, 0.223144, 0.510826, 6.90776], rtol=2e-6)
    close(L.binary_cross_entropy(p, y), 1.93677, rtol=2e-6)
    close(L.binary_cross_entropy(p, y, reduction="sum"), 7.74708, rtol=2e-6)
    close(L.binary_cross_entropy.grad(p, y), [-0.277778, 0.3125, -0.416667, 250.0], rtol=5e-5 if dtype == np.float32 else None)
    close(L.binary_cross_entropy(p, y, weight=[1, 2, 0.5, 1]), 1.9287, rtol=2e-6)
    pe, ye = np.array([0, 1, 1], dtype), np.array([1, 1, 0], dtype)
    close(L.binary_cross_entropy(pe, ye, reduction="none"), [100, 0, 100])
    close(L.binary_cross_entropy.grad(pe, ye, reduction="sum"), [-1e12, 0, 1e12])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spec_bce_with_logits_and_focal(isa, dtype):
    x, y = np.array([2.0, -1.0, 0.5, -3.0], dtype), np.array([1, 0, 0, 1], dtype)
    f = L.binary_cross_entropy_with_logits
    close(f(x, y, reduction="none"), [0.126928, 0.313262, 0.974077, 3.04859])
    close(f(x, y), 1.11571)
    close(f(x, y, reduction="sum"), 4.46285)
    close(f.grad(x, y), [-0.0298007, 0.0672354, 0.155615, -0.238144])
    close(f(x, y, pos_weight=[3.0], reduction="none"), [0.380784, 0.313262, 0.974077, 9.14576])
    close(f(x, y, pos_weight=[3.0]), 2.70347)
    close(f.grad(x, y, pos_weight=[3.0]), [-0.0894022, 0.0672354, 0.155615, -0.714431])
    close(f(x.reshape(2, 2), y.reshape(2, 2)), 1.11571)
    close(f(np.array([100.0, 800.0], dtype), np.array([0.0, 1.0], dtype), reduction="none"), [100, 0])
    g = L.sigmoid_focal_loss
    close(g(x, y), [0.000450891, 0.0169935, 0.283059, 0.69157])
    close(g(x, y, reduction="mean"), 0.248018)
    close(g(x, y, reduction="sum"), 0.992073)
    close(g.grad(x, y, reduction="sum"), [-0.00121774, 0.0394358, 0.394614, -0.281687])
    close(g(x, y, alpha=-1), [0.00180356, 0.0226581, 0.377412, 2.76628])
    close(g(x, y, alpha=-1, gamma=0), f(x, y, reduction="none"))
    close(g.grad(x, y, alpha=-1, gamma=0), f.grad(x, y, reduction="none"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spec_hinge(isa, dtype):
    y = np.array([[-1, 1, 1], [1, -1, -1]], dtype)
    p = np.array([[0.3, 0.8, -0.2], [1.5, 0.4, -2.0]], dtype)
    close(L.hinge_loss(p, y, reduction="none").ravel(), [1.3, 0.2, 1.2, 0.0, 1.4, 0.0])
    close(L.hinge_loss(p, y, reduction="none").mean(-1), [0.9, 0.466667])
    close(L.hinge_loss(p, y), 0.683333)
    close(L.squared_hinge_loss(p, y, reduction="none").mean(-1), [1.05667, 0.653333])
    close(L.squared_hinge_loss(p, y), 0.855)
    close(L.hinge_loss.grad(p, y).ravel(), [1 / 6, -1 / 6, -1 / 6, 0, 1 / 6, 0])
    close(L.squared_hinge_loss.grad(p, y).ravel(), [0.433333, -0.0666667, -0.4, 0, 0.466667, 0])
    close(L.hinge_loss(p, (y + 1) / 2), 0.683333)  # 0/1 labels are converted
    close(L.hinge_loss(p[:1], [[0, 1, -1]]), 0.666667)  # mixed labels are not


# ------------------------------------------------------ references and FD

def _sig(x):
    return 1 / (1 + np.exp(-x))


def _sp(z):  # softplus
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def ref_loss(name, x, y, **kw):
    """(per-element loss, per-element derivative) in float64, written plainly."""
    r = x - y
    if name == "mse":
        return r * r, 2 * r
    if name == "l1":
        return np.abs(r), np.sign(r)
    if name == "huber":
        d = kw.get("delta", 1.0)
        return np.where(np.abs(r) < d, 0.5 * r * r, d * (np.abs(r) - 0.5 * d)), np.clip(r, -d, d)
    if name == "smooth_l1":
        b = kw.get("beta", 1.0)
        return np.where(np.abs(r) < b, 0.5 * r * r / b, np.abs(r) - 0.5 * b), np.clip(r / b, -1, 1)
    if name == "log_cosh":
        return np.log(np.cosh(r)), np.tanh(r)
    if name == "bce":
        return (-(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100)),
                (x - y) / np.maximum(x * (1 - x), 1e-12))
    if name == "bce_logits":
        pw = kw.get("pos_weight", 1.0)
        return ((1 - y) * x + (1 + (pw - 1) * y) * _sp(-x), (pw * y + 1 - y) * _sig(x) - pw * y)
    if name == "focal":
        a, g = kw.get("alpha", 0.25), kw.get("gamma", 2.0)
        p = _sig(x)
        ce = (1 - y) * x + _sp(-x)
        pt = p * y + (1 - p) * (1 - y)
        at = a * y + (1 - a) * (1 - y)
        loss = at * ce * (1 - pt) ** g
        d = at * ((1 - pt) ** g * (p - y) - g * (1 - pt) ** (g - 1) * p * (1 - p) * (2 * y - 1) * ce)
        return loss, d
    if name == "hinge":
        h = 1 - y * x
        return np.maximum(h, 0), np.where(h > 0, -y, 0.0)
    if name == "squared_hinge":
        h = np.maximum(1 - y * x, 0)
        return h * h, -2 * y * h
    raise KeyError(name)


FUNCS = {
    "mse": (L.mse_loss, {}), "l1": (L.l1_loss, {}), "huber": (L.huber_loss, {"delta": 0.7}),
    "smooth_l1": (L.smooth_l1_loss, {"beta": 0.4}), "log_cosh": (L.log_cosh_loss, {}),
    "bce": (L.binary_cross_entropy, {}), "bce_logits": (L.binary_cross_entropy_with_logits, {}),
    "focal": (L.sigmoid_focal_loss, {"alpha": 0.3, "gamma": 1.5}), "hinge": (L.hinge_loss, {}),
    "squared_hinge": (L.squared_hinge_loss, {}),
}


def _data(name, rng, shape, dtype):
    x = rng.standard_normal(shape) * 2
    if name == "bce":
        x = rng.uniform(0.01, 0.99, shape)
        y = rng.uniform(0, 1, shape)
    elif name in ("bce_logits", "focal"):
        y = rng.uniform(0, 1, shape)
    elif name in ("hinge", "squared_hinge"):
        y = rng.choice([-1.0, 1.0], shape)
    else:
        y = rng.standard_normal(shape)
    return x.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (5, 13), (4099,), (2, 3, 37)])
def test_matches_numpy_reference(isa, rng, name, dtype, shape):
    fn, kw = FUNCS[name]
    x, y = _data(name, rng, shape, dtype)
    lref, dref = ref_loss(name, x.astype(np.float64), y.astype(np.float64), **kw)
    n = x.size
    rt = 2e-5 if dtype == np.float32 else 1e-12
    at = 1e-6 if dtype == np.float32 else 1e-14
    none = fn(x, y, reduction="none", **kw)
    assert none.shape == shape and none.dtype == dtype
    np.testing.assert_allclose(none, lref, rtol=rt, atol=at)
    assert isinstance(fn(x, y, reduction="sum", **kw), float)
    np.testing.assert_allclose(fn(x, y, reduction="sum", **kw), lref.sum(), rtol=rt, atol=at * n)
    np.testing.assert_allclose(fn(x, y, reduction="mean", **kw), lref.mean(), rtol=rt, atol=at)
    for red, scale in (("mean", 1 / n), ("sum", 1.0), ("none", 1.0)):
        g = fn.grad(x, y, reduction=red, **kw)
        assert g.shape == shape and g.dtype == dtype
        np.testing.assert_allclose(g, dref * scale, rtol=rt * 4, atol=at * scale)
        v, g2 = fn.value_and_grad(x, y, reduction=red, **kw)
        np.testing.assert_array_equal(g, g2)
        if red == "none":
            np.testing.assert_array_equal(v, none)
        else:
            assert v == fn(x, y, reduction=red, **kw)
    up = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_allclose(fn.grad(x, y, reduction="none", grad_output=up, **kw), dref * up,
                               rtol=rt * 4, atol=at * 4)
    np.testing.assert_allclose(fn.grad(x, y, reduction="mean", grad_output=2.5, **kw), dref * 2.5 / n,
                               rtol=rt * 4, atol=at)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_finite_difference_gradient(rng, name):
    fn, kw = FUNCS[name]
    x, y = _data(name, rng, (60,), np.float64)
    if name in ("hinge", "squared_hinge", "l1", "huber", "smooth_l1"):
        # stay away from the kinks
        kink = {"hinge": 1 / y, "squared_hinge": 1 / y, "l1": y, "huber": y, "smooth_l1": y}[name]
        x = np.where(np.abs(x - kink) < 0.05, x + 0.2, x)
        for d in (0.7, 0.4):
            x = np.where(np.abs(np.abs(x - y) - d) < 0.02, x + 0.1, x)
    h = 1e-6
    g = fn.grad(x, y, reduction="sum", **kw)
    fd = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = (fn(x + e, y, reduction="sum", **kw) - fn(x - e, y, reduction="sum", **kw)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch(rng, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape = (33, 65)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    p = rng.uniform(0.001, 0.999, shape).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0, 2, shape).astype(dtype)
    wrow = rng.uniform(0, 2, (shape[1],)).astype(dtype)
    pw = rng.uniform(0.5, 3, (shape[1],)).astype(dtype)
    cases = [
        (L.mse_loss, F.mse_loss, (x, y), {}),
        (L.mse_loss, F.mse_loss, (x, y), {"weight": w}),
        (L.l1_loss, F.l1_loss, (x, y), {}),
        (L.l1_loss, F.l1_loss, (x, y), {"weight": w}),
        (L.huber_loss, F.huber_loss, (x, y), {"delta": 0.6}),
        (L.huber_loss, F.huber_loss, (x, y), {"weight": w}),
        (L.smooth_l1_loss, F.smooth_l1_loss, (x, y), {"beta": 0.3}),
        (L.binary_cross_entropy, F.binary_cross_entropy, (p, t), {}),
        (L.binary_cross_entropy, F.binary_cross_entropy, (p, t), {"weight": wrow}),
        (L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, (x, t), {}),
        (L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, (x * 30, t),
         {"weight": wrow, "pos_weight": pw}),
    ]
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-11, atol=1e-13)
    for ours, theirs, (a, b), kw in cases:
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        for red in ("mean", "sum", "none"):
            at = torch.tensor(a, requires_grad=True)
            out = theirs(at, torch.tensor(b), reduction=red, **tkw)
            up = torch.tensor(rng.standard_normal(shape).astype(dtype)) if red == "none" else torch.tensor(1.0)
            out.backward(up if red == "none" else None)
            v, g = ours.value_and_grad(a, b, reduction=red, grad_output=up.numpy() if red == "none" else None, **kw)
            np.testing.assert_allclose(v, out.detach().numpy(), err_msg=f"{ours.__name__} {kw.keys()} {red}", **tol)
            np.testing.assert_allclose(g, at.grad.numpy(), err_msg=f"{ours.__name__} grad {red}", **tol)


def test_focal_matches_torchvision_formula_in_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(500) * 4
    y = rng.uniform(0, 1, 500)
    for alpha, gamma in ((0.25, 2.0), (-1, 2.0), (0.6, 0.0), (0.25, 1.5), (0.4, 3.0)):
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.tensor(y)
        p = torch.sigmoid(xt)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(xt, yt, reduction="none")
        pt = p * yt + (1 - p) * (1 - yt)
        loss = ce * ((1 - pt) ** gamma)
        if alpha >= 0:
            loss = (alpha * yt + (1 - alpha) * (1 - yt)) * loss
        loss.mean().backward()
        v, g = L.sigmoid_focal_loss.value_and_grad(x, y, alpha=alpha, gamma=gamma, reduction="mean")
        assert v == pytest.approx(loss.mean().item(), rel=1e-12)
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_focal_saturated_gradient_is_zero_not_nan(isa):
    x = np.array([800.0, -800.0, 50.0])
    y = np.array([1.0, 0.0, 1.0])
    for gamma in (0.5, 1.0, 2.0):
        g = L.sigmoid_focal_loss.grad(x, y, gamma=gamma)
        assert np.all(np.isfinite(g)) and abs(g[0]) == 0 and abs(g[1]) == 0


# ----------------------------------------------------------- edge cases

@pytest.mark.parametrize("name", sorted(FUNCS))
def test_empty_input(isa, name):
    fn, kw = FUNCS[name]
    e = np.zeros((0, 3))
    assert np.isnan(fn(e, e, reduction="mean", **kw))
    assert fn(e, e, reduction="sum", **kw) == 0.0
    assert fn(e, e, reduction="none", **kw).shape == (0, 3)
    assert fn.grad(e, e, reduction="mean", **kw).shape == (0, 3)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_nan_propagates(isa, name):
    fn, kw = FUNCS[name]
    x = np.array([0.5, np.nan, 0.25] * 7)
    y = np.array([1.0, 1.0, 1.0] * 7) if name not in ("bce",) else np.full(21, 0.5)
    assert np.isnan(fn(x, y, reduction="mean", **kw))
    lv = fn(x, y, reduction="none", **kw)
    assert np.isnan(lv[1::3]).all() and np.isfinite(lv[0::3]).all()


def test_weighted_mean_with_zero_weights_is_nan_like_torch():
    assert np.isnan(L.mse_loss([1.0, 2.0], [0.0, 0.0], weight=[0.0, 0.0]))


def test_reductions_and_types():
    v = L.mse_loss(np.float32([1, 2]), np.float32([0, 0]))
    assert type(v) is float and v == 2.5
    assert L.mse_loss([1, 2], [0, 0]) == 2.5  # ints promote to float64
    assert L.mse_loss(np.float32([1]), np.float64([0]), reduction="none").dtype == np.float64
    assert L.mse_loss(np.float32([1]), np.int64([0]), reduction="none").dtype == np.float64
    assert L.mse_loss(np.float32([1]), np.int8([0]), reduction="none").dtype == np.float32


def test_inputs_are_not_modified(rng):
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    xs, ys = x.copy(), y.copy()
    for fn, kw in FUNCS.values():
        if fn is L.binary_cross_entropy:
            continue
        fn.value_and_grad(x, y, **kw)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(y, ys)


def test_non_contiguous_inputs(rng):
    base = rng.standard_normal((40, 30))
    tb = rng.standard_normal((30, 40))
    x, y = base[::2, ::3], tb.T[::2, ::3]
    for fn, kw in (FUNCS["mse"], FUNCS["bce_logits"], FUNCS["huber"]):
        v1, g1 = fn.value_and_grad(x, y, reduction="sum", **kw)
        v2, g2 = fn.value_and_grad(np.ascontiguousarray(x), np.ascontiguousarray(y), reduction="sum", **kw)
        assert v1 == v2
        np.testing.assert_array_equal(g1, g2)


def test_bad_input():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="target shape"):
        L.mse_loss(x, np.ones((3, 2)))
    with pytest.raises(ValueError, match="reduction"):
        L.l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="delta"):
        L.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="delta"):
        L.huber_loss(x, x, delta=-1.0)
    with pytest.raises(ValueError, match="beta"):
        L.smooth_l1_loss(x, x, beta=-0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        L.binary_cross_entropy(np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        L.binary_cross_entropy(np.array([-0.1] * 40), np.zeros(40))
    with pytest.raises(ValueError, match="weight"):
        L.mse_loss(x, x, weight=np.ones(3))
    with pytest.raises(ValueError, match="weight"):
        L.binary_cross_entropy(x * 0.5, x, weight=np.ones(4))
    with pytest.raises(ValueError, match="pos_weight"):
        L.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="alpha"):
        L.sigmoid_focal_loss(x, x, alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        L.sigmoid_focal_loss(x, x, gamma=-1)
    with pytest.raises(TypeError):
        L.mse_loss(np.array(["a"]), np.array(["b"]))
    with pytest.raises(TypeError, match="grad_output"):
        L.mse_loss(x, x, grad_output=1.0)
    with pytest.raises(ValueError, match="grad_output"):
        L.mse_loss.grad(x, x, reduction="none", grad_output=np.ones(3))
    with pytest.raises(ValueError, match="grad_output"):
        L.mse_loss.grad(x, x, reduction="mean", grad_output=np.ones(6))


def test_signatures_and_docs():
    import inspect
    assert str(inspect.signature(L.mse_loss)) == "(input, target, reduction='mean', weight=None)"
    assert str(inspect.signature(L.binary_cross_entropy_with_logits)) == \
        "(input, target, weight=None, reduction='mean', pos_weight=None)"
    assert str(inspect.signature(L.sigmoid_focal_loss)) == \
        "(inputs, targets, alpha=0.25, gamma=2.0, reduction='none')"
    for fn, _ in FUNCS.values():
        assert fn.__doc__


# -------------------------------------------------- threads and accuracy

def test_results_identical_for_one_and_two_threads(rng):
    n = 1_000_003
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    for fn, kw in (FUNCS["mse"], FUNCS["bce_logits"], FUNCS["focal"], FUNCS["log_cosh"]):
        with nnmat.threads(1):
            v1, g1 = fn.value_and_grad(x, y, reduction="mean", **kw)
        with nnmat.threads(2):
            v2, g2 = fn.value_and_grad(x, y, reduction="mean", **kw)
        assert v1 == v2
        np.testing.assert_array_equal(g1, g2)


def test_float32_sum_stays_accurate_over_many_elements(rng):
    n = 10_000_000
    x = np.full(n, 0.1, np.float32)
    y = np.zeros(n, np.float32)
    exact = float(np.float64(np.float32(0.1)) ** 2) * n
    got = L.mse_loss(x, y, reduction="sum")
    assert abs(got - exact) / exact < 1e-6
    z = rng.standard_normal(n).astype(np.float32)
    ref = np.sum(z.astype(np.float64) ** 2)
    assert abs(L.mse_loss(z, y, reduction="sum") - ref) / ref < 1e-6


def test_bce_with_logits_accurate_at_saturation(isa):
    # (1 - y) x + softplus(-x) cancels for y = 0, x << 0 and y = 1, x >> 0 (torch returns 0);
    # nnmat keeps the tiny loss and gradient: log1p(e^-40) = 4.248e-18.
    x = np.array([-40.0, 40.0, -40.0, 40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    f = L.binary_cross_entropy_with_logits
    v, g = f.value_and_grad(x, y, reduction="none")
    tiny = np.log1p(np.exp(-40.0))
    np.testing.assert_allclose(v, [tiny, tiny, 40 + tiny, 40 + tiny], rtol=1e-14)
    np.testing.assert_allclose(g, [np.exp(-40) / (1 + np.exp(-40)), -np.exp(-40) / (1 + np.exp(-40)), -1, 1],
                               rtol=1e-14)
    fv = L.sigmoid_focal_loss(x[:2], y[:2], alpha=-1, gamma=0)
    np.testing.assert_allclose(fv, [tiny, tiny], rtol=1e-14)
