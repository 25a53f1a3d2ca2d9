"""Dice losses (spec/losses.md section 2.5): the Keras form (:data:`dice_loss`) and
the segmentation_models.pytorch ``DiceLoss`` form (:data:`soft_dice_loss`).

Both are computed in C++ (``nnmat._core.dice_rows_*`` / ``soft_dice_*``): sums in
double over fixed blocks, so results do not depend on the thread count.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import _core
from ._base import (LossFunction, as_contiguous, asarray, check_reduction, float_dtype, int64_labels,
                    real_scalar, same_shape, upstream)


def _suffix(dt: np.dtype) -> str:
    return "f32" if dt == np.float32 else "f64"


def _positive(fn: str, name: str, v: Any) -> float:
    x = real_scalar(fn, name, v)
    if not (x > 0.0 and np.isfinite(x)):
        raise ValueError(f"{fn}: {name} must be a positive finite number, got {x}")
    return x


def _normalize_axes(fn: str, axis: Any, ndim: int):
    if isinstance(axis, (numbers.Integral, np.integer)) and not isinstance(axis, (bool, np.bool_)):
        axes = (int(axis),)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(f"{fn}: axis must be None, an int or a tuple of ints, got {axis!r}") from None
        for a in axes:
            if isinstance(a, (bool, np.bool_)) or not isinstance(a, (numbers.Integral, np.integer)):
                raise TypeError(f"{fn}: axis must be None, an int or a tuple of ints, got {axis!r}")
        axes = tuple(int(a) for a in axes)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{fn}: axis {a} is out of bounds for an input of {ndim} dimensions")
        a %= ndim
        if a in out:
            raise ValueError(f"{fn}: repeated axis {a} in axis={axis!r}")
        out.append(a)
    return tuple(out)


def _dice_impl(want_value, want_grad, grad_output, input, target, axis=None, eps=1e-7, reduction="mean"):
    """Dice loss, Keras form (``keras.losses.dice`` / ``keras.losses.Dice``; spec 2.5 (a)).

    No activation is applied: ``input`` holds probabilities. Over the reduced axes
    ``axis`` (``None``: every element),

    ``I = sum target * input``, ``S = sum target + sum input``,
    ``loss = 1 - 2 I / (S + eps)``  (``eps`` = 1e-7 added to the denominator),

    giving one value per remaining index (a scalar for ``axis=None``). All-empty
    data (target and input all zero) gives 1.

    ``reduction``: ``'mean'`` (default) = the mean of the per-index values (the
    Keras ``Dice`` class; for ``axis=None`` the value itself), ``'sum'`` = their sum,
    ``'none'`` = the per-index values (shape: the input's shape without the reduced
    axes; a 0-d array for ``axis=None``). An empty set of remaining indices gives NaN
    for 'mean' and 0 for 'sum'.

    Gradient w.r.t. ``input``: ``-2 target_k / (S + eps) + 2 I / (S + eps)^2`` per
    remaining index (times 1/M for 'mean'). ``input`` and ``target`` must have the same
    shape; ``eps`` must be > 0.
    """
    fn = "dice_loss"
    reduction = check_reduction(fn, reduction)
    e = _positive(fn, "eps", eps)
    p = asarray(fn, "input", input)
    y = asarray(fn, "target", target)
    same_shape(fn, p, y)
    dt = float_dtype(fn, p, y)
    nd = p.ndim
    axes = tuple(range(nd)) if axis is None else _normalize_axes(fn, axis, nd)
    kept = tuple(d for d in range(nd) if d not in axes)
    perm = kept + axes
    out_shape = tuple(p.shape[d] for d in kept)
    M = int(np.prod(out_shape, dtype=np.int64))
    K = int(np.prod([p.shape[d] for d in axes], dtype=np.int64))
    identity = perm == tuple(range(nd))
    pt = as_contiguous(p if identity else np.transpose(p, perm), dt).reshape(M, K)
    yt = as_contiguous(y if identity else np.transpose(y, perm), dt).reshape(M, K)
    gs, ga = upstream(fn, grad_output, reduction, out_shape, dt)
    if ga is not None:
        ga = ga.reshape(M)
    gfactor = gs / M if (reduction == "mean" and M) else gs
    k = getattr(_core, "dice_rows_" + _suffix(dt))
    s, values, grad = k(pt, yt, e, want_value and reduction == "none", want_grad, ga, gfactor)
    value = None
    if want_value:
        if reduction == "none":
            value = values.reshape(out_shape)
        elif reduction == "sum":
            value = float(s)
        else:
            value = float(s) / M if M else float("nan")
    if want_grad:
        grad = grad.reshape(tuple(p.shape[d] for d in perm))
        if not identity:
            grad = np.ascontiguousarray(np.transpose(grad, np.argsort(perm)))
    return value, grad


_MODES = {"binary": 0, "multiclass": 1, "multilabel": 2}


def _soft_dice_impl(want_value, want_grad, grad_output, input, target, mode="binary", classes=None,
                    log_loss=False, from_logits=True, smooth=0.0, ignore_index=None, eps=1e-7):
    """Soft Dice loss of segmentation_models.pytorch ``DiceLoss`` (spec 2.5 (b)).

    ``input``: (N, C, *spatial) logits (``from_logits=True``, default) or probabilities;
    ``target``: for ``mode='multiclass'`` integer labels (N, *spatial) in [0, C); for
    ``'binary'`` / ``'multilabel'`` values (usually 0/1) shaped like ``input`` (binary
    also accepts (N, *spatial) when C == 1). Binary mode treats all of a sample's
    entries as one channel, as smp does.

    From logits the probabilities are ``softmax`` over dim 1 (multiclass) or
    ``sigmoid`` (binary / multilabel). Per channel c, summing over the batch **and**
    the pixels: ``score_c = (2 I_c + smooth) / max(S_c + smooth, eps)``, ``loss_c =
    1 - score_c`` or ``-log(max(score_c, eps))`` with ``log_loss=True``; channels whose
    target sum is 0 contribute 0; ``classes`` (not for binary) selects channels (a
    list of indices; repeats count repeatedly, as torch indexing does); the value is
    the mean over the selected channels (a Python float: smp returns a scalar, so
    there is no ``reduction``; ``grad_output`` is a scalar). ``ignore_index`` removes
    the entries whose target equals it from every sum (and from the gradient); as in smp
    (which multiplies by the mask) a NaN input at an ignored entry still makes the value NaN.

    Gradient: w.r.t. ``input`` (through the activation's Jacobian when
    ``from_logits``). Multiclass labels outside [0, C) raise IndexError (unless equal
    to ``ignore_index``); ``eps`` must be > 0, ``smooth`` >= 0.
    """
    fn = "soft_dice_loss"
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"{fn}: mode must be one of 'binary', 'multiclass', 'multilabel', got {mode!r}")
    e = _positive(fn, "eps", eps)
    sm = real_scalar(fn, "smooth", smooth)
    if not (sm >= 0.0 and np.isfinite(sm)):
        raise ValueError(f"{fn}: smooth must be a non-negative finite number, got {sm}")
    for name, flag in (("log_loss", log_loss), ("from_logits", from_logits)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{fn}: {name} must be a bool, got {type(flag).__name__}")
    x = asarray(fn, "input", input)
    y = asarray(fn, "target", target)
    if x.ndim < 2:
        raise ValueError(f"{fn}: input must have shape (N, C, *spatial), got {x.shape}")
    N, C = x.shape[0], x.shape[1]
    spatial = x.shape[2:]
    if mode == "multiclass":
        if y.dtype.kind not in "iu":
            raise TypeError(f"{fn}: multiclass target must hold integer class labels, got dtype {y.dtype}")
        if y.shape != (N,) + spatial:
            raise ValueError(f"{fn}: multiclass target shape {y.shape} must be (N, *spatial) = "
                             f"{(N,) + spatial} for input shape {x.shape}")
        dt = float_dtype(fn, x)
    else:
        if y.shape != x.shape and not (C == 1 and y.shape == (N,) + spatial):
            raise ValueError(f"{fn}: target shape {y.shape} must equal input shape {x.shape} "
                             f"(mode={mode!r})")
        dt = float_dtype(fn, x, y)
    if mode == "binary" and classes is not None:
        raise ValueError(f"{fn}: classes is not supported with mode='binary'")
    ign = None
    if ignore_index is not None:
        if mode == "multiclass":
            if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (numbers.Integral, np.integer)):
                raise TypeError(f"{fn}: ignore_index must be an int for mode='multiclass', got {ignore_index!r}")
            ign = int(ignore_index)
        else:
            ign = real_scalar(fn, "ignore_index", ignore_index)
    xc = as_contiguous(x, dt)
    if mode == "binary":
        L = x.size // N if N else 0
        x3 = xc.reshape(N, 1, L)
        t3 = as_contiguous(y, dt).reshape(N, 1, L)
        C3 = 1
    elif mode == "multilabel":
        L = int(np.prod(spatial, dtype=np.int64))
        x3 = xc.reshape(N, C, L)
        t3 = as_contiguous(y, dt).reshape(N, C, L)
        C3 = C
    else:
        L = int(np.prod(spatial, dtype=np.int64))
        x3 = xc.reshape(N, C, L)
        t3 = int64_labels(fn, "target", y).reshape(N, L)
        C3 = C
    if classes is None:
        mult = np.ones(C3, dtype=np.float64)
    else:
        try:
            idx = np.asarray(classes)
        except Exception:
            idx = np.asarray([None])
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"{fn}: classes must be a sequence of channel indices, got {classes!r}")
        idx = int64_labels(fn, "classes", idx)
        if idx.size and (idx.min() < -C3 or idx.max() >= C3):
            raise IndexError(f"{fn}: classes {classes!r} out of range for {C3} channels")
        mult = np.bincount(idx % C3 if C3 else idx, minlength=C3).astype(np.float64)
    gs, _ = upstream(fn, grad_output, "mean", (), dt)
    k = getattr(_core, "soft_dice_" + _suffix(dt))
    value, grad = k(x3, t3, _MODES[mode], mult, bool(log_loss), bool(from_logits), sm, e, ign, want_grad, gs)
    if want_grad:
        grad = grad.reshape(x.shape)
    return (float(value) if want_value else None), grad


dice_loss = LossFunction(_dice_impl, "dice_loss")
soft_dice_loss = LossFunction(_soft_dice_impl, "soft_dice_loss")

__all__ = ["dice_loss", "soft_dice_loss"]
