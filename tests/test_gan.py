"""GAN losses (spec/losses.md 5.1, 5.3, 5.4): worked examples, numpy references,
finite differences, torch, edge cases and bad input."""
import numpy as np
import pytest

import nnmat
from nnmat.losses import (gan_discriminator_loss, gan_generator_loss, gradient_penalty,
                          lsgan_discriminator_loss, lsgan_generator_loss, wasserstein_critic_loss,
                          wasserstein_generator_loss)

R = [1.5, -0.3, 0.8]
F = [-1.0, 0.4, -2.2]
DTYPES = [np.float32, np.float64]


def close(got, want, dt):
    """got agrees with the spec's 6-significant-digit numbers (half a unit in the 6th
    digit, plus float32 rounding for float32 results)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    unit = 10.0 ** (np.floor(np.log10(np.abs(want))) - 5)
    tol = 0.5 * unit * 1.0001 + (4e-7 * np.abs(want) if dt == np.float32 else 0.0)
    err = np.abs(got - want)
    assert np.all(err <= tol), f"got {got}, spec {want}, error {err}, allowed {tol}"


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------
# worked examples of the spec

@pytest.mark.parametrize("dt", DTYPES)
def test_spec_adversarial(isa, dt):
    r, f = np.array(R, dt), np.array(F, dt)
    v, (dr, df) = gan_discriminator_loss.value_and_grad(r, f)
    assert isinstance(v, float)
    close(v, 0.91941, dt)
    close(dr, [-0.0608085, -0.191481, -0.103342], dt)
    close(df, [0.0896471, 0.199563, 0.0332502], dt)
    assert dr.dtype == dt and df.dtype == dt
    close(gan_discriminator_loss(r, f, label_smoothing=0.25), 1.00274, dt)
    v, g = gan_generator_loss.value_and_grad(f)
    close(v, 1.37712, dt)
    close(g, [-0.243686, -0.133771, -0.300083], dt)
    v, g = gan_generator_loss.value_and_grad(f, mode="minimax")
    close(v, -0.443787, dt)
    close(g, [-0.0896471, -0.199563, -0.0332502], dt)
    # TF-GAN's minimax value carries the constant -softplus(-1)
    close(v - softplus(-1.0), -0.757048, dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_spec_wasserstein(isa, dt):
    r, f = np.array(R, dt), np.array(F, dt)
    v, (dr, df) = wasserstein_critic_loss.value_and_grad(r, f)
    close(v, -1.6, dt)
    close(dr, [-0.333333] * 3, dt)
    close(df, [0.333333] * 3, dt)
    v, g = wasserstein_generator_loss.value_and_grad(f)
    close(v, 0.933333, dt)
    close(g, [-0.333333] * 3, dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_spec_lsgan(isa, dt):
    r, f = np.array(R, dt), np.array(F, dt)
    v, (dr, df) = lsgan_discriminator_loss.value_and_grad(r, f)
    close(v, 1.33, dt)
    close(dr, [0.166667, -0.433333, -0.0666667], dt)
    close(df, [-0.333333, 0.133333, -0.733333], dt)
    v, g = lsgan_generator_loss.value_and_grad(f)
    close(v, 2.43333, dt)
    close(g, [-0.666667, -0.2, -1.06667], dt)
    close(lsgan_discriminator_loss(r, f, a=-1, b=1), 0.896667, dt)
    close(lsgan_generator_loss(f, c=0), 1.0, dt)
    close(2 * lsgan_generator_loss(f), 4.86667, dt)  # pix2pix-style plain MSE


def _fixed_critic_grads():
    """g_i = dD/dx at x_hat for the spec's D(x) = sum_k v_k tanh(W x)_k, by hand."""
    W = np.array([[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8]])
    v = np.array([1.0, -0.5, 2.0])
    x_real = np.array([[1.0, 0.0], [0.5, -0.5]])
    x_fake = np.array([[0.0, 1.0], [-1.0, 0.2]])
    e = np.array([0.3, 0.8])[:, None]
    x_hat = e * x_real + (1 - e) * x_fake
    np.testing.assert_allclose(x_hat, [[0.3, 0.7], [0.2, -0.36]], rtol=1e-12)
    h = np.tanh(x_hat @ W.T)
    np.testing.assert_allclose(h @ v, [-0.116951, -0.47205], rtol=5e-6)
    return (v * (1 - h ** 2)) @ W


@pytest.mark.parametrize("dt", DTYPES)
def test_spec_gradient_penalty(isa, dt):
    g = _fixed_critic_grads()
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), [1.48, 1.53509], rtol=5e-6)
    v, dg = gradient_penalty.value_and_grad(g.astype(dt))
    close(v, 0.258362, dt)
    close(10 * v, 2.58362, dt)
    close(dg, [[-0.443018, 0.184754], [-0.518468, 0.132346]], dt)
    assert dg.dtype == dt


# ---------------------------------------------------------------------------
# numpy references on random inputs, every reduction

def ref_terms(name, r, f, **kw):
    """(real_terms, fake_terms, d_real_terms, d_fake_terms) in float64; None for absent."""
    r = None if r is None else r.astype(np.float64)
    f = f.astype(np.float64)
    if name == "gan_d":
        y = 1 - kw.get("label_smoothing", 0.0) / 2
        return softplus(r) - y * r, softplus(f), sigmoid(r) - y, sigmoid(f)
    if name == "gan_g_ns":
        return None, softplus(-f), None, sigmoid(f) - 1
    if name == "gan_g_mm":
        return None, -softplus(f), None, -sigmoid(f)
    if name == "w_c":
        return -r, f, -np.ones_like(r), np.ones_like(f)
    if name == "w_g":
        return None, -f, None, -np.ones_like(f)
    if name == "ls_d":
        a, b = kw.get("a", 0.0), kw.get("b", 1.0)
        return 0.5 * (r - b) ** 2, 0.5 * (f - a) ** 2, r - b, f - a
    if name == "ls_g":
        c = kw.get("c", 1.0)
        return None, 0.5 * (f - c) ** 2, None, f - c
    raise ValueError(name)


CASES = [
    ("gan_d", gan_discriminator_loss, {}),
    ("gan_d", gan_discriminator_loss, {"label_smoothing": 0.25}),
    ("gan_g_ns", gan_generator_loss, {}),
    ("gan_g_mm", gan_generator_loss, {"mode": "minimax"}),
    ("w_c", wasserstein_critic_loss, {}),
    ("w_g", wasserstein_generator_loss, {}),
    ("ls_d", lsgan_discriminator_loss, {}),
    ("ls_d", lsgan_discriminator_loss, {"a": -1.0, "b": 1.0}),
    ("ls_g", lsgan_generator_loss, {}),
    ("ls_g", lsgan_generator_loss, {"c": 0.0}),
]


def call_args(name, r, f):
    return (r, f) if name in ("gan_d", "w_c", "ls_d") else (f,)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_vs_numpy(isa, rng, dt, reduction, case):
    name, loss, kw = CASES[case]
    r = (rng.standard_normal((7, 3)) * 3).astype(dt)
    f = (rng.standard_normal(11) * 3).astype(dt)
    two = name in ("gan_d", "w_c", "ls_d")
    tr, tf, dtr, dtf = ref_terms(name, r, f, **kw)
    args = call_args(name, r, f)
    v, g = loss.value_and_grad(*args, reduction=reduction, **kw)
    tol = dict(rtol=1e-5 if dt == np.float32 else 1e-12, atol=1e-6 if dt == np.float32 else 1e-13)
    if reduction == "none":
        if two:
            assert isinstance(v, tuple) and v[0].shape == r.shape and v[1].shape == f.shape
            np.testing.assert_allclose(v[0], tr, **tol)
            np.testing.assert_allclose(v[1], tf, **tol)
        else:
            assert v.shape == f.shape and v.dtype == dt
            np.testing.assert_allclose(v, tf, **tol)
    else:
        assert isinstance(v, float)
        red = np.mean if reduction == "mean" else np.sum
        want = red(tf) + (red(tr) if two else 0.0)
        np.testing.assert_allclose(v, want, **tol)
    sr = 1 / r.size if reduction == "mean" else 1.0
    sf = 1 / f.size if reduction == "mean" else 1.0
    if two:
        np.testing.assert_allclose(g[0], dtr * sr, **tol)
        np.testing.assert_allclose(g[1], dtf * sf, **tol)
        assert g[0].dtype == dt and g[1].dtype == dt and g[0].shape == r.shape
    else:
        np.testing.assert_allclose(g, dtf * sf, **tol)
        assert g.dtype == dt and g.shape == f.shape
    # grad alone equals the fused gradient
    g2 = loss.grad(*args, reduction=reduction, **kw)
    for a, b in zip(g if two else (g,), g2 if two else (g2,)):
        np.testing.assert_array_equal(a, b)


def test_none_grad_output(rng):
    r, f = rng.standard_normal(5), rng.standard_normal(4)
    gr, gf = rng.standard_normal(5), rng.standard_normal(4)
    dr, df = gan_discriminator_loss.grad(r, f, reduction="none", grad_output=(gr, gf))
    np.testing.assert_allclose(dr, (sigmoid(r) - 1) * gr, rtol=1e-12)
    np.testing.assert_allclose(df, sigmoid(f) * gf, rtol=1e-12)
    dr, df = gan_discriminator_loss.grad(r, f, reduction="none", grad_output=2.0)
    np.testing.assert_allclose(dr, 2 * (sigmoid(r) - 1), rtol=1e-12)
    g = lsgan_generator_loss.grad(f, reduction="none", grad_output=gf)
    np.testing.assert_allclose(g, (f - 1) * gf, rtol=1e-12)
    g = gan_generator_loss.grad(f, reduction="mean", grad_output=3.0)
    np.testing.assert_allclose(g, 3 * (sigmoid(f) - 1) / 4, rtol=1e-12)
    with pytest.raises(ValueError, match="gan_discriminator_loss"):
        gan_discriminator_loss.grad(r, f, reduction="none", grad_output=(gr,))
    with pytest.raises(ValueError, match="grad_output"):
        gan_discriminator_loss.grad(r, f, reduction="none", grad_output=(gr, gr))
    with pytest.raises(ValueError, match="grad_output"):
        gan_generator_loss.grad(f, reduction="mean", grad_output=gf)


# ---------------------------------------------------------------------------
# finite differences (float64)

def fd_check(fun, x, grad, h=1e-6, tol=1e-7):
    x = x.copy()
    num = np.empty_like(x)
    flat, nflat = x.reshape(-1), num.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = fun(x)
        flat[i] = old - h
        dn = fun(x)
        flat[i] = old
        nflat[i] = (up - dn) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=tol)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_finite_differences(rng, case, reduction):
    name, loss, kw = CASES[case]
    r = rng.standard_normal((2, 3)) * 2
    f = rng.standard_normal(5) * 2
    if name in ("gan_d", "w_c", "ls_d"):
        dr, df = loss.grad(r, f, reduction=reduction, **kw)
        fd_check(lambda x: loss(x, f, reduction=reduction, **kw), r, dr)
        fd_check(lambda x: loss(r, x, reduction=reduction, **kw), f, df)
    else:
        g = loss.grad(f, reduction=reduction, **kw)
        fd_check(lambda x: loss(x, reduction=reduction, **kw), f, g)


@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_penalty_finite_differences(rng, one_sided, reduction):
    g = rng.standard_normal((4, 2, 3)) * 0.6
    kw = dict(target=1.3, one_sided=one_sided, reduction=reduction)
    d = gradient_penalty.grad(g, **kw)
    fd_check(lambda x: gradient_penalty(x, **kw), g, d)


# ---------------------------------------------------------------------------
# gradient penalty vs numpy

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 5), (7,), (1, 1), (3, 0)])
def test_gradient_penalty_vs_numpy(isa, rng, dt, one_sided, shape):
    g = (rng.standard_normal(shape) * 0.7).astype(dt)
    t, eps = 0.9, 1e-10
    g64 = g.astype(np.float64).reshape(shape[0], -1)
    n = np.sqrt((g64 ** 2).sum(axis=1) + eps)
    u = n / t - 1
    if one_sided:
        u = np.maximum(u, 0)
    pen = u ** 2
    dg = (2 * u / (t * n))[:, None] * g64
    tol = dict(rtol=1e-5 if dt == np.float32 else 1e-12, atol=1e-7 if dt == np.float32 else 1e-14)
    v, d = gradient_penalty.value_and_grad(g, target=t, one_sided=one_sided)
    np.testing.assert_allclose(v, pen.mean(), **tol)
    np.testing.assert_allclose(d.reshape(shape[0], -1), dg / shape[0], **tol)
    assert d.shape == g.shape and d.dtype == dt
    np.testing.assert_allclose(gradient_penalty(g, target=t, one_sided=one_sided, reduction="sum"),
                               pen.sum(), **tol)
    per = gradient_penalty(g, target=t, one_sided=one_sided, reduction="none")
    assert per.shape == (shape[0],) and per.dtype == dt
    np.testing.assert_allclose(per, pen, **tol)
    go = rng.standard_normal(shape[0]).astype(dt)
    d = gradient_penalty.grad(g, target=t, one_sided=one_sided, reduction="none", grad_output=go)
    np.testing.assert_allclose(d.reshape(shape[0], -1), dg * go[:, None], **tol)


# ---------------------------------------------------------------------------
# torch

def test_torch_adversarial(rng):
    torch = pytest.importorskip("torch")
    F_ = torch.nn.functional
    r = rng.standard_normal((6, 2)) * 3
    f = rng.standard_normal(9) * 3
    for ls in (0.0, 0.25):
        tr = torch.tensor(r, requires_grad=True)
        tf = torch.tensor(f, requires_grad=True)
        loss = (F_.binary_cross_entropy_with_logits(tr, torch.full_like(tr, 1 - ls / 2))
                + F_.binary_cross_entropy_with_logits(tf, torch.zeros_like(tf)))
        loss.backward()
        v, (dr, df) = gan_discriminator_loss.value_and_grad(r, f, label_smoothing=ls)
        np.testing.assert_allclose(v, loss.item(), rtol=1e-12)
        np.testing.assert_allclose(dr, tr.grad.numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(df, tf.grad.numpy(), rtol=1e-10, atol=1e-15)
    tf = torch.tensor(f, requires_grad=True)
    loss = F_.binary_cross_entropy_with_logits(tf, torch.ones_like(tf))
    loss.backward()
    v, g = gan_generator_loss.value_and_grad(f)
    np.testing.assert_allclose(v, loss.item(), rtol=1e-12)
    np.testing.assert_allclose(g, tf.grad.numpy(), rtol=1e-10, atol=1e-15)
    tf = torch.tensor(f, requires_grad=True)
    loss = torch.log1p(-torch.sigmoid(tf)).mean()
    loss.backward()
    v, g = gan_generator_loss.value_and_grad(f, mode="minimax")
    np.testing.assert_allclose(v, loss.item(), rtol=1e-10)
    np.testing.assert_allclose(g, tf.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_torch_gradient_penalty_double_backward(rng):
    """GP through a real critic with torch autograd: nnmat's dGP/dg, chained by
    torch through the critic, matches torch's own double backward."""
    torch = pytest.importorskip("torch")
    W = torch.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    v = torch.tensor(rng.standard_normal(5))
    x = torch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    d = (torch.tanh(x @ W.T) @ v).sum()
    (g,) = torch.autograd.grad(d, x, create_graph=True)
    gp = ((torch.sqrt((g ** 2).sum(1) + 1e-10) - 1) ** 2).mean()
    (dW_torch,) = torch.autograd.grad(gp, W, retain_graph=True)
    value, dg = gradient_penalty.value_and_grad(g.detach().numpy())
    np.testing.assert_allclose(value, gp.item(), rtol=1e-12)
    (dW_nnmat,) = torch.autograd.grad(g, W, grad_outputs=torch.tensor(dg))
    np.testing.assert_allclose(dW_nnmat.numpy(), dW_torch.numpy(), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------
# edge cases

def test_empty_inputs():
    e = np.zeros(0)
    f = np.array(F)
    assert np.isnan(gan_discriminator_loss(e, f))
    np.testing.assert_allclose(gan_discriminator_loss(e, f, reduction="sum"), softplus(f).sum())
    assert np.isnan(gan_generator_loss(e))
    assert gan_generator_loss(e, reduction="sum") == 0.0
    assert gan_generator_loss(e, reduction="none").shape == (0,)
    g = gan_generator_loss.grad(e)
    assert g.shape == (0,)
    dr, df = wasserstein_critic_loss.grad(e, f)
    assert dr.shape == (0,)
    np.testing.assert_allclose(df, 1 / 3)
    assert np.isnan(lsgan_discriminator_loss(e, e))
    assert np.isnan(gradient_penalty(np.zeros((0, 3))))
    assert gradient_penalty(np.zeros((0, 3)), reduction="sum") == 0.0
    assert gradient_penalty.grad(np.zeros((0, 3))).shape == (0, 3)
    # zero gradients: norm sqrt(eps), finite gradient
    v, d = gradient_penalty.value_and_grad(np.zeros((2, 3)))
    np.testing.assert_allclose(v, (np.sqrt(1e-10) - 1) ** 2)
    assert np.all(d == 0)


def test_non_contiguous_and_int_inputs(isa, rng):
    base = rng.standard_normal((6, 8))
    r = base[::2, ::3]
    f = base.T[::2]
    assert not r.flags.c_contiguous and not f.flags.c_contiguous
    v, (dr, df) = gan_discriminator_loss.value_and_grad(r, f)
    v2, (dr2, df2) = gan_discriminator_loss.value_and_grad(r.copy(), f.copy())
    assert v == v2
    np.testing.assert_array_equal(dr, dr2)
    np.testing.assert_array_equal(df, df2)
    base_copy = base.copy()
    gradient_penalty.value_and_grad(base[:, ::2])
    np.testing.assert_array_equal(base, base_copy)  # inputs untouched
    np.testing.assert_allclose(gradient_penalty(base[:, ::2]), gradient_penalty(base[:, ::2].copy()))
    # ints promote to float64, mixed float32/float64 to float64
    assert gan_generator_loss.grad([1, 2, 3]).dtype == np.float64
    dr, df = lsgan_discriminator_loss.grad(np.ones(2, np.float32), np.ones(2))
    assert dr.dtype == np.float64 and df.dtype == np.float64
    dr, df = lsgan_discriminator_loss.grad(np.ones(2, np.float32), np.ones(2, np.float32))
    assert dr.dtype == np.float32


def test_nan_propagation():
    r = np.array([0.5, np.nan, -1.0])
    f = np.array([0.2, -0.3])
    for loss in (gan_discriminator_loss, wasserstein_critic_loss, lsgan_discriminator_loss):
        v, (dr, df) = loss.value_and_grad(r, f)
        assert np.isnan(v)
        terms = loss(r, f, reduction="none")[0]
        assert np.isnan(terms[1]) and not np.isnan(terms[0])
        if loss is not wasserstein_critic_loss:
            assert np.isnan(dr[1]) and not np.isnan(dr[0])
        assert not np.isnan(df).any()
    for mode in ("non_saturating", "minimax"):
        v, g = gan_generator_loss.value_and_grad(r, mode=mode)
        assert np.isnan(v) and np.isnan(g[1]) and not np.isnan(g[0])
    g = np.array([[1.0, np.nan], [0.5, 0.5]])
    for one_sided in (False, True):
        per, = [gradient_penalty(g, one_sided=one_sided, reduction="none")]
        assert np.isnan(per[0]) and not np.isnan(per[1])
        d = gradient_penalty.grad(g, one_sided=one_sided)
        assert np.isnan(d[0]).all() and not np.isnan(d[1]).any()


def test_saturated_logits_are_finite():
    x = np.array([-800.0, -40.0, 40.0, 800.0])
    v, (dr, df) = gan_discriminator_loss.value_and_grad(x, x, reduction="none")
    np.testing.assert_allclose(v[0], softplus(-x), rtol=1e-12)
    np.testing.assert_allclose(v[1], softplus(x), rtol=1e-12)
    assert np.isfinite(dr).all() and np.isfinite(df).all()
    # 1 - sigma(40) is 4.2e-18, not rounded to 0
    np.testing.assert_allclose(gan_generator_loss.grad(x, reduction="sum")[2], -np.exp(-40.0) / (1 + np.exp(-40.0)),
                               rtol=1e-12)


def test_threads_bitwise_identical(rng):
    n = 300_000
    r = rng.standard_normal(n).astype(np.float32)
    f = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal((3, 70_000)).astype(np.float32)
    g_many = rng.standard_normal((500, 600))
    out = []
    for nt in (1, 2):
        with nnmat.threads(nt):
            out.append((gan_discriminator_loss.value_and_grad(r, f),
                        lsgan_generator_loss.value_and_grad(f),
                        gradient_penalty.value_and_grad(g),
                        gradient_penalty.value_and_grad(g_many)))
    for a, b in zip(*out):
        assert a[0] == b[0]
        ga = a[1] if isinstance(a[1], tuple) else (a[1],)
        gb = b[1] if isinstance(b[1], tuple) else (b[1],)
        for x, y in zip(ga, gb):
            np.testing.assert_array_equal(x, y)
    # and the float32 sum is double-accurate
    np.testing.assert_allclose(out[0][1][0], 0.5 * np.mean((f.astype(np.float64) - 1) ** 2), rtol=1e-6)


def test_bad_input():
    r, f = np.array(R), np.array(F)
    with pytest.raises(ValueError, match="gan_generator_loss: mode"):
        gan_generator_loss(f, mode="saturating")
    with pytest.raises(ValueError, match="reduction"):
        gan_discriminator_loss(r, f, reduction="batchmean")
    with pytest.raises(ValueError, match="label_smoothing"):
        gan_discriminator_loss(r, f, label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        gan_discriminator_loss(r, f, label_smoothing=-0.1)
    with pytest.raises(TypeError, match="label_smoothing"):
        gan_discriminator_loss(r, f, label_smoothing="0.1")
    for t in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gradient_penalty: target"):
            gradient_penalty(np.ones((2, 2)), target=t)
    for e in (0.0, -1e-10, float("nan")):
        with pytest.raises(ValueError, match="gradient_penalty: eps"):
            gradient_penalty(np.ones((2, 2)), eps=e)
    with pytest.raises(ValueError, match="batch dimension"):
        gradient_penalty(np.float64(1.0))
    with pytest.raises(ValueError, match="grad_output"):
        gradient_penalty.grad(np.ones((2, 2)), reduction="none", grad_output=np.ones(3))
    with pytest.raises(TypeError, match="one_sided"):
        gradient_penalty(np.ones((2, 2)), one_sided="yes")
    with pytest.raises(TypeError, match="fake"):
        gan_generator_loss(np.array(["a"]))
    with pytest.raises(TypeError, match="lsgan_generator_loss: c"):
        lsgan_generator_loss(f, c=None)
    with pytest.raises(TypeError, match="complex|real"):
        wasserstein_generator_loss(np.ones(2, np.complex128))
    with pytest.raises(TypeError, match="grad_output"):
        gan_generator_loss(f, grad_output=1.0)


def test_scalar_inputs():
    v = gan_generator_loss(np.float64(0.5), reduction="none")
    assert v.shape == ()
    np.testing.assert_allclose(v, softplus(-0.5))
    assert gan_generator_loss.grad(0.5).shape == ()
