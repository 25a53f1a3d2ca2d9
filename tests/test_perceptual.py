"""nnmat.losses.perceptual_loss, nnmat.nn.PointwiseConv2d and nnmat.nn.PerceptualLoss
(spec/losses.md section 4.2): the spec's worked example, a numpy reference,
finite differences, torch (Conv2d(k=1) + autograd), bad inputs."""
import numpy as np
import pytest

import nnmat
from nnmat import nn
from nnmat.losses import perceptual_loss

W1 = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.5], [-0.4, 0.2, 0.9], [0.7, 0.1, 0.3]])
W2 = np.array([[0.6, -0.3, 0.2, 0.5], [-0.1, 0.4, 0.7, -0.2]])
X = np.array([[[[0.2, 0.9], [0.4, 0.1]], [[0.5, 0.3], [0.8, 0.6]], [[0.1, 0.7], [0.3, 0.9]]]])
XH = np.array([[[[0.3, 0.8], [0.4, 0.2]], [[0.4, 0.3], [0.9, 0.5]], [[0.2, 0.6], [0.3, 1.0]]]])
LW1 = np.array([0.2, 0.1, 0.3, 0.4])
LW2 = np.array([0.5, 0.25])
GRAD_MSE = np.array([0.0173337, -0.0153262, -0.0020075, 0.021415, -0.0170662, 0.004385, 0.0126812,
                     -0.00107125, 0.0206825, -0.018305, -0.0023775, 0.0114238])


def assert_6_digits(actual, desired):
    """actual agrees with the spec's 6-significant-digit values: within half a unit of the 6th digit."""
    actual, desired = np.ravel(actual), np.ravel(desired)
    unit = 10.0 ** (np.floor(np.log10(np.abs(desired))) - 5)
    assert np.all(np.abs(actual - desired) <= 0.5 * unit * 1.001), (actual, desired)


def spec_net(dtype=np.float64, w1=W1, w2=W2):
    c1 = nn.PointwiseConv2d(w1.shape[1], w1.shape[0], activation="relu", bias=False, dtype=dtype)
    c2 = nn.PointwiseConv2d(w2.shape[1], w2.shape[0], activation="relu", bias=False, dtype=dtype)
    c1.weight = w1
    c2.weight = w2
    return [c1, c2]


# ----------------------------------------------------------------- numpy reference

def ref_features(x, ws, acts):
    out = []
    h = x
    for w, act in zip(ws, acts):
        h = act(np.einsum("oc,nc...->no...", w, h))
        out.append(h)
    return out


def ref_loss(xh, x, ws, acts, lam, distance, lpw=None, reduction="mean"):
    A, B = ref_features(xh, ws, acts), ref_features(x, ws, acts)
    N = xh.shape[0]
    per = np.zeros(N)
    for l, (a, b) in enumerate(zip(A, B)):
        if distance == "lpips":
            a4 = a.reshape(a.shape[0], a.shape[1], -1)
            b4 = b.reshape(b.shape[0], b.shape[1], -1)
            na = a4 / (np.sqrt((a4 ** 2).sum(1, keepdims=True)) + 1e-10)
            nb = b4 / (np.sqrt((b4 ** 2).sum(1, keepdims=True)) + 1e-10)
            w = np.ones(a.shape[1]) if lpw is None else lpw[l]
            per += lam[l] * (w[None, :, None] * (na - nb) ** 2).sum(1).mean(1)
        else:
            d = (a - b) ** 2 if distance == "mse" else np.abs(a - b)
            per += lam[l] * d.reshape(N, -1).mean(1)
    return {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]


relu = lambda z: np.maximum(z, 0)  # noqa: E731


# ---------------------------------------------------------------- worked example

def test_worked_example_mse(isa):
    feats = spec_net()
    v, g = perceptual_loss.value_and_grad(XH, X, feats, layer_weights=[1.0, 0.5])
    assert_6_digits(v, 0.00716537)
    assert_6_digits(g, GRAD_MSE)
    assert g.shape == XH.shape and g.dtype == np.float64
    # per-layer MSE [0.0042625, 0.00580575]
    assert perceptual_loss(XH, X, feats, layer_weights=[1.0, 0.0]) == pytest.approx(0.0042625, rel=1e-12)
    assert perceptual_loss(XH, X, feats, layer_weights=[0.0, 1.0]) == pytest.approx(0.00580575, rel=1e-12)


def test_worked_example_l1_and_lpips(isa):
    feats = spec_net()
    assert perceptual_loss(XH, X, feats, [1.0, 0.5], "l1") == pytest.approx(0.0885, rel=1e-12)
    v = perceptual_loss(XH, X, feats, distance="lpips", lpips_weights=[LW1, LW2])
    assert_6_digits(v, 0.0634989)
    assert_6_digits(perceptual_loss(XH, X, feats, distance="lpips"), 0.154869)
    assert perceptual_loss(XH, X, feats, distance="lpips", lpips_weights=[np.ones(4), np.ones(2)]) \
        == pytest.approx(0.154869, rel=1e-6)


def test_worked_example_float32():
    feats = spec_net(np.float32)
    v, g = perceptual_loss.value_and_grad(XH.astype(np.float32), X.astype(np.float32), feats, [1.0, 0.5])
    assert isinstance(v, float) and v == pytest.approx(0.00716537, rel=1e-5)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.ravel(), GRAD_MSE, rtol=1e-4, atol=1e-7)
    v = perceptual_loss(XH.astype(np.float32), X.astype(np.float32), feats, distance="lpips",
                        lpips_weights=[LW1, LW2])
    assert v == pytest.approx(0.0634989, rel=1e-5)


# ------------------------------------------------------------ random vs numpy, FD

def conv_stages(rng, chans, dtype=np.float64, acts=("relu", "tanh")):
    out = []
    for (ci, co), act in zip(zip(chans[:-1], chans[1:]), acts):
        out.append(nn.PointwiseConv2d(ci, co, activation=act, bias=True, seed=int(rng.integers(1000)),
                                      dtype=dtype))
    return out


def ref_of(stages):
    ws, acts = [], []
    for s in stages:
        w, b = s.weight.astype(np.float64), s.bias.astype(np.float64)
        f = {"relu": relu, "tanh": np.tanh}[type(s.activation).__name__.lower()]
        ws.append(w)
        acts.append(lambda z, f=f, b=b: f(z + b.reshape((1, -1) + (1,) * (z.ndim - 2))))
    return ws, acts


@pytest.mark.parametrize("distance", ["mse", "l1", "lpips"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_random_vs_numpy(rng, isa, distance, reduction):
    stages = conv_stages(rng, [3, 5, 4])
    x = rng.standard_normal((3, 3, 4, 5))
    xh = x + 0.3 * rng.standard_normal(x.shape)
    lam = [0.7, 1.3]
    lpw = [rng.uniform(0, 1, 5), rng.uniform(0, 1, 4)] if distance == "lpips" else None
    v = perceptual_loss(xh, x, stages, lam, distance, reduction, lpips_weights=lpw)
    ws, acts = ref_of(stages)
    np.testing.assert_allclose(v, ref_loss(xh, x, ws, acts, lam, distance, lpw, reduction), rtol=1e-10)
    if reduction == "none":
        assert v.shape == (3,) and v.dtype == np.float64
    else:
        assert isinstance(v, float)


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("distance", ["mse", "l1", "lpips"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient_finite_differences(rng, distance, reduction):
    stages = conv_stages(rng, [2, 3, 3])
    x = rng.standard_normal((2, 2, 2, 3))
    xh = x + 0.5 * rng.standard_normal(x.shape)
    lam = [0.6, 1.5]
    lpw = [rng.uniform(0.1, 1, 3), rng.uniform(0.1, 1, 3)] if distance == "lpips" else None
    kw = dict(layer_weights=lam, distance=distance, lpips_weights=lpw)
    go = np.array([0.7, -1.2]) if reduction == "none" else None
    if reduction == "none":
        f = lambda z: float(perceptual_loss(z, x, stages, reduction="none", **kw) @ go)  # noqa: E731
    else:
        f = lambda z: perceptual_loss(z, x, stages, reduction=reduction, **kw)  # noqa: E731
    v, g = perceptual_loss.value_and_grad(xh, x, stages, reduction=reduction, grad_output=go, **kw)
    np.testing.assert_allclose(g, fd_grad(f, xh), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(perceptual_loss.grad(xh, x, stages, reduction=reduction, grad_output=go, **kw), g,
                               rtol=0, atol=0)
    if reduction != "none":
        g2 = perceptual_loss.grad(xh, x, stages, reduction=reduction, grad_output=2.5, **kw)
        np.testing.assert_allclose(g2, 2.5 * g, rtol=1e-14)


@pytest.mark.parametrize("distance", ["mse", "l1", "lpips"])
def test_sequential_stages_rows(rng, distance):
    s1 = nn.Sequential([nn.Dense(6, 5, seed=1, dtype=np.float64), nn.ReLU()])
    s2 = nn.Sequential([nn.Dense(5, 4, seed=2, dtype=np.float64), nn.Tanh()])
    x = rng.standard_normal((3, 6))
    xh = x + 0.4 * rng.standard_normal(x.shape)
    lam = [1.0, 0.5]
    v, g = perceptual_loss.value_and_grad(xh, x, [s1, s2], lam, distance)
    ws = [s1.layers[0].weight, s2.layers[0].weight]
    bs = [s1.layers[0].bias, s2.layers[0].bias]
    acts = [lambda z: relu(z + bs[0]), lambda z: np.tanh(z + bs[1])]
    assert v == pytest.approx(ref_loss(xh, x, ws, acts, lam, distance), rel=1e-10)
    f = lambda z: perceptual_loss(z, x, [s1, s2], lam, distance)  # noqa: E731
    np.testing.assert_allclose(g, fd_grad(f, xh), rtol=1e-6, atol=1e-8)


def test_mixed_stage_kinds(rng):
    # a Flatten-led Sequential after a pointwise conv: images -> rows
    c = nn.PointwiseConv2d(3, 4, activation="tanh", seed=3, dtype=np.float64)
    s = nn.Sequential([nn.Flatten(), nn.Dense(4 * 2 * 2, 3, activation="relu", seed=4, dtype=np.float64)])
    x = rng.standard_normal((2, 3, 2, 2))
    xh = x + 0.3 * rng.standard_normal(x.shape)
    for distance in ("mse", "lpips"):
        g = perceptual_loss.grad(xh, x, [c, s], distance=distance)
        f = lambda z: perceptual_loss(z, x, [c, s], distance=distance)  # noqa: E731
        np.testing.assert_allclose(g, fd_grad(f, xh), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------- torch

@pytest.mark.parametrize("distance", ["mse", "l1", "lpips"])
def test_vs_torch(rng, isa, distance):
    torch = pytest.importorskip("torch")
    stages = conv_stages(rng, [3, 6, 5])
    x = rng.standard_normal((4, 3, 5, 3))
    xh = x + 0.3 * rng.standard_normal(x.shape)
    lam = [0.8, 1.7]
    lpw = [rng.uniform(0, 1, 6), rng.uniform(0, 1, 5)] if distance == "lpips" else None
    v, g = perceptual_loss.value_and_grad(xh, x, stages, lam, distance, lpips_weights=lpw)

    convs = []
    for s in stages:
        conv = torch.nn.Conv2d(s.in_channels, s.out_channels, 1, dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(s.weight.astype(np.float64)[:, :, None, None]))
            conv.bias.copy_(torch.from_numpy(s.bias.astype(np.float64)))
        conv.requires_grad_(False)
        convs.append(conv)
    acts = [torch.relu, torch.tanh]

    def feats(z):
        out = []
        for conv, act in zip(convs, acts):
            z = act(conv(z))
            out.append(z)
        return out

    def normalize(f):
        return f / (torch.sqrt((f ** 2).sum(1, keepdim=True)) + 1e-10)

    with torch.no_grad():
        ft = feats(torch.from_numpy(x))
    xt = torch.from_numpy(xh).requires_grad_(True)
    fx = feats(xt)
    total = 0.0
    for l, (a, b) in enumerate(zip(fx, ft)):
        if distance == "mse":
            d = torch.nn.functional.mse_loss(a, b)
        elif distance == "l1":
            d = torch.nn.functional.l1_loss(a, b)
        else:
            w = torch.from_numpy(lpw[l])[None, :, None, None]
            d = (w * (normalize(a) - normalize(b)) ** 2).sum(1, keepdim=True).mean([2, 3]).mean()
        total = total + lam[l] * d
    total.backward()
    assert v == pytest.approx(total.item(), rel=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_pointwise_conv_vs_torch(rng):
    torch = pytest.importorskip("torch")
    for bias, act, tact in ((True, None, lambda z: z), (False, "relu", torch.relu), (True, "tanh", torch.tanh)):
        c = nn.PointwiseConv2d(5, 7, activation=act, bias=bias, seed=11, dtype=np.float64)
        conv = torch.nn.Conv2d(5, 7, 1, bias=bias, dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(c.weight[:, :, None, None]))
            if bias:
                conv.bias.copy_(torch.from_numpy(c.bias))
        x = rng.standard_normal((2, 5, 3, 4))
        y = c.forward(x)
        xt = torch.from_numpy(x).requires_grad_(True)
        yt = tact(conv(xt))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
        go = rng.standard_normal(y.shape)
        dx = c.backward(go)
        yt.backward(torch.from_numpy(go))
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(c.weight_grad, conv.weight.grad.numpy()[:, :, 0, 0], rtol=1e-10, atol=1e-13)
        if bias:
            np.testing.assert_allclose(c.bias_grad, conv.bias.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_pointwise_conv_finite_differences_and_api(rng):
    c = nn.PointwiseConv2d(3, 2, activation="tanh", seed=5, dtype=np.float64)
    x = rng.standard_normal((2, 3, 2, 3))
    go = rng.standard_normal((2, 2, 2, 3))
    y = c.forward(x)
    assert y.shape == (2, 2, 2, 3) and y.flags.c_contiguous
    dx = c.backward(go)
    np.testing.assert_allclose(dx, fd_grad(lambda z: float((c.forward(z) * go).sum()), x), rtol=1e-7, atol=1e-9)
    # weight gradient by finite differences
    c.forward(x)
    c.backward(go)
    gw = c.weight_grad.copy()
    w0 = c.weight.copy()

    def fw(w):
        c.weight = w
        return float((c.forward(x) * go).sum())

    np.testing.assert_allclose(gw, fd_grad(fw, w0), rtol=1e-7, atol=1e-9)
    c.weight = w0
    # unbatched (C, H, W)
    np.testing.assert_allclose(c.forward(x[1]), c.forward(x)[1], rtol=1e-15)
    # API as Dense
    assert [p.shape for p in c.parameters()] == [(2, 3), (2,)]
    assert len(c.gradients()) == 2 and [n for n, _, _ in c._named_parameters()] == ["weight", "bias"]
    cfg = c.get_config()
    assert cfg["in_channels"] == 3 and cfg["out_channels"] == 2 and cfg["seed"] == 5
    c2 = nn.PointwiseConv2d(**{**cfg, "activation": "tanh"})
    np.testing.assert_array_equal(c2.weight, c.weight)   # same seed, same weights
    bound = 1 / np.sqrt(3)
    assert np.all(np.abs(c.weight) <= bound) and np.all(np.abs(c.bias) <= bound)
    assert nn.PointwiseConv2d(3, 2).forward(np.ones((1, 3, 1, 1))).dtype == np.float32


def test_pointwise_conv_bad_inputs():
    c = nn.PointwiseConv2d(3, 2)
    with pytest.raises(ValueError, match="channels"):
        c.forward(np.ones((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="PointwiseConv2d"):
        c.forward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="forward first"):
        nn.PointwiseConv2d(3, 2).backward(np.ones((1, 2, 1, 1)))
    c.forward(np.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="grad_output"):
        c.backward(np.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="PointwiseConv2d: in_channels"):
        nn.PointwiseConv2d(-1, 2)
    with pytest.raises(TypeError, match="cannot be used inside Sequential"):
        nn.Sequential([nn.Dense(3, 3), nn.PointwiseConv2d(3, 2)])
    with pytest.raises(TypeError, match="cannot be used inside Sequential"):
        nn.Sequential([nn.PointwiseConv2d(3, 2, bias=False)])


# ---------------------------------------------------------------- properties

def test_features_frozen_and_gradients_kept(rng):
    stages = conv_stages(rng, [3, 4, 2])
    seq = nn.Sequential([nn.Flatten(), nn.Dense(2 * 2 * 2, 3, seed=1, dtype=np.float64)])
    stages.append(seq)
    for s in stages:
        for g in s.gradients():
            g[...] = 7.0
    params = [p.copy() for s in stages for p in s.parameters()]
    x = rng.standard_normal((2, 3, 2, 2))
    xh = x + 0.2
    for distance in ("mse", "l1", "lpips"):
        if distance == "lpips":
            stages2 = stages[:2]
            perceptual_loss.value_and_grad(xh, x, stages2, distance=distance)
        else:
            perceptual_loss.value_and_grad(xh, x, stages, distance=distance)
    for p, p0 in zip([p for s in stages for p in s.parameters()], params):
        np.testing.assert_array_equal(p, p0)
    for s in stages:
        for g in s.gradients():
            assert np.all(g == 7.0)


def test_inputs_not_modified_and_noncontiguous(rng):
    stages = conv_stages(rng, [3, 4, 2])
    x = rng.standard_normal((2, 3, 4, 6))
    xh = x + 0.1 * rng.standard_normal(x.shape)
    x0, xh0 = x.copy(), xh.copy()
    v1, g1 = perceptual_loss.value_and_grad(xh[..., ::2], x[..., ::2], stages, distance="lpips")
    v2, g2 = perceptual_loss.value_and_grad(np.ascontiguousarray(xh[..., ::2]), np.ascontiguousarray(x[..., ::2]),
                                            stages, distance="lpips")
    assert v1 == v2 and np.array_equal(g1, g2)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(xh, xh0)


def test_identical_inputs_and_float32(rng):
    stages = conv_stages(rng, [3, 4, 2], dtype=np.float32)
    x = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    for distance in ("mse", "l1", "lpips"):
        v, g = perceptual_loss.value_and_grad(x, x, stages, distance=distance)
        assert v == 0.0 and g.dtype == np.float32 and np.all(g == 0)
    xh = x + np.float32(0.25)
    s64 = conv_stages(np.random.default_rng(0), [3, 4, 2])
    for s32, s in zip(stages, s64):
        s.weight = s32.weight
        s.bias = s32.bias
    for distance in ("mse", "l1", "lpips"):
        v32, g32 = perceptual_loss.value_and_grad(xh, x, stages, distance=distance)
        v64, g64 = perceptual_loss.value_and_grad(xh.astype(np.float64), x.astype(np.float64), s64,
                                                  distance=distance)
        assert v32 == pytest.approx(v64, rel=1e-5)
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-6 * np.abs(g64).max())


def test_zero_feature_vector_lpips_gradient_finite():
    # relu features that are exactly zero at a pixel: the gradient is finite (limit), not NaN
    c = nn.PointwiseConv2d(2, 2, activation="relu", bias=False, dtype=np.float64)
    c.weight = np.eye(2)
    x = np.array([[[[1.0, -1.0]], [[0.5, -2.0]]]])
    xh = np.array([[[[0.8, -0.5]], [[0.6, -1.0]]]])
    v, g = perceptual_loss.value_and_grad(xh, x, [c], distance="lpips")
    assert np.isfinite(v) and np.all(np.isfinite(g))
    assert g[0, :, 0, 1].tolist() == [0.0, 0.0]


def test_empty_batch(rng):
    stages = conv_stages(rng, [3, 4, 2])
    x = np.zeros((0, 3, 2, 2))
    for distance in ("mse", "lpips"):
        assert np.isnan(perceptual_loss(x, x, stages, distance=distance))
        assert perceptual_loss(x, x, stages, distance=distance, reduction="sum") == 0.0
        assert perceptual_loss(x, x, stages, distance=distance, reduction="none").shape == (0,)
        assert perceptual_loss.grad(x, x, stages, distance=distance).shape == x.shape


def test_lpips_thread_determinism(rng):
    c1 = nn.PointwiseConv2d(8, 16, activation="relu", seed=1)
    c2 = nn.PointwiseConv2d(16, 8, activation="relu", seed=2)
    x = rng.standard_normal((16, 8, 32, 32)).astype(np.float32)
    xh = x + np.float32(0.1) * rng.standard_normal(x.shape).astype(np.float32)
    with nnmat.threads(1):
        v1, g1 = perceptual_loss.value_and_grad(xh, x, [c1, c2], distance="lpips")
    with nnmat.threads(2):
        v2, g2 = perceptual_loss.value_and_grad(xh, x, [c1, c2], distance="lpips")
    assert v1 == v2 and np.array_equal(g1, g2)


def test_bad_inputs(rng):
    stages = conv_stages(rng, [3, 4, 2])
    x = rng.standard_normal((2, 3, 2, 2))
    with pytest.raises(ValueError, match="perceptual_loss: target shape"):
        perceptual_loss(x, x[:1], stages)
    with pytest.raises(ValueError, match="at least one stage"):
        perceptual_loss(x, x, [])
    with pytest.raises(TypeError, match="features must be a list"):
        perceptual_loss(x, x, stages[0])
    with pytest.raises(TypeError, match=r"features\[1\] has no forward"):
        perceptual_loss(x, x, [stages[0], np.tanh])
    with pytest.raises(ValueError, match="appears twice"):
        perceptual_loss(x, x, [stages[0], stages[0]])
    with pytest.raises(ValueError, match="layer_weights"):
        perceptual_loss(x, x, stages, layer_weights=[1.0])
    with pytest.raises(ValueError, match="distance must be"):
        perceptual_loss(x, x, stages, distance="l2")
    with pytest.raises(ValueError, match="reduction"):
        perceptual_loss(x, x, stages, reduction="batchmean")
    with pytest.raises(ValueError, match="only used with distance='lpips'"):
        perceptual_loss(x, x, stages, lpips_weights=[np.ones(4), np.ones(2)])
    with pytest.raises(ValueError, match=r"lpips_weights\[1\] must have shape \(2,\)"):
        perceptual_loss(x, x, stages, distance="lpips", lpips_weights=[np.ones(4), np.ones(3)])
    with pytest.raises(ValueError, match="non-negative"):
        perceptual_loss(x, x, stages, distance="lpips", lpips_weights=[np.ones(4), -np.ones(2)])
    with pytest.raises(ValueError, match="one .* per feature stage"):
        perceptual_loss(x, x, stages, distance="lpips", lpips_weights=[np.ones(4)])
    with pytest.raises(TypeError, match="input must be a real numeric"):
        perceptual_loss(x.astype(complex), x, stages)
    with pytest.raises(ValueError, match="grad_output"):
        perceptual_loss.grad(x, x, stages, reduction="none", grad_output=np.ones(3))
    y3 = rng.standard_normal((2, 3, 4))   # a Dense on the last axis keeps 3-D features
    with pytest.raises(ValueError, match="4-D"):
        perceptual_loss(y3, y3, [nn.Dense(4, 5)], distance="lpips")
    with pytest.raises(ValueError, match="batch axis"):
        perceptual_loss(x[0], x[0], [nn.PointwiseConv2d(3, 4)])   # (C, H, W) -> (4, H, W)


def test_perceptual_loss_class_and_fit(rng):
    c1 = nn.PointwiseConv2d(3, 4, activation="relu", seed=1, dtype=np.float64)
    c2 = nn.PointwiseConv2d(4, 2, activation="tanh", seed=2, dtype=np.float64)
    loss = nn.PerceptualLoss([c1, c2], layer_weights=[1.0, 0.5])
    x = rng.standard_normal((4, 3, 2, 2))
    xh = x + 0.2 * rng.standard_normal(x.shape)
    v, g = loss.value_and_grad(xh, x)
    v2, g2 = perceptual_loss.value_and_grad(xh, x, [c1, c2], [1.0, 0.5])
    assert v == v2 and np.array_equal(g, g2)
    assert loss(xh, x) == v and loss.n_inputs == 2
    sw = np.array([1.0, 0.0, 2.0, 1.0])
    per = perceptual_loss(xh, x, [c1, c2], [1.0, 0.5], reduction="none")
    vw, gw = loss.value_and_grad(xh, x, sample_weight=sw)
    assert vw == pytest.approx((per * sw).sum() / sw.sum(), rel=1e-12)
    assert np.all(gw[1] == 0)
    assert "PointwiseConv2d" in repr(loss) and loss.get_config()["layer_weights"] == [1.0, 0.5]
    # an autoencoder trained with the perceptual loss of flattened images
    feats = [nn.Sequential([nn.Dense(6, 5, activation="tanh", seed=3)])]
    model = nn.Sequential([nn.Dense(6, 3, activation="tanh"), nn.Dense(3, 6)], seed=0)
    data = rng.standard_normal((64, 6)).astype(np.float32)
    lossobj = nn.PerceptualLoss(feats)
    before = lossobj(model.predict(data), data)
    fw = [p.copy() for p in feats[0].parameters()]
    model.fit(data, data, loss=lossobj, optimizer="adam", epochs=5, batch_size=16, verbose=0)
    assert lossobj(model.predict(data), data) < before
    for p, p0 in zip(feats[0].parameters(), fw):
        np.testing.assert_array_equal(p, p0)
