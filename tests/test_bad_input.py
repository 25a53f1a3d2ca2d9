"""A catalogue of bad (and unusual but valid) inputs fed to every public function.

The registry is tests/catalogue.py; every (function, mutator, argument) is one
test id. Promise checked: bad input gives a clear Python exception naming the
function (and the argument), never a crash, hang, silent garbage or a changed
input array (every call here checks its inputs are unchanged afterwards).

Huge inputs: zero-stride views whose element count and byte size overflow
(2**57 rows: up to 2**62 bytes, the most a numpy view may span), so that any copy or allocation numpy attempts fails at once
(ValueError "array is too big" / MemoryError) before anything is allocated. Views
whose element count only just overflows 32 bits (e.g. (2**16, 2**16 + 1)) are NOT
tested: every function copies its inputs or allocates a result of that size
(>= 32 GiB), which the shared test machine must not attempt.
"""
from __future__ import annotations

import copy
import sys
import os

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from catalogue import ENTRIES, BY_NAME, make  # noqa: E402

import nnmat  # noqa: E402

ERRORS = (ValueError, TypeError, IndexError)


# ----------------------------------------------------------------------------- helpers

def _snapshot(v):
    if isinstance(v, np.ndarray):
        return np.array(v, copy=True)
    return copy.deepcopy(v)


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        if before.shape != after.shape or before.dtype != after.dtype:
            return False
        if before.dtype.kind in "fc":
            return np.array_equal(before, after, equal_nan=True)
        return np.array_equal(before, after)
    return before == after


def run(e, args, skip=(), **extra):
    """Call the entry; afterwards every input (but `skip` and its out) must be unchanged."""
    snaps = {k: _snapshot(v) for k, v in args.items()}
    try:
        return e.call(args, **extra)
    finally:
        for k, v in args.items():
            if k in skip or k in e.mutable or k == e.out:
                continue
            assert _unchanged(snaps[k], v), f"{e.name} modified its input {k!r}"


def flat(res):
    """The result as a list of float64 arrays (tuples and dicts flattened, None skipped)."""
    if res is None:
        return []
    if isinstance(res, dict):
        return [a for k in sorted(res) for a in flat(res[k])]
    if isinstance(res, (tuple, list)):
        return [a for r in res for a in flat(r)]
    a = np.asarray(res)
    assert a.dtype.kind in "fc", f"unexpected result dtype {a.dtype}"
    return [a]


def value_part(e, res):
    if e.name.endswith(".value_and_grad"):
        return res[0]
    return res


def assert_same(res, ref, rtol=1e-12, atol=1e-14, ravel=False):
    got, want = flat(res), flat(ref)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if ravel:
            g, w = g.ravel(), w.ravel()
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def check_message(e, err, *needles):
    msg = str(err)
    assert e.fname in msg, f"message does not name the function {e.fname!r}: {msg!r}"
    if needles:
        assert any(n in msg for n in needles), f"message names none of {needles}: {msg!r}"


def kind(e, a):
    return e.arrays[a][1]


# ----------------------------------------------------------------------------- XFAILS
# (entry, mutator, arg) -> reason: known deviations left for a later change.
XFAIL = {}


def _cases(gen):
    out = []
    for c in gen:
        reason = XFAIL.get(c)
        cid = "-".join(str(p) for p in c)
        out.append(pytest.param(*c, id=cid, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason
                   else pytest.param(*c, id=cid))
    return out


def _multi(e):
    return len(e.arrays) > 1


def _heavy(e):
    """Entries for the large mutator classes: a loss's .grad runs the same validation and
    kernel as its .value_and_grad (want_value=False), so it is left to the other classes
    (shape, parameters, empty, huge, labels) to keep this file fast."""
    return not e.name.endswith(".grad")


HEAVY = [e for e in ENTRIES if _heavy(e)]


# ----------------------------------------------------------------------------- the cases

SHAPE_CASES = _cases((e.name, "shape", a) for e in ENTRIES if _multi(e) for a in e.arrays if a not in e.free_shape)
ZERO_D_CASES = _cases((e.name, "zero_d", a) for e in HEAVY for a in e.arrays)
OPTIONAL = ("weight", "pos_weight", "bias")   # None means "no weight / no bias" there
REJECT_CASES = _cases((e.name, m, a) for e in HEAVY for a in e.arrays
                      for m in ("complex", "object", "str", "datetime", "none", "ragged")
                      if not (m == "none" and a in OPTIONAL))
CONVERT_CASES = _cases((e.name, m, a) for e in HEAVY for a in e.arrays for m in ("bool", "int", "list", "float32", "float16"))
LAYOUT_CASES = _cases((e.name, m, a) for e in HEAVY for a in e.arrays
                      for m in ("noncontig", "negstride", "fortran", "broadcast", "readonly", "bigendian", "unaligned")
                      if not (m == "fortran" and len(e.arrays[a][0](3, 4)) < 2))
NONFINITE_CASES = _cases((e.name, m, a) for e in HEAVY for a in e.arrays if kind(e, a) != "lab"
                         for m in ("nan", "inf"))   # -inf: in the special-values tests below
OUT_CASES = _cases((e.name, m, e.out) for e in ENTRIES if e.out
                   for m in ("out_int", "out_f32", "out_shape", "out_readonly", "out_alias", "out_noncontig",
                             "out_list", "out_overlap+1", "out_overlap-1", "out_overlap+row"))
EMPTY_CASES = _cases((e.name, m, "-") for e in ENTRIES for m in ("empty_n", "empty_c")
                     if not (m == "empty_c" and e.no_empty_c))
LABEL_CASES = _cases((e.name, m, a) for e in ENTRIES for a in e.arrays if kind(e, a) == "lab"
                     for m in ("uint64_wrap", "too_big", "negative"))
HUGE_CASES = _cases((e.name, "huge", "-") for e in ENTRIES)
PARAM_CASES = _cases((e.name, "param", f"{i}:{'/'.join(f'{k}={v!r}' for k, v in p[0].items())}")
                     for e in ENTRIES for i, p in enumerate(e.params))


@pytest.mark.parametrize("name,mut,arg", SHAPE_CASES)
def test_mismatched_shape(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    s = list(args[arg].shape)
    ax = e.mismatch_axis.get(arg, -1)
    s[ax] = s[ax] - 1 if s[ax] > 1 else s[ax] + 1
    new = tuple(s)
    args[arg] = make(new, kind(e, arg))
    with pytest.raises(ERRORS) as ei:
        run(e, args)
    check_message(e, ei.value, arg, "shape", "operand")   # matmul: numpy's own wording


@pytest.mark.parametrize("name,mut,arg", ZERO_D_CASES)
def test_zero_d(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    orig = args[arg]
    args[arg] = np.asarray(orig.flat[0])
    try:
        res = run(e, args)
    except ERRORS as err:
        check_message(e, err)
        return
    # accepted: it must mean the scalar broadcast (or, alone, a one-element array)
    ref_args = dict(args)
    if _multi(e) and arg not in e.free_shape:
        ref_args[arg] = np.full(orig.shape, orig.flat[0], dtype=orig.dtype)
        assert_same(res, run(e, ref_args))
    else:
        ref_args[arg] = orig.reshape(-1)[:1].copy()
        assert_same(res, run(e, ref_args), ravel=True)


def _rejected(orig, m):
    if m == "complex":
        return orig.astype(np.complex128) + 1j
    if m == "object":
        return orig.astype(object)
    if m == "str":
        return np.full(orig.shape, "a")
    if m == "none":
        return None
    if m == "ragged":
        return [[1.0, 2.0], [3.0]]
    if m == "dict":
        return {"a": 1.0}
    return np.zeros(orig.shape, "datetime64[s]")


@pytest.mark.parametrize("name,mut,arg", REJECT_CASES)
def test_unsupported_dtype(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    args[arg] = _rejected(args[arg], mut)
    if name == "matmul" and mut == "complex":   # documented: handed to numpy.matmul
        ref = dict(args)
        np.testing.assert_array_equal(run(e, args), np.matmul(ref["a"], ref["b"]))
        return
    with pytest.raises(TypeError) as ei:
        run(e, args)
    check_message(e, ei.value)


def _converted(e, arg, orig, m):
    """(mutated argument, float64/int64 reference argument of the same values)."""
    k = kind(e, arg)
    if m == "list":
        return orig.tolist(), orig
    if m in ("float32", "float16") and k != "lab":   # promoted as numpy promotes (float16 -> float32)
        v = orig.astype(m)
        return v, v.astype(np.float64)
    if m in ("float32", "float16"):
        return orig.astype(np.int16), orig      # another integer type for labels
    if k == "lab":
        v = orig.astype(np.bool_) if m == "bool" else orig.astype(np.uint8)
        return v, v.astype(np.int64)
    if m == "bool":
        if k == "box":
            v = np.zeros(orig.shape, bool)
            v[..., 2:] = True
        else:
            v = orig > np.median(orig) if orig.size else orig.astype(bool)
        return v, v.astype(np.float64)
    v = np.rint(orig).astype(np.int32)
    return v, v.astype(np.float64)


@pytest.mark.parametrize("name,mut,arg", CONVERT_CASES)
def test_converted_input(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    v, r = _converted(e, arg, args[arg], mut)
    ref_args = dict(args)
    ref_args[arg] = r
    args[arg] = v
    if mut == "bool" and kind(e, arg) == "lab":
        try:
            res = run(e, args)
        except TypeError as err:   # torch refuses bool class indices too
            check_message(e, err)
            return
    else:
        res = run(e, args)
    if mut in ("float32", "float16") and kind(e, arg) != "lab":
        # float64 when another input is float64; float32 when it is the only float input
        if [k for k in e.arrays if kind(e, k) != "lab"] == [arg]:
            assert_same(res, run(e, ref_args), rtol=2e-5, atol=1e-6)
            return
    assert_same(res, run(e, ref_args))


def _layout(orig, m):
    if m == "noncontig":
        big = np.zeros(orig.shape[:-1] + (2 * orig.shape[-1],), orig.dtype)
        big[..., ::2] = orig
        return big[..., ::2]
    if m == "negstride":
        return orig[::-1].copy()[::-1]
    if m == "fortran":
        return np.asfortranarray(orig)
    if m == "broadcast":
        return np.broadcast_to(orig[:1], orig.shape)
    if m == "bigendian":
        return orig.astype(orig.dtype.newbyteorder(">" if orig.dtype.byteorder != ">" else "<"))
    if m == "unaligned":   # data one byte off the item alignment
        raw = np.zeros(orig.nbytes + 1, np.uint8)
        v = raw[1:].view(orig.dtype).reshape(orig.shape)
        v[...] = orig
        return v
    v = orig.copy()
    v.setflags(write=False)
    return v


@pytest.mark.parametrize("name,mut,arg", LAYOUT_CASES)
def test_layout(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    v = _layout(args[arg], mut)
    ref_args = dict(args)
    ref_args[arg] = np.ascontiguousarray(v)
    args[arg] = v
    assert_same(run(e, args), run(e, ref_args))


@pytest.mark.parametrize("name,mut,arg", NONFINITE_CASES)
def test_nonfinite(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    v = args[arg].copy()
    v.flat[0] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[mut]
    args[arg] = v
    try:
        res = run(e, args)
    except ValueError as err:   # e.g. binary_cross_entropy: input outside [0, 1]
        assert mut != "nan" or e.finite_only, f"NaN input raised instead of propagating: {err}"
        check_message(e, err)
        return
    flat(res)
    if mut == "nan" and e.returns_value and arg not in e.nan_free:
        assert any(np.isnan(a).any() for a in flat(value_part(e, res))), "NaN in the input did not reach the value"


def _out_for(e, args, m):
    ref = run(e, args)
    shape = np.asarray(ref).shape
    if m == "out_int":
        return np.zeros(shape, np.int64), ref
    if m == "out_f32":
        return np.zeros(shape, np.float32), ref
    if m == "out_shape":
        return np.zeros(shape[:-1] + (shape[-1] + 1,)), ref
    if m == "out_readonly":
        o = np.zeros(shape)
        o.setflags(write=False)
        return o, ref
    if m == "out_alias":
        first = next(k for k in e.arrays if args[k].shape == shape)
        return args[first], ref
    if m == "out_noncontig":
        big = np.zeros(shape[:-1] + (2 * shape[-1],))
        return big[..., ::2], ref
    return np.zeros(shape).tolist(), ref


@pytest.mark.parametrize("name,mut,arg", OUT_CASES)
def test_out(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    if mut.startswith("out_overlap"):
        ref = run(e, args)
        # out and the first input of the result's shape share a buffer, shifted (partial overlap)
        first = next(k for k in e.arrays if args[k].shape == np.shape(ref))
        x = args[first]
        shift = {"out_overlap+1": 1, "out_overlap-1": -1}.get(mut, x.shape[-1])
        buf = np.zeros(x.size + abs(shift))
        xv = buf[max(-shift, 0): max(-shift, 0) + x.size].reshape(x.shape)
        out = buf[max(shift, 0): max(shift, 0) + x.size].reshape(x.shape)
        xv[...] = x
        args[first] = xv
        alias = first
    else:
        out, ref = _out_for(e, args, mut)
        alias = next((k for k in e.arrays if args[k] is out), None)
    call_args = dict(args)
    call_args[e.out] = out
    if mut in ("out_int", "out_shape", "out_readonly", "out_list"):
        with pytest.raises(ERRORS) as ei:
            run(e, call_args, skip=(alias,) if alias else ())
        check_message(e, ei.value, arg)
        return
    try:
        res = run(e, call_args, skip=(alias,) if alias else ())
    except ERRORS as err:
        check_message(e, err, arg)
        return
    assert res is out
    rtol = 1e-6 if out.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=1e-6 if out.dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("name,mut,arg", EMPTY_CASES)
def test_empty(name, mut, arg):
    e = BY_NAME[name]
    args = e.build(n=0) if mut == "empty_n" else e.build(c=0)
    try:
        res = run(e, args)
    except ERRORS as err:
        check_message(e, err)
        return
    for a in flat(res):
        assert a.dtype in (np.float32, np.float64)
    if "x" in e.arrays and (e.out == "out" and e.name != "matmul" or e.name.endswith(".backward")
                            and e.fname in __import__("nnmat").activations.__all__):
        assert np.shape(res) == args["x"].shape, "an activation must keep the (empty) shape"
    if e.name.endswith(".grad") or e.name.endswith(".value_and_grad") or e.name.endswith(".backward"):
        g = res[1] if e.name.endswith(".value_and_grad") else res
        g = g if isinstance(g, tuple) else (g,)
        preds = [args[k] for k in e.arrays if kind(e, k) != "lab"]
        if not e.name.endswith(".backward"):
            assert all(gi.shape == p.shape for gi, p in zip(g, preds)), "gradient shapes differ from the inputs'"


def _huge(shape, k, c):
    if k == "box":
        return np.broadcast_to(np.array([0.0, 0.0, 1.0, 1.0]), shape)
    from catalogue import scalar_of
    return np.broadcast_to(np.asarray(scalar_of(k), dtype=np.int64 if k == "lab" else np.float64), shape)


@pytest.mark.parametrize("name,mut,arg", HUGE_CASES)
def test_huge(name, mut, arg):
    e = BY_NAME[name]
    args = e.build(n=2**57, c=2, mk=_huge)
    with pytest.raises((MemoryError, ValueError)):
        run(e, args)


@pytest.mark.parametrize("name,mut,arg", PARAM_CASES)
def test_bad_parameter(name, mut, arg):
    e = BY_NAME[name]
    kw, exc, pname = e.params[int(arg.split(":")[0])]
    args = e.build()
    with pytest.raises(exc) as ei:
        run(e, args, **kw)
    check_message(e, ei.value, pname)


# ----------------------------------------------------------------------------- optimizers
# (id, callable raising, expected exception, word the message must hold)

def _attach(opt, ps, gs):
    return lambda: opt.attach(ps, gs)


def _optimizer_cases():
    from nnmat.nn import optim
    p = np.zeros((2, 3))
    g = np.zeros((2, 3))
    ro = np.zeros((2, 3))
    ro.setflags(write=False)
    return [
        ("SGD-lr", lambda: optim.SGD(lr=-1.0), ValueError, "learning rate"),
        ("SGD-lr-str", lambda: optim.SGD(lr="x"), TypeError, "lr"),
        ("SGD-momentum", lambda: optim.SGD(momentum=-0.5), ValueError, "momentum"),
        ("SGD-weight_decay", lambda: optim.SGD(weight_decay=-1.0), ValueError, "weight_decay"),
        ("SGD-nesterov", lambda: optim.SGD(nesterov=True), ValueError, "Nesterov"),
        ("Adam-lr-nan", lambda: optim.Adam(lr=float("nan")), ValueError, "lr"),
        ("Adam-betas", lambda: optim.Adam(betas=(1.5, 0.9)), ValueError, "beta"),
        ("Adam-betas-len", lambda: optim.Adam(betas=(0.9,)), (ValueError, TypeError), "betas"),
        ("Adam-eps", lambda: optim.Adam(eps=-1.0), ValueError, "eps"),
        ("AdamW-weight_decay", lambda: optim.AdamW(weight_decay=-1.0), ValueError, "weight_decay"),
        ("attach-lengths", _attach(optim.SGD(), [p], []), ValueError, "gradient"),
        ("attach-empty", _attach(optim.SGD(), [], []), ValueError, "empty"),
        ("attach-shape", _attach(optim.SGD(), [p], [np.zeros((3, 2))]), ValueError, "shape"),
        ("attach-int", _attach(optim.SGD(), [np.zeros((2, 3), int)], [np.zeros((2, 3), int)]), TypeError, "dtype"),
        ("attach-mixed", _attach(optim.SGD(), [p], [g.astype(np.float32)]), TypeError, "dtype"),
        ("attach-list", _attach(optim.SGD(), [[0.0, 1.0]], [[0.0, 1.0]]), TypeError, "numpy"),
        ("attach-readonly", _attach(optim.SGD(), [ro], [g]), ValueError, "read-only"),
        ("attach-noncontig", _attach(optim.SGD(), [np.zeros((2, 6))[:, ::2]], [np.zeros((2, 6))[:, ::2]]),
         ValueError, "contiguous"),
    ]


OPT_CASES = _optimizer_cases()


@pytest.mark.parametrize("case", OPT_CASES, ids=[c[0] for c in OPT_CASES])
def test_optimizer_bad_input(case):
    _, f, exc, word = case
    with pytest.raises(exc) as ei:
        f()
    msg = str(ei.value)
    assert word in msg and any(k in msg for k in ("SGD", "Adam", "AdamW")), msg


# ----------------------------------------------------------------------------- special values vs torch
# NaN, +-inf, huge, tiny and subnormal values through every element-wise activation and
# the element-wise losses ('none'), compared with torch (NaN where torch gives NaN).

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 30.0, -30.0, 1e300, -1e300, 1e-310, -1e-310, 3.5, -3.5, 88.0]


def _special(dt):
    with np.errstate(over="ignore"):
        return np.array(SPECIAL, dtype=dt)


def _torch_activation(name, torch):
    F = torch.nn.functional
    return {
        "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu,
        "selu": F.selu, "gelu": F.gelu, "silu": F.silu, "softplus": F.softplus, "mish": F.mish,
        "hardtanh": F.hardtanh, "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish,
        "softmax": lambda t: F.softmax(t, -1), "log_softmax": lambda t: F.log_softmax(t, -1),
    }[name]


ACT_TORCH = [n for n in __import__("nnmat").activations.__all__[1:] if n != "sparsemax"]


def _rtol(dt):
    return 2e-5 if dt == np.float32 else 1e-10


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", ACT_TORCH)
def test_special_values_activation_vs_torch(name, dt):
    torch = pytest.importorskip("torch")
    from nnmat import activations as A
    x = _special(dt)
    if name in ("softmax", "log_softmax"):   # one special value per row, with ordinary neighbours
        x = np.stack([np.array([v, 0.5, -1.0], dtype=dt) for v in x])
    got = getattr(A, name)(x)
    if name == "gelu":
        # x Phi(x) in exact float64 arithmetic: torch gives NaN at +inf in float32 and
        # underflows to -0 early (gelu(-30) = -1.47e-196, torch: -0.0); nnmat is right there
        import math
        with np.errstate(invalid="ignore"):
            want = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) if not np.isnan(v) else np.nan
                             for v in x.astype(np.float64)]).astype(dt)
    else:
        want = _torch_activation(name, torch)(torch.from_numpy(x.copy())).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaN pattern differs from torch")
    np.testing.assert_allclose(got, want, rtol=_rtol(dt), atol=1e-300 if dt == np.float64 else 1e-37, equal_nan=True)


def _torch_loss(name, torch):
    F = torch.nn.functional
    return {
        "mse_loss": F.mse_loss, "l1_loss": F.l1_loss, "huber_loss": F.huber_loss,
        "smooth_l1_loss": F.smooth_l1_loss, "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
        "kl_div": F.kl_div,
    }[name]


LOSS_TORCH = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits", "kl_div"]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("name", LOSS_TORCH)
def test_special_values_loss_vs_torch(name, which, dt):
    torch = pytest.importorskip("torch")
    from nnmat import losses as L
    s = _special(dt)
    if name == "binary_cross_entropy_with_logits" and which == "target":
        s = s[np.isnan(s) | ((s >= 0) & (s <= 1))]   # targets are probabilities: outside [0, 1] is garbage in
    other = np.resize(np.array([0.25, 0.75, 0.5, 0.0, 1.0], dtype=dt), s.shape)
    x, y = (s, other) if which == "input" else (other, s)
    f = getattr(L, name)
    tf = _torch_loss(name, torch)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tv = tf(tx, torch.from_numpy(y.copy()), reduction="none")
    tv.backward(torch.ones_like(tv))
    val, grad = f.value_and_grad(x, y, reduction="none")
    if name == "binary_cross_entropy_with_logits" and which == "input":
        # exact form y softplus(-x) + (1 - y) softplus(x): at x = -inf it is +inf (torch: NaN)
        def softplus(z):
            with np.errstate(over="ignore", invalid="ignore"):
                return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        xd, yd = x.astype(np.float64), y.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            ref_v = yd * softplus(-xd) + np.where(yd == 1, 0.0, (1 - yd) * softplus(xd))
            ref_g = 1 / (1 + np.exp(-xd)) - yd
        # where torch's form gives NaN (x = +inf, y = 1: 0 * inf) either answer is accepted
        tnan = np.isnan(tv.detach().numpy())
        ref_v = np.where(tnan & np.isnan(val), np.nan, ref_v)
        tv = torch.from_numpy(ref_v.astype(dt))
        tx.grad = torch.from_numpy(ref_g.astype(dt))
    for got, want, what in ((val, tv.detach().numpy(), "value"), (grad, tx.grad.numpy(), "gradient")):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want),
                                      err_msg=f"{name} {what}: NaN pattern differs from torch")
        np.testing.assert_allclose(got, want, rtol=_rtol(dt), atol=1e-300 if dt == np.float64 else 1e-37,
                                   equal_nan=True, err_msg=f"{name} {what}")
    # the sum of a loss with a NaN element is NaN
    assert np.isnan(f(x, y, reduction="sum")) == bool(np.isnan(tv.detach().numpy()).any())


# ----------------------------------------------------------------------------- past 32 bits
# Zero-stride views of (2**16, 2**16 + 1) elements (boxes: 2**32 + 1 rows), run in a child
# process under a 3 GiB address-space limit (tests/_huge32_child.py): a function must raise
# MemoryError (or a clear ValueError) when it would materialise them, or compute the exact
# result when it can work on the views in place (linear does, in ~15 s: only with
# NNMAT_TEST_HUGE_SLOW=1), within 20 s, without a crash.

@pytest.fixture(scope="module")
def huge32_outcomes():
    import json
    import subprocess
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # the child caps its address space at 3 GiB; AddressSanitizer's shadow memory needs far more
        pytest.skip("under AddressSanitizer (tools/sanitize.sh): the address-space cap cannot apply")
    env = dict(os.environ)
    # the nnmat this test imported (the source tree or an installed wheel)
    src = os.path.dirname(os.path.dirname(os.path.abspath(nnmat.__file__)))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "_huge32_child.py")],
                       capture_output=True, text=True, env=env, timeout=300)
    outcomes = {}
    for line in p.stdout.splitlines():
        name, outcome = json.loads(line)
        outcomes[name] = outcome
    return outcomes, p.returncode, p.stderr[-2000:]


HUGE32_CASES = _cases((e.name, "huge32", "-") for e in ENTRIES)


@pytest.mark.parametrize("name,mut,arg", HUGE32_CASES)
def test_huge32(name, mut, arg, huge32_outcomes):
    outcomes, rc, err = huge32_outcomes
    assert name in outcomes, f"the child process died before {name} (rc {rc}): {err}"
    outcome = outcomes[name]
    if outcome == "skip":
        pytest.skip("slow (~15 s): set NNMAT_TEST_HUGE_SLOW=1")
    assert outcome == "ok" or outcome.startswith(("MemoryError", "ValueError")), outcome


# ----------------------------------------------------------------------------- empty batches vs torch

EMPTY_TORCH = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits", "kl_div",
               "binary_cross_entropy", "cross_entropy", "nll_loss"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", EMPTY_TORCH)
def test_empty_batch_vs_torch(name, reduction):
    torch = pytest.importorskip("torch")
    from nnmat import losses as L
    x = np.zeros((0, 3))
    y = np.zeros((0,), np.int64) if name in ("cross_entropy", "nll_loss") else np.zeros((0, 3))
    tx = torch.from_numpy(x).requires_grad_(True)
    tf = getattr(torch.nn.functional, name)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch's kl_div 'mean' warning
        tv = tf(tx, torch.from_numpy(y), reduction=reduction)
    tv.backward(torch.ones_like(tv))
    val, grad = getattr(L, name).value_and_grad(x, y, reduction=reduction)
    want = tv.detach().numpy()
    np.testing.assert_array_equal(np.asarray(val), want)   # NaN for 'mean' (0/0), 0 for 'sum', (0,) for 'none'
    assert np.shape(val) == want.shape
    assert grad.shape == x.shape


# Labels: a uint64 label beyond int64 must not wrap (2**64 - 100 would become -100, the
# ignore_index); labels out of [0, C) raise IndexError where they index something.
FREE_LABELS = ("batch_contrastive_loss", "angular_loss")   # labels only compared: any integer is fine


@pytest.mark.parametrize("name,mut,arg", LABEL_CASES)
def test_labels(name, mut, arg):
    e = BY_NAME[name]
    args = e.build()
    lab = args[arg]
    if mut == "uint64_wrap":
        lab = lab.astype(np.uint64)
        lab[-1] = 2**64 - 100
    else:
        lab = lab.copy()
        lab[-1] = 99 if mut == "too_big" else -5
    args[arg] = lab
    if mut != "uint64_wrap" and name.split(".")[0] in FREE_LABELS:
        ref = dict(args)
        ref[arg] = np.where(lab == lab[-1], 2, lab)   # the same partition of the batch
        assert_same(run(e, args), run(e, ref))
        return
    with pytest.raises(IndexError) as ei:
        run(e, args)
    check_message(e, ei.value, arg, "label", "Target")


# inplace=True (element-wise activations that have it): bad x
INPLACE = [n for n in __import__("nnmat").activations.__all__[1:]
           if "inplace" in __import__("inspect").signature(getattr(__import__("nnmat").activations, n)).parameters]


@pytest.mark.parametrize("bad", ["readonly", "int", "list", "noncontig"])
@pytest.mark.parametrize("name", INPLACE)
def test_inplace_bad_x(name, bad):
    from nnmat import activations as A
    f = getattr(A, name)
    x = make((3, 4), "f")
    ref = f(x)
    if bad == "noncontig":   # accepted: written back into the view
        big = np.zeros((3, 8))
        v = big[:, ::2]
        v[...] = x
        assert f(v, inplace=True) is v
        np.testing.assert_array_equal(v, ref)
        np.testing.assert_array_equal(big[:, 1::2], 0.0)
        return
    v = {"readonly": x.copy(), "int": np.rint(x).astype(int), "list": x.tolist()}[bad]
    if bad == "readonly":
        v.setflags(write=False)
    before = _snapshot(v)
    with pytest.raises((TypeError, ValueError)) as ei:
        f(v, inplace=True)
    assert name in str(ei.value) and "x" in str(ei.value)
    assert _unchanged(before, v)


# gemm: c (read with beta != 0, then written) aliasing an operand, possibly transposed
@pytest.mark.parametrize("which", ["a", "b", "a.T"])
def test_gemm_c_aliases_operand(which):
    import nnmat
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    trans_a = which == "a.T"
    want = 2.0 * ((a.T if trans_a else a) @ b) + 0.5 * (b if which == "b" else a)
    c = (b if which == "b" else a).copy()
    args = (a, c) if which == "b" else (c, b)
    assert nnmat.gemm(*args, c, alpha=2.0, beta=0.5, trans_a=trans_a) is c
    np.testing.assert_allclose(c, want, rtol=1e-12, atol=1e-12)
