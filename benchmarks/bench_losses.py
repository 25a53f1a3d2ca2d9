"""Losses: nnmat.losses vs PyTorch CPU (and numpy expressions for the simplest ones).

Two tables per (dtype, threads):
* value: ``loss(x, y)`` ('mean') vs torch's forward under ``no_grad`` (and numpy);
* value_and_grad: ``loss.value_and_grad(x, y)`` (one fused pass) vs torch's forward +
  ``backward()`` through autograd (``x.grad`` reset between calls) and numpy's value and
  gradient expressions.

Element-wise losses run on n = 1e5, 1e6, 1e7 elements (quick: 1e6), x ~ N(0, 1)
(probabilities uniform in (0.001, 0.999) for BCE), targets of the same shape; cross-entropy
and NLL on (4096, 1000) and (256, 32000) logits with int64 class targets (quick: the first);
torch peers without a torch function use torch expressions of the reference formula
(torchvision's focal and GIoU losses, Keras' log-cosh and hinge). The full mode adds
triplet (4096x128 x 3), kl_div (4096x1000, 'batchmean'), the GAN discriminator loss (two
batches of 1e6 logits) and GIoU (1e5 box pairs, 'mean'). GB/s counts the inputs read and the
gradient written once (value: 2n elements, value_and_grad: 3n); "copy GB/s" is a plain copy
of one input at the same thread count.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from common import FamilyResult, Options
from elementwise import Case, Variant, copy_bandwidth, measure, no_grad, progress_printer, quick_dtypes, rel_check, table

NAME = "losses"

ELEMENTWISE = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
               "binary_cross_entropy_with_logits", "sigmoid_focal_loss", "log_cosh_loss", "hinge_loss"]
QUICK_ELEMENTWISE = ["mse_loss", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"]
CLASSES = ["cross_entropy", "nll_loss"]


def _label(n: int) -> str:
    e = int(round(math.log10(n)))
    return f"1e{e}" if 10 ** e == n else str(n)


def _torch_fn(name: str) -> Optional[Callable]:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None

    def focal(x, y):
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        pt = p * y + (1 - p) * (1 - y)
        return ((0.25 * y + 0.75 * (1 - y)) * ce * (1 - pt) ** 2).mean()

    def log_cosh(x, y):
        r = x - y
        return (r + F.softplus(-2 * r) - math.log(2.0)).mean()

    def hinge(x, y):
        # relu: derivative 0 at the kink, the strict convention of the spec (Keras' hinge);
        # clamp(min=0) would pass the gradient there
        return torch.relu(1 - x * y).mean()

    table_ = {"mse_loss": F.mse_loss, "l1_loss": F.l1_loss, "huber_loss": F.huber_loss,
              "smooth_l1_loss": F.smooth_l1_loss, "binary_cross_entropy": F.binary_cross_entropy,
              "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
              "sigmoid_focal_loss": focal, "log_cosh_loss": log_cosh, "hinge_loss": hinge,
              "cross_entropy": F.cross_entropy, "nll_loss": F.nll_loss}
    return table_[name]


def _numpy_fn(name: str) -> Optional[Callable]:
    """(value, value_and_grad) numpy expressions for 'mean', or None."""
    if name == "mse_loss":
        def v(x, y):
            r = x - y
            return float(np.mean(r * r))

        def vg(x, y):
            r = x - y
            return float(np.mean(r * r)), r * (2 / r.size)
        return v, vg
    if name == "l1_loss":
        return (lambda x, y: float(np.mean(np.abs(x - y))),
                lambda x, y: (float(np.mean(np.abs(x - y))), np.sign(x - y) / x.size))
    if name == "binary_cross_entropy_with_logits":
        def v(x, y):
            return float(np.mean((1 - y) * x + np.logaddexp(0, -x)))

        def vg(x, y):
            return float(np.mean((1 - y) * x + np.logaddexp(0, -x))), (1 / (1 + np.exp(-x)) - y) / x.size
        return v, vg
    if name == "cross_entropy":
        def parts(x, y):
            m = x.max(axis=1, keepdims=True)
            e = np.exp(x - m)
            s = e.sum(axis=1, keepdims=True)
            lse = (m + np.log(s))[:, 0]
            return float(np.mean(lse - x[np.arange(x.shape[0]), y])), e, s

        def vg(x, y):
            v, e, s = parts(x, y)
            g = e / s
            g[np.arange(x.shape[0]), y] -= 1
            return v, g / x.shape[0]
        return (lambda x, y: parts(x, y)[0]), vg
    return None


def _inputs(name: str, shape: Tuple[int, ...], dtype: str):
    rng = np.random.default_rng(11)
    if name in ("cross_entropy", "nll_loss"):
        x = rng.standard_normal(shape).astype(dtype) * 2
        if name == "nll_loss":
            x = x - np.log(np.exp(x.astype(np.float64)).sum(axis=1, keepdims=True)).astype(dtype)
        return x, rng.integers(0, shape[1], shape[0])
    x = rng.standard_normal(shape).astype(dtype)
    if name == "binary_cross_entropy":
        return rng.uniform(0.001, 0.999, shape).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)
    if name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss"):
        return x, rng.uniform(0, 1, shape).astype(dtype)
    if name == "hinge_loss":
        return x, rng.choice(np.array([-1, 1], dtype), shape)
    return x, rng.standard_normal(shape).astype(dtype)


def build_cases(name: str, shape: Tuple[int, ...], label: str, dtype: str) -> List[Case]:
    from nnmat import losses as L

    loss = getattr(L, name)
    kw = {"reduction": "mean"} if name == "sigmoid_focal_loss" else {}
    x, y = _inputs(name, shape, dtype)
    n = x.size
    item = np.dtype(dtype).itemsize
    in_bytes = n * item + (y.size * y.itemsize)
    # float64 reference: torch in float64 when installed, else nnmat float64 (itself tested
    # against independent references in the test suite).
    tf = _torch_fn(name)
    x64 = x.astype(np.float64)
    y64 = y if y.dtype.kind == "i" else y.astype(np.float64)
    if tf is not None:
        import torch

        xt64 = torch.tensor(x64, requires_grad=True)
        v64 = tf(xt64, torch.tensor(y64))
        v64.backward()
        ref_v, ref_g = float(v64), xt64.grad.numpy()
    else:
        ref_v, ref_g = loss.value_and_grad(x64, y64, **kw)
    tol = 1e-4 if dtype == "float32" else 1e-9
    ck_v = rel_check(np.float64(ref_v), tol, 1e-7)
    ck_vg = rel_check((np.float64(ref_v), ref_g), tol * 10, 1e-9)
    vcase = Case(label, "value", n, in_bytes, [Variant("nnmat", "nnmat", lambda: loss(x, y, **kw), ck_v)])
    gcase = Case(label, "value_and_grad", n, in_bytes + n * item,
                 [Variant("nnmat", "nnmat", lambda: loss.value_and_grad(x, y, **kw), ck_vg)])
    if tf is not None:
        import torch

        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def tv():
            with no_grad():
                return tf(xt, yt)

        xr = torch.from_numpy(x.copy()).requires_grad_()

        def tvg():
            xr.grad = None
            v = tf(xr, yt)
            v.backward()
            return v, xr.grad

        vcase.variants.append(Variant("torch", "torch", tv, ck_v))
        gcase.variants.append(Variant("torch", "torch", tvg, ck_vg))
    nf = _numpy_fn(name)
    if nf is not None:
        vcase.variants.append(Variant("numpy", "numpy", lambda: nf[0](x, y), ck_v))
        gcase.variants.append(Variant("numpy", "numpy", lambda: nf[1](x, y), ck_vg))
    return [vcase, gcase]


# ----------------------------------------------------------------------------- other losses
# Losses with several inputs or no (x, y) form: (nnmat call, torch function of tensors
# with the predicted ones first, inputs, number of predicted inputs, kwargs).

def _torch_giou(b1, b2):
    """torchvision.ops.generalized_box_iou_loss(reduction='mean') written with torch ops
    (torchvision is not a peer of this harness)."""
    import torch

    x1, y1, x2, y2 = b1.unbind(-1)
    g1, h1, g2, h2 = b2.unbind(-1)
    xk1, yk1, xk2, yk2 = torch.max(x1, g1), torch.max(y1, h1), torch.min(x2, g2), torch.min(y2, h2)
    inter = torch.where((yk2 > yk1) & (xk2 > xk1), (xk2 - xk1) * (yk2 - yk1), torch.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (g2 - g1) * (h2 - h1) - inter
    iou = inter / (union + 1e-7)
    area_c = (torch.max(x2, g2) - torch.min(x1, g1)) * (torch.max(y2, h2) - torch.min(y1, h1))
    return (1 - (iou - (area_c - union) / (area_c + 1e-7))).mean()


def _boxes(rng, n):
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 30, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def _other(name: str, dtype: str):
    """(label, nnmat loss, inputs, n_pred, kwargs, torch fn or None, elements)."""
    import nnmat.losses as L

    rng = np.random.default_rng(5)
    if name == "triplet_margin_loss":
        a, p_, n_ = (rng.standard_normal((4096, 128)).astype(dtype) for _ in range(3))
        tf = None
        try:
            import torch.nn.functional as F
            tf = F.triplet_margin_loss
        except ImportError:
            pass
        return "triplet_margin_loss 4096x128", L.triplet_margin_loss, (a, p_, n_), 3, {}, tf, a.size
    if name == "kl_div":
        q = rng.standard_normal((4096, 1000)).astype(np.float64)
        logq = (q - np.log(np.exp(q).sum(1, keepdims=True))).astype(dtype)
        t = rng.uniform(0, 1, (4096, 1000))
        t = (t / t.sum(1, keepdims=True)).astype(dtype)
        tf = None
        try:
            import torch.nn.functional as F
            tf = lambda x, y: F.kl_div(x, y, reduction="batchmean")  # noqa: E731
        except ImportError:
            pass
        return "kl_div 4096x1000 batchmean", L.kl_div, (logq, t), 1, {"reduction": "batchmean"}, tf, logq.size
    if name == "gan_discriminator_loss":
        r, f = (rng.standard_normal(10**6).astype(dtype) for _ in range(2))
        tf = None
        try:
            import torch
            import torch.nn.functional as F

            def tf(rr, ff):
                return (F.binary_cross_entropy_with_logits(rr, torch.ones_like(rr))
                        + F.binary_cross_entropy_with_logits(ff, torch.zeros_like(ff)))
        except ImportError:
            pass
        return "gan_discriminator_loss 2x1e6", L.gan_discriminator_loss, (r, f), 2, {}, tf, r.size + f.size
    if name == "generalized_box_iou_loss":
        b1, b2 = _boxes(rng, 100_000).astype(dtype), _boxes(rng, 100_000).astype(dtype)
        try:
            import torch  # noqa: F401
            tf = _torch_giou
        except ImportError:
            tf = None
        return ("generalized_box_iou_loss 1e5 boxes", L.generalized_box_iou_loss, (b1, b2), 1,
                {"reduction": "mean"}, tf, b1.size)
    raise KeyError(name)


OTHERS = ["triplet_margin_loss", "kl_div", "gan_discriminator_loss", "generalized_box_iou_loss"]


def build_other(name: str, dtype: str) -> List[Case]:
    label, loss, inputs, npred, kw, tf, n = _other(name, dtype)
    item = np.dtype(dtype).itemsize
    in_bytes = sum(a.size for a in inputs) * item
    out_bytes = sum(a.size for a in inputs[:npred]) * item

    def as_tuple(g):
        return g if isinstance(g, tuple) else (g,)

    if tf is not None:
        import torch

        ts64 = [torch.tensor(a.astype(np.float64), requires_grad=i < npred) for i, a in enumerate(inputs)]
        v64 = tf(*ts64)
        v64.backward()
        ref_v, ref_g = float(v64), tuple(t.grad.numpy() for t in ts64[:npred])
    else:
        ref_v, g = loss.value_and_grad(*(a.astype(np.float64) for a in inputs), **kw)
        ref_g = as_tuple(g)
    tol = 1e-4 if dtype == "float32" else 1e-9
    ck_v = rel_check(np.float64(ref_v), tol, 1e-7)
    ck_g = rel_check(ref_g, tol * 10, 1e-9)
    vcase = Case(label, "value", n, in_bytes, [Variant("nnmat", "nnmat", lambda: loss(*inputs, **kw), ck_v)])
    gcase = Case(label, "value_and_grad", n, in_bytes + out_bytes, [
        Variant("nnmat", "nnmat", lambda: as_tuple(loss.value_and_grad(*inputs, **kw)[1]), ck_g)])
    if tf is not None:
        import torch

        ts = [torch.from_numpy(a) for a in inputs]
        tr = [torch.from_numpy(a.copy()).requires_grad_(i < npred) for i, a in enumerate(inputs)]

        def tv():
            with no_grad():
                return tf(*ts)

        def tvg():
            for t in tr[:npred]:
                t.grad = None
            v = tf(*tr)
            v.backward()
            return tuple(t.grad for t in tr[:npred])

        vcase.variants.append(Variant("torch", "torch", tv, ck_v))
        gcase.variants.append(Variant("torch", "torch", tvg, ck_g))
    return [vcase, gcase]


def run(opts: Options, env: Dict[str, Any]) -> FamilyResult:
    peers = env["peers"]
    progress = progress_printer(NAME)
    elw = [f for f in (QUICK_ELEMENTWISE if opts.quick else ELEMENTWISE) if opts.wants(f)]
    cls = [f for f in CLASSES if opts.wants(f)]
    others = [f for f in OTHERS if opts.wants(f)] if not opts.quick else []
    if opts.quick:
        cls = [c for c in cls if c == "cross_entropy"]
    ns = [10**6] if opts.quick else [10**5, 10**6, 10**7]
    class_shapes = [(4096, 1000)] if opts.quick else [(4096, 1000), (256, 32000)]
    records: List[Dict[str, Any]] = []
    copies: Dict[Tuple[str, int], Dict[int, float]] = {}
    for dtype in quick_dtypes(opts):
        item = np.dtype(dtype).itemsize
        for threads in opts.threads:
            progress(f"copy bandwidth, {threads} thr")
            copies[(dtype, threads)] = copy_bandwidth(
                sorted({n * item for n in ns} | {a * b * item for a, b in class_shapes}), threads, opts)
            for n in ns:
                for f in elw:
                    records += measure(build_cases(f, (n,), f"{f} {_label(n)}", dtype), dtype, threads, peers,
                                       opts, progress)
            for shape in class_shapes:
                for f in cls:
                    records += measure(build_cases(f, shape, f"{f} {shape[0]}x{shape[1]}", dtype), dtype, threads,
                                       peers, opts, progress)
            for f in others:
                records += measure(build_other(f, dtype), dtype, threads, peers, opts, progress)
    parts = [__doc__.split("\n\n", 1)[1].strip(),
             "Columns: median ms per call; `peer/nnmat` = peer time / nnmat time (> 1: nnmat faster); "
             "WRONG = failed the check against the float64 reference (not timed)."]
    for dtype in opts.dtypes:
        item = np.dtype(dtype).itemsize
        for threads in opts.threads:
            for kind in ("value", "value_and_grad"):
                if any(r["kind"] == kind and r["dtype"] == dtype and r["threads"] == threads for r in records):
                    parts.append(f"### {kind}, {dtype}, {threads} thread{'s' if threads > 1 else ''}\n\n" + table(
                        records, kind, dtype, threads, ["nnmat", "torch", "numpy"], copies[(dtype, threads)],
                        lambda r: r["n"] * item if r else 0))
    return FamilyResult(markdown="\n\n".join(parts) + "\n", records=records,
                        extra={"copy_gbps": {f"{d} {t} thr": v for (d, t), v in copies.items()}})
