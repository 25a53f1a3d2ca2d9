"""softmax, log_softmax and sparsemax along any axis (C++ kernels in cpp/losses/multiclass*).

The array is viewed as (outer, C, inner) around ``axis``; inner == 1 (the last
axis) is the fast path, other axes are handled by the kernels in blocks.
"""
from __future__ import annotations

import operator
from typing import Any, Optional

import numpy as np

from .. import _core
from ..losses._base import as_contiguous, asarray, float_dtype
from ._base import Activation


def _view(fn: str, shape: tuple, axis: Any):
    """(outer, C, inner) for `axis` of `shape` (a 0-d array is one class)."""
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an integer, got {type(axis).__name__}") from None
    nd = max(len(shape), 1)
    if not -nd <= axis < nd:
        raise np.exceptions.AxisError(axis, nd, f"{fn}: axis")
    shape = tuple(shape) if shape else (1,)
    axis %= nd
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, int(shape[axis]), inner


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """a and b are the same elements (in place); a partial overlap is not."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides)


def _kernel(name: str, dt: np.dtype):
    return getattr(_core, f"{name}_{'f32' if dt == np.float32 else 'f64'}")


def _forward(fn: str, kernel: str, x: Any, axis: Any, out: Optional[np.ndarray], extra: tuple):
    a = asarray(fn, "x", x)
    dt = float_dtype(fn, a)
    outer, C, inner = _view(fn, a.shape, axis)
    xc = as_contiguous(a, dt)
    if out is None:
        res = np.empty(a.shape, dtype=dt)
        _kernel(kernel, dt)(xc, res, outer, C, inner, *extra)
        return res
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy array, got {type(out).__name__}")
    if out.shape != a.shape:
        raise ValueError(f"{fn}: out has shape {out.shape}, expected {a.shape}")
    if out.dtype != dt:
        raise TypeError(f"{fn}: out has dtype {out.dtype}, expected {dt}")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    if out.flags.c_contiguous and (_same_memory(out, xc) or not np.may_share_memory(out, xc)):
        _kernel(kernel, dt)(xc, out, outer, C, inner, *extra)   # out may BE x (the kernels allow it)
    else:
        res = np.empty(a.shape, dtype=dt)
        _kernel(kernel, dt)(xc, res, outer, C, inner, *extra)
        out[...] = res
    return out


def _backward(fn: str, kernel: str, x: Any, grad_output: Any, axis: Any, extra: tuple):
    a = asarray(fn, "x", x)
    g = asarray(fn, "grad_output", grad_output)
    if g.shape != a.shape:
        raise ValueError(f"{fn}.backward: grad_output shape {g.shape} must equal x shape {a.shape}")
    dt = float_dtype(fn, a, g)
    outer, C, inner = _view(fn, a.shape, axis)
    dx = np.empty(a.shape, dtype=dt)
    _kernel(kernel, dt)(as_contiguous(a, dt), as_contiguous(g, dt), dx, outer, C, inner, *extra)
    return dx


def _backward_from_output(fn: str, x: Any, grad_output: Any, axis: Any, output: Any, log: bool):
    """VJP from the forward result (what torch's autograd saves): no exp of x to redo.
    softmax: y (g - <g, y>); log_softmax: g - exp(y) sum(g), along ``axis``."""
    a = asarray(fn, "x", x)
    g = asarray(fn, "grad_output", grad_output)
    y = asarray(fn, "output", output)
    if g.shape != a.shape:
        raise ValueError(f"{fn}.backward: grad_output shape {g.shape} must equal x shape {a.shape}")
    if y.shape != a.shape:
        raise ValueError(f"{fn}.backward: output shape {y.shape} must equal x shape {a.shape}")
    dt = float_dtype(fn, a, g, y)
    outer, C, inner = _view(fn, a.shape, axis)
    if a.size == 0:
        return np.zeros(a.shape, dt)
    if inner == 1:
        dx = np.empty(a.shape, dtype=dt)
        _kernel("softmax_backward_y", dt)(as_contiguous(y, dt), as_contiguous(g, dt), dx, C, log)
        return dx
    # another axis: rows made contiguous (one copy each), the result moved back
    ax = int(axis) % a.ndim
    yl = as_contiguous(np.moveaxis(y, ax, -1), dt)
    gl = as_contiguous(np.moveaxis(g, ax, -1), dt)
    dl = np.empty(yl.shape, dtype=dt)
    _kernel("softmax_backward_y", dt)(yl, gl, dl, C, log)
    return np.ascontiguousarray(np.moveaxis(dl, -1, ax))


def _softmax_forward(x: Any, axis: int = -1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))`` (torch ``F.softmax(x, dim)``).

    A row of only -inf (or holding NaN / +inf) gives NaN, like torch."""
    return _forward("softmax", "softmax", x, axis, out, (False,))


def _softmax_backward(x: Any, grad_output: Any, axis: int = -1, *, output: Any = None) -> np.ndarray:
    """VJP of softmax at x: ``s * (g - sum(g * s))`` along ``axis``.

    ``output`` (optional): softmax(x) from the forward pass; when given, s is read
    from it instead of being recomputed (torch's autograd does the same)."""
    if output is not None:
        return _backward_from_output("softmax", x, grad_output, axis, output, False)
    return _backward("softmax", "softmax_backward", x, grad_output, axis, (False,))


def _log_softmax_forward(x: Any, axis: int = -1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """log_softmax along ``axis``: ``x - logsumexp(x)`` (torch ``F.log_softmax(x, dim)``)."""
    return _forward("log_softmax", "softmax", x, axis, out, (True,))


def _log_softmax_backward(x: Any, grad_output: Any, axis: int = -1, *, output: Any = None) -> np.ndarray:
    """VJP of log_softmax at x: ``g - softmax(x) * sum(g)`` along ``axis``.

    ``output`` (optional): log_softmax(x) from the forward pass; softmax(x) is then
    exp(output) instead of a recomputation."""
    if output is not None:
        return _backward_from_output("log_softmax", x, grad_output, axis, output, True)
    return _backward("log_softmax", "softmax_backward", x, grad_output, axis, (True,))


def _sparsemax_forward(x: Any, axis: int = -1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """sparsemax along ``axis`` (Martins & Astudillo 2016; tfa ``sparsemax``): the Euclidean
    projection of each row onto the probability simplex, ``max(x - tau, 0)``.

    A row holding NaN or +inf, or only -inf, gives NaN; -inf entries alone get 0."""
    return _forward("sparsemax", "sparsemax", x, axis, out, ())


def _sparsemax_backward(x: Any, grad_output: Any, axis: int = -1) -> np.ndarray:
    """VJP of sparsemax at x: ``s * (g - mean_S(g))`` with support S = {sparsemax(x) > 0}
    (an entry with x - tau == 0 is outside S, as in tfa and the paper)."""
    return _backward("sparsemax", "sparsemax_backward", x, grad_output, axis, ())


softmax = Activation(_softmax_forward, _softmax_backward, "softmax")
log_softmax = Activation(_log_softmax_forward, _log_softmax_backward, "log_softmax")
sparsemax = Activation(_sparsemax_forward, _sparsemax_backward, "sparsemax")
