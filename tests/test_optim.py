"""nnmat.nn.optim: SGD, Adam, AdamW against torch.optim step for step and against a
plain-numpy reference of each rule (so the suite also runs without torch); every
ISA path, thread invariance, lr schedules, zero_grad, state_dict round trips,
bad input."""
import io

import numpy as np
import pytest

import nnmat
from nnmat.nn import optim

SIZES = [1, 7, 0, 33, 1000]
STEPS = 21

SGD_CONFIGS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.3},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.1},
    {"momentum": 0.8, "weight_decay": 0.05, "maximize": True},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "maximize": True},
    {"maximize": True},
]
ADAM_CONFIGS = [
    {},
    {"weight_decay": 0.1},
    {"amsgrad": True},
    {"maximize": True},
    {"betas": (0.3, 0.9)},   # 1 - beta1 >= 0.5: torch's other lerp form
    {"amsgrad": True, "weight_decay": 0.05, "maximize": True, "eps": 1e-6},
]
ADAMW_CONFIGS = [
    {},
    {"amsgrad": True},
    {"weight_decay": 0.0},
    {"maximize": True, "betas": (0.2, 0.99), "weight_decay": 0.1},
]
CASES = (
    [("SGD", c) for c in SGD_CONFIGS]
    + [("Adam", c) for c in ADAM_CONFIGS]
    + [("AdamW", c) for c in ADAMW_CONFIGS]
)
CASE_IDS = [f"{k}-{'-'.join(f'{a}={b}' for a, b in c.items()) or 'default'}" for k, c in CASES]
LR = {"SGD": 0.05, "Adam": 0.01, "AdamW": 0.01}


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)


def _problem(rng, dtype, sizes=SIZES):
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    grads = [np.zeros(n, dtype) for n in sizes]
    return params, grads


def _new_grads(rng, grads):
    for g in grads:
        g[...] = rng.standard_normal(g.shape).astype(g.dtype)


# ---------------------------------------------------------------- numpy reference
class _Ref:
    """Plain numpy version of torch.optim's single-tensor rules, in the arrays' dtype."""

    def __init__(self, kind, params, **h):
        self.kind, self.p = kind, [p.copy() for p in params]
        self.T = params[0].dtype.type
        self.h = dict(h)
        self.t = 0
        self.buf = [None] * len(params)
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.vmax = [np.zeros_like(p) for p in params]

    def step(self, grads):
        T, h = self.T, self.h
        self.t += 1
        for i, (p, g) in enumerate(zip(self.p, grads)):
            g = -g if h.get("maximize") else g.copy()
            wd = h.get("weight_decay", 1e-2 if self.kind == "AdamW" else 0.0)
            if self.kind == "SGD":
                mom, damp = h.get("momentum", 0.0), h.get("dampening", 0.0)
                if wd:
                    g = g + T(wd) * p
                if mom:
                    if self.buf[i] is None:
                        self.buf[i] = g.copy()
                    else:
                        self.buf[i] = self.buf[i] * T(mom) + T(1 - damp) * g
                    g = g + T(mom) * self.buf[i] if h.get("nesterov") else self.buf[i]
                p += T(-h["lr"]) * g
                continue
            lr = h["lr"]
            b1, b2 = h.get("betas", (0.9, 0.999))
            eps = h.get("eps", 1e-8)
            if wd and self.kind == "AdamW":
                p *= T(1 - lr * wd)
            elif wd:
                g = g + T(wd) * p
            w = T(1 - b1)
            if w < 0.5:
                self.m[i] = self.m[i] + w * (g - self.m[i])
            else:
                self.m[i] = g - (g - self.m[i]) * (T(1) - w)
            self.v[i] = self.v[i] * T(b2) + T(1 - b2) * g * g
            v = self.v[i]
            if h.get("amsgrad"):
                self.vmax[i] = np.maximum(self.vmax[i], v)
                v = self.vmax[i]
            bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
            denom = np.sqrt(v) / T(bc2 ** 0.5) + T(eps)
            p += T(-lr / bc1) * self.m[i] / denom


def _make(kind, pairs_or_none, lr, cfg):
    return getattr(optim, kind)(pairs_or_none, lr=lr, **cfg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,cfg", CASES, ids=CASE_IDS)
def test_matches_numpy_reference(isa, rng, kind, cfg, dtype):
    params, grads = _problem(rng, dtype)
    ref = _Ref(kind, params, lr=LR[kind], **cfg)
    opt = _make(kind, list(zip(params, grads)), LR[kind], cfg)
    for _ in range(STEPS):
        _new_grads(rng, grads)
        opt.step()
        ref.step(grads)
    assert opt.steps == STEPS
    for p, r in zip(params, ref.p):
        np.testing.assert_allclose(p, r, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,cfg", CASES, ids=CASE_IDS)
def test_matches_torch(isa, rng, kind, cfg, dtype):
    torch = pytest.importorskip("torch")
    params, grads = _problem(rng, dtype)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    topt = getattr(torch.optim, kind)(tparams, lr=LR[kind], **cfg)
    opt = _make(kind, list(zip(params, grads)), LR[kind], cfg)
    for _ in range(STEPS):
        _new_grads(rng, grads)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.from_numpy(g.copy())
        topt.step()
        opt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p, tp.detach().numpy(), **_tol(dtype))
    # the state too (exp_avg / momentum buffers)
    sd = opt.state_dict()
    tstate = topt.state[tparams[-1]]
    key = "momentum_buffer" if kind == "SGD" else "exp_avg"
    if key in tstate and tstate[key] is not None:
        np.testing.assert_allclose(sd[f"{key}.{len(SIZES) - 1}"], tstate[key].numpy(), **_tol(dtype))


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    import inspect

    for name in ("SGD", "Adam", "AdamW"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for arg, p in ours.items():
            if arg == "params":
                continue
            assert arg in theirs, (name, arg)
            assert p.default == theirs[arg].default, (name, arg)
            assert p.kind == theirs[arg].kind, (name, arg)


def test_lr_schedule_and_hyper_changes(isa, rng):
    params, grads = _problem(rng, np.float64)
    ref = _Ref("Adam", params, lr=0.01)
    opt = optim.Adam(list(zip(params, grads)), lr=0.01)
    for k in range(8):
        if k == 3:
            opt.lr = 0.002
            ref.h["lr"] = 0.002
        if k == 5:
            opt.betas = (0.8, 0.99)
            ref.h["betas"] = (0.8, 0.99)
        _new_grads(rng, grads)
        opt.step()
        ref.step(grads)
    assert opt.lr == 0.002 and opt._core.lr == 0.002 and opt.betas == (0.8, 0.99)
    for p, r in zip(params, ref.p):
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-13)
    # lr = 0: nothing moves (SGD)
    sgd = optim.SGD(list(zip(params, grads)), lr=0.1, momentum=0.9)
    sgd.lr = 0.0
    before = [p.copy() for p in params]
    sgd.step()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)


@pytest.mark.parametrize("kind,cfg", [("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
                                      ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
                                      ("AdamW", {})])
def test_thread_invariance(isa, rng, kind, cfg):
    sizes = [1, 70001, 70000]   # > 1 << 17 elements; thread ranges cross segment boundaries
    results = []
    for nt in (1, 2):
        r = np.random.default_rng(5)
        params, grads = _problem(r, np.float32, sizes)
        opt = _make(kind, list(zip(params, grads)), 0.01, cfg)
        with nnmat.threads(nt):
            for _ in range(3):
                _new_grads(r, grads)
                opt.step()
        results.append(params)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


class _Layer:
    def __init__(self, rng, dtype=np.float32):
        self.w = rng.standard_normal((3, 5)).astype(dtype)
        self.b = rng.standard_normal(5).astype(dtype)
        self.gw, self.gb = np.ones_like(self.w), np.ones_like(self.b)

    def parameters(self):
        return [self.w, self.b]

    def gradients(self):
        return [self.gw, self.gb]


def test_model_params_zero_grad_and_live_gradients(rng):
    layer = _Layer(rng)
    opt = optim.SGD(layer, lr=0.5)
    w0 = layer.w.copy()
    layer.gw[...] = 2.0   # written in place after attach, as backward does
    opt.step()
    np.testing.assert_allclose(layer.w, w0 - np.float32(0.5) * 2, rtol=1e-7)
    opt.zero_grad()
    assert not layer.gw.any() and not layer.gb.any()
    w1 = layer.w.copy()
    opt.step()
    np.testing.assert_array_equal(layer.w, w1)
    assert opt._core.dtype == np.float32 and isinstance(opt._core, nnmat._core.Optimizer_f32)
    assert list(opt._core.sizes) == [15, 5]


def test_attach_later(rng):
    layer = _Layer(rng, np.float64)
    opt = optim.AdamW()
    assert opt._core is None and not opt.attached
    with pytest.raises(RuntimeError, match="no parameters attached"):
        opt.step()
    with pytest.raises(RuntimeError, match="no parameters attached"):
        opt.zero_grad()
    opt.attach(layer.parameters(), layer.gradients())
    opt.step()
    assert opt.steps == 1 and isinstance(opt._core, nnmat._core.Optimizer_f64)
    assert "AdamW(lr=0.001, betas=(0.9, 0.999)" in repr(opt)


@pytest.mark.parametrize("kind,cfg", [("SGD", {"momentum": 0.9, "dampening": 0.1}),
                                      ("Adam", {"amsgrad": True}), ("AdamW", {"weight_decay": 0.1})])
def test_state_dict_round_trip(rng, kind, cfg):
    params, grads = _problem(rng, np.float32)
    opt = _make(kind, list(zip(params, grads)), 0.01, cfg)
    gseq = [[rng.standard_normal(n).astype(np.float32) for n in SIZES] for _ in range(12)]
    for k in range(5):
        for g, gn in zip(grads, gseq[k]):
            g[...] = gn
        opt.step()
    buf = io.BytesIO()
    np.savez(buf, **opt.state_dict())
    buf.seek(0)
    saved = dict(np.load(buf, allow_pickle=False))
    params2 = [p.copy() for p in params]
    grads2 = [np.zeros_like(g) for g in grads]
    opt2 = _make(kind, None, 0.5, {})          # hyper-parameters come from the state
    opt2.load_state_dict(saved)                # before attach: applied at attach
    opt2.attach(params2, grads2)
    assert opt2.steps == 5 and opt2.lr == 0.01
    for k in range(5, 12):
        for g, g2, gn in zip(grads, grads2, gseq[k]):
            g[...] = gn
            g2[...] = gn
        opt.step()
        opt2.step()
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="kind"):
        optim.SGD(list(zip(params, grads))).load_state_dict(
            optim.Adam(list(zip(params, grads))).state_dict())
    with pytest.raises(ValueError, match="sizes"):
        _make(kind, [(params[0], grads[0])], 0.1, {}).load_state_dict(saved)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD(momentum=-0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 0"):
        optim.Adam(betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.AdamW(betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="epsilon|eps"):
        optim.Adam(eps=-1e-8)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW(weight_decay=-1.0)
    with pytest.raises(TypeError):
        optim.Adam(lr="fast")
    opt = optim.SGD(momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        opt.momentum = 0.0
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -0.5
    assert opt.momentum == 0.9 and opt.lr == 1e-3


def test_bad_arrays(rng):
    p32, g32 = np.ones(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(TypeError, match="one dtype"):
        optim.SGD([(p32, g32), (np.ones(3), np.ones(3))])
    with pytest.raises(TypeError, match="one dtype"):
        optim.SGD([(p32, np.ones(4))])
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.SGD([(np.ones(4, np.int64), np.ones(4, np.int64))])
    with pytest.raises(ValueError, match="C-contiguous"):
        optim.Adam([(np.ones((4, 4))[:, ::2], np.ones((4, 2)))])
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([(np.ones(4), np.ones(5))])
    ro = np.ones(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.Adam([(ro, np.ones(4))])
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="parameter arrays but"):
        optim.SGD().attach([p32], [])
    with pytest.raises(TypeError, match="pair"):
        optim.SGD([p32])
    with pytest.raises(TypeError):
        optim.SGD(p32)
    # the C++ object checks what it is handed, too
    core = nnmat._core.Optimizer_f32(kind="adam")
    core.set_sizes([4])
    with pytest.raises(ValueError, match="expected 1"):
        core.step([], [])
    with pytest.raises(TypeError, match="float32"):
        core.step([np.ones(4)], [g32])
    with pytest.raises(ValueError, match="elements"):
        core.step([np.ones(5, np.float32)], [g32])
    with pytest.raises(IndexError):
        core.state(2, 0)
    with pytest.raises(ValueError, match="kind"):
        nnmat._core.Optimizer_f64(kind="rmsprop")


def test_state_view_keeps_core_alive():
    core = nnmat._core.Optimizer_f64(kind="adam", amsgrad=True)
    core.set_sizes([3, 2])
    assert core.num_state == 3
    v = core.state(1, 1)
    del core
    assert v.shape == (2,) and not v.any()
    v[...] = 1.0


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW"])
def test_nan_gradient_propagates(isa, kind):
    p = np.ones(19)
    g = np.full(19, 0.5)
    g[[0, 9, 18]] = np.nan
    opt = getattr(optim, kind)([(p, g)], lr=0.1)
    opt.step()
    assert np.isnan(p[[0, 9, 18]]).all() and np.isfinite(np.delete(p, [0, 9, 18])).all()
