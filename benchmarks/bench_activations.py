"""Activations: nnmat.activations vs PyTorch CPU and numpy expressions.

Three tables per (dtype, threads):
* forward: ``f(x)`` (a new output array, as users call it; ``nnmat out=`` writes into a
  preallocated array), numpy's expression where numpy can write one;
* backward: ``f.backward(x, g)`` vs the kernel torch's autograd runs
  (``torch.ops.aten.<f>_backward``: from the saved output for sigmoid/tanh, from the input
  otherwise); ``nnmat output=`` passes the saved forward output too (sigmoid, tanh,
  softmax, log_softmax), plain
  ``nnmat`` recomputes f from x;
* forward+backward: nnmat ``f(x)`` then ``f.backward(x, g)`` (``nnmat output=``: with the
  forward result passed to the backward); torch autograd (``y = f(x); y.backward(g)``,
  ``x.grad`` reset between calls).

Inputs: x ~ 3·N(0, 1), g ~ N(0, 1), C-contiguous. GB/s = bytes read + written / median
time (forward 2n, backward 3n, forward+backward 5n elements); "copy GB/s" is a plain copy of
one array of the same size at the same thread count (numpy copyto for 1 thread, nnmat's
threaded copy otherwise). Softmax / log_softmax run along the last axis of (n/1000, 1000).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from common import FamilyResult, Options
from elementwise import Case, Variant, copy_bandwidth, measure, progress_printer, quick_dtypes, rel_check, table

NAME = "activations"
QUICK_ACTS = ["sigmoid", "relu", "gelu", "softmax"]
ALL_ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus",
            "mish", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax"]


# backward(x, g, output=y) computes f' from the saved forward output, as torch's autograd does
OUTPUT_BACKWARD = ("sigmoid", "tanh", "softmax", "log_softmax")


def sizes(quick: bool) -> List[int]:
    return [10**6] if quick else [10**5, 10**6, 10**7]


def _label(n: int) -> str:
    return f"1e{int(round(math.log10(n)))}" if n >= 10 and 10 ** int(round(math.log10(n))) == n else str(n)


def _nnmat(name: str):
    from nnmat import activations as A

    if name == "gelu_tanh":
        return (lambda x, out=None: A.gelu(x, approximate="tanh", out=out),
                lambda x, g: A.gelu.backward(x, g, approximate="tanh"))
    f = getattr(A, name)
    return (lambda x, out=None: f(x, out=out)), f.backward


def _numpy(name: str) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    table_ = {
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "tanh": np.tanh,
        "relu": lambda x: np.maximum(x, 0),
        "leaky_relu": lambda x: np.where(x > 0, x, x * x.dtype.type(0.01)),
        "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
        "silu": lambda x: x / (1 + np.exp(-x)),
        "softplus": lambda x: np.logaddexp(x.dtype.type(0), x),
        "mish": lambda x: x * np.tanh(np.logaddexp(x.dtype.type(0), x)),
        "hardtanh": lambda x: np.clip(x, -1, 1),
        "hardsigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
        "hardswish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
        "softmax": softmax,
        "log_softmax": lambda x: x - x.max(axis=-1, keepdims=True) - np.log(
            np.exp(x - x.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True)),
    }
    return table_.get(name)


def _torch(name: str):
    """(forward, backward kernel(g, x, y), autograd forward) for torch, or None."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    aten = torch.ops.aten
    fw: Dict[str, Callable] = {
        "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "leaky_relu": F.leaky_relu,
        "elu": F.elu, "selu": F.selu, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu, "softplus": F.softplus, "mish": F.mish, "hardtanh": F.hardtanh,
        "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish,
        "softmax": lambda x: torch.softmax(x, -1), "log_softmax": lambda x: torch.log_softmax(x, -1),
    }
    bw: Dict[str, Callable] = {
        "sigmoid": lambda g, x, y: aten.sigmoid_backward(g, y),
        "tanh": lambda g, x, y: aten.tanh_backward(g, y),
        "relu": lambda g, x, y: aten.threshold_backward(g, y, 0),
        "leaky_relu": lambda g, x, y: aten.leaky_relu_backward(g, x, 0.01, False),
        "elu": lambda g, x, y: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x),
        "selu": lambda g, x, y: aten.elu_backward(g, 1.6732632423543772, 1.0507009873554805, 1.0, False, x),
        "gelu": lambda g, x, y: aten.gelu_backward(g, x),
        "gelu_tanh": lambda g, x, y: aten.gelu_backward(g, x, approximate="tanh"),
        "silu": lambda g, x, y: aten.silu_backward(g, x),
        "softplus": lambda g, x, y: aten.softplus_backward(g, x, 1.0, 20.0),
        "mish": lambda g, x, y: aten.mish_backward(g, x),
        "hardtanh": lambda g, x, y: aten.hardtanh_backward(g, x, -1.0, 1.0),
        "hardsigmoid": lambda g, x, y: aten.hardsigmoid_backward(g, x),
        "hardswish": lambda g, x, y: aten.hardswish_backward(g, x),
        "softmax": lambda g, x, y: aten._softmax_backward_data(g, y, -1, x.dtype),
        "log_softmax": lambda g, x, y: aten._log_softmax_backward_data(g, y, -1, x.dtype),
    }
    return fw[name], bw[name]


def build_cases(name: str, n: int, dtype: str) -> List[Case]:
    rng = np.random.default_rng(7)
    shape: Tuple[int, ...] = (n // 1000, 1000) if name in ("softmax", "log_softmax") else (n,)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    item = np.dtype(dtype).itemsize
    fwd, bwd = _nnmat(name)
    # float64 references: nnmat in float64 is checked against numpy/torch in the test suite;
    # here the peers are cross-checked against it (and torch's own float64 when present).
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    tt = _torch(name)
    if tt is not None:
        import torch

        xt64 = torch.tensor(x64, requires_grad=True)
        yt64 = tt[0](xt64)
        yt64.backward(torch.tensor(g64))
        y_ref, dx_ref = yt64.detach().numpy(), xt64.grad.numpy()
    else:
        y_ref, dx_ref = fwd(x64), bwd(x64, g64)
    tol = 2e-5 if dtype == "float32" else 1e-10
    ck_f, ck_b = rel_check(y_ref, tol, 1e-6), rel_check(dx_ref, tol * 10, 1e-6)
    ck_fb = rel_check((y_ref, dx_ref), tol * 10, 1e-6)
    label = f"{name} {_label(n)}"
    out = np.empty_like(x)
    f_case = Case(label, "forward", n, 2 * n * item, [
        Variant("nnmat", "nnmat", lambda: fwd(x), ck_f),
        Variant("nnmat", "nnmat out=", lambda: fwd(x, out=out), ck_f),
    ])
    b_case = Case(label, "backward", n, 3 * n * item, [Variant("nnmat", "nnmat", lambda: bwd(x, g), ck_b)])
    if name in OUTPUT_BACKWARD:
        y = fwd(x)
        b_case.variants.append(Variant("nnmat", "nnmat output=", lambda: bwd(x, g, output=y), ck_b))
    fb_case = Case(label, "forward+backward", n, 5 * n * item,
                   [Variant("nnmat", "nnmat", lambda: (fwd(x), bwd(x, g)), ck_fb)])
    if name in OUTPUT_BACKWARD:
        def fb_output():
            yy = fwd(x)
            return yy, bwd(x, g, output=yy)

        fb_case.variants.append(Variant("nnmat", "nnmat output=", fb_output, ck_fb))
    if tt is not None:
        import torch

        tf, tb = tt
        xt, gt = torch.from_numpy(x), torch.from_numpy(g)
        yt = tf(xt)
        f_case.variants.append(Variant("torch", "torch", lambda: tf(xt), ck_f))
        b_case.variants.append(Variant("torch", "torch", lambda: tb(gt, xt, yt), ck_b))
        xr = torch.from_numpy(x.copy()).requires_grad_()

        def torch_fb():
            xr.grad = None
            y = tf(xr)
            y.backward(gt)
            return y, xr.grad

        fb_case.variants.append(Variant("torch", "torch", torch_fb, ck_fb))
    npf = _numpy(name)
    if npf is not None:
        f_case.variants.append(Variant("numpy", "numpy", lambda: npf(x), ck_f))
    return [f_case, b_case, fb_case]


def run(opts: Options, env: Dict[str, Any]) -> FamilyResult:
    peers = env["peers"]
    progress = progress_printer(NAME)
    acts = [a for a in (QUICK_ACTS if opts.quick else ALL_ACTS) if opts.wants(a)]
    records: List[Dict[str, Any]] = []
    copies: Dict[Tuple[str, int], Dict[int, float]] = {}
    ns = sizes(opts.quick)
    for dtype in quick_dtypes(opts):
        item = np.dtype(dtype).itemsize
        for threads in opts.threads:
            progress(f"copy bandwidth, {threads} thr")
            copies[(dtype, threads)] = copy_bandwidth([n * item for n in ns], threads, opts)
            for n in ns:
                for a in acts:
                    records += measure(build_cases(a, n, dtype), dtype, threads, peers, opts, progress)
    parts = [__doc__.split("\n\n", 1)[1].strip(),
             "Columns: median ms per call; `peer/nnmat` = peer time / nnmat time (> 1: nnmat faster); "
             "WRONG = failed the check against the float64 reference (not timed)."]
    cols = ["nnmat", "nnmat out=", "nnmat output=", "torch", "numpy"]
    for dtype in opts.dtypes:
        item = np.dtype(dtype).itemsize
        for threads in opts.threads:
            for kind in ("forward", "backward", "forward+backward"):
                if any(r["kind"] == kind and r["dtype"] == dtype and r["threads"] == threads for r in records):
                    parts.append(f"### {kind}, {dtype}, {threads} thread{'s' if threads > 1 else ''}\n\n" + table(
                        records, kind, dtype, threads, cols, copies[(dtype, threads)],
                        lambda r: r["n"] * item if r else 0))
    return FamilyResult(markdown="\n\n".join(parts) + "\n", records=records,
                        extra={"copy_gbps": {f"{d} {t} thr": v for (d, t), v in copies.items()}})
