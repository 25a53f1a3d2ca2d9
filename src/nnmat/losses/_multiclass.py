"""Multi-class losses (spec/losses.md sections 3.1-3.4): cross_entropy, nll_loss,
kl_div (torch), kl_divergence (Keras), sparsemax_loss. Kernels: cpp/losses/multiclass*.
"""
from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from .. import _core
from ._base import (LossFunction, as_contiguous, asarray, check_reduction, float_dtype, real_scalar,
                    same_shape, upstream)


def _kernel(name: str, dt: np.dtype):
    return getattr(_core, f"{name}_{'f32' if dt == np.float32 else 'f64'}")


def _class_view(fn: str, x: np.ndarray):
    """(outer, C, inner, loss_shape) with the class dimension 1 (0 for 1-D input), as torch."""
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have at least 1 dimension (C), (N, C) or (N, C, d1, ...), got a scalar")
    if x.ndim == 1:
        return 1, int(x.shape[0]), 1, ()
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    return int(x.shape[0]), int(x.shape[1]), inner, (x.shape[0],) + tuple(x.shape[2:])


def _index(fn: str, name: str, v: Any) -> int:
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an integer, got bool")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an integer, got {type(v).__name__}") from None


def _weight(fn: str, weight: Any, C: int):
    if weight is None:
        return None
    w = asarray(fn, "weight", weight)
    if w.shape != (C,):
        raise ValueError(f"{fn}: weight must have shape ({C},) (one value per class), got {w.shape}")
    return w


def _index_targets(fn: str, t: np.ndarray, loss_shape: tuple, x_shape: tuple) -> np.ndarray:
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: class-index target must be an integer array, got dtype {t.dtype} "
                        f"(a floating-point target must have the input's shape {x_shape}: class probabilities)")
    if t.shape != tuple(loss_shape):
        raise ValueError(f"{fn}: target shape {t.shape} must be {tuple(loss_shape)} for input shape {x_shape} "
                         f"(class indices) or {x_shape} (class probabilities)")
    t = np.ascontiguousarray(t, dtype=np.int64)
    return t if t.flags.aligned else t.copy()  # the kernels dereference int64_t*


def _finish(value, grad, reduction, loss_shape, x_shape, dt):
    if value is not None and reduction == "none":
        value = np.asarray(value, dtype=dt).reshape(loss_shape)
    if grad is not None:
        grad = grad.reshape(x_shape)
    return value, grad


def _cross_entropy_impl(want_value, want_grad, grad_output, input, target, weight=None, ignore_index=-100,
                        reduction="mean", label_smoothing=0.0):
    """Cross-entropy on logits (torch ``F.cross_entropy``; spec 3.1 and 3.2).

    ``input``: (C), (N, C) or (N, C, d1, ..., dK) logits, class dimension 1 (0 for 1-D input).
    ``target``: either class indices (any integer dtype) of shape (), (N) or (N, d1, ..., dK),
    each in [0, C) or equal to ``ignore_index``; or class probabilities of the input's shape
    (floating point), as torch decides. ``weight``: (C) class weights. ``label_smoothing`` in
    [0, 1] mixes the target with the uniform distribution: ``t (1 - eps) + eps / C``.

    'mean' divides by the sum of ``weight[target]`` over the non-ignored positions (index
    targets; NaN when all are ignored) or by the number of positions (probability targets,
    weights included or not). 'none' returns the per-position loss, shape (N, d1, ..., dK).
    """
    fn = "cross_entropy"
    reduction = check_reduction(fn, reduction)
    x = asarray(fn, "input", input)
    t = asarray(fn, "target", target)
    ignore_index = _index(fn, "ignore_index", ignore_index)
    eps = real_scalar(fn, "label_smoothing", label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {eps}")
    outer, C, inner, loss_shape = _class_view(fn, x)
    w = _weight(fn, weight, C)
    if t.shape == x.shape:   # class probabilities, as torch decides
        if t.dtype.kind != "f":
            raise TypeError(f"{fn}: Expected floating point type for target with class probabilities, "
                            f"got {t.dtype}")
        if ignore_index >= 0:
            raise ValueError(f"{fn}: ignore_index is not supported for floating point target")
        dt = float_dtype(fn, x, t, w)
        tidx, prob = None, as_contiguous(t, dt)
    else:
        tidx, prob = _index_targets(fn, t, loss_shape, x.shape), None
        dt = float_dtype(fn, x, w)
    gscalar, gout = upstream(fn, grad_output, reduction, loss_shape, dt)
    value, grad = _kernel("cross_entropy", dt)(
        as_contiguous(x, dt), tidx, prob, None if w is None else as_contiguous(w, dt), outer, C, inner,
        ignore_index, eps, reduction, want_value, want_grad, gout, gscalar)
    return _finish(value, grad, reduction, loss_shape, x.shape, dt)


def _nll_loss_impl(want_value, want_grad, grad_output, input, target, weight=None, ignore_index=-100,
                   reduction="mean"):
    """Negative log-likelihood (torch ``F.nll_loss``): ``-weight[y] * input[y]`` per position.

    ``input``: log-probabilities (C), (N, C) or (N, C, d1, ..., dK); ``target``: class indices
    of shape (), (N) or (N, d1, ..., dK). 'mean' divides by the sum of ``weight[target]`` over
    the non-ignored positions. Gradient: ``-weight[y] / D`` at the target class, 0 elsewhere.
    """
    fn = "nll_loss"
    reduction = check_reduction(fn, reduction)
    x = asarray(fn, "input", input)
    t = asarray(fn, "target", target)
    ignore_index = _index(fn, "ignore_index", ignore_index)
    outer, C, inner, loss_shape = _class_view(fn, x)
    w = _weight(fn, weight, C)
    tidx = _index_targets(fn, t, loss_shape, x.shape)
    dt = float_dtype(fn, x, w)
    gscalar, gout = upstream(fn, grad_output, reduction, loss_shape, dt)
    value, grad = _kernel("nll_loss", dt)(
        as_contiguous(x, dt), tidx, None if w is None else as_contiguous(w, dt), outer, C, inner, ignore_index,
        reduction, want_value, want_grad, gout, gscalar)
    return _finish(value, grad, reduction, loss_shape, x.shape, dt)


def _kl_div_impl(want_value, want_grad, grad_output, input, target, reduction="mean", log_target=False):
    """KL divergence, torch semantics (``F.kl_div``): ``input`` = log q, ``target`` = p
    (log p when ``log_target``); element ``p (log p - input)`` with ``0 log 0 = 0``.

    Reductions: 'none', 'sum', 'mean' (sum / numel: NOT the KL value; torch warns, nnmat
    does not), 'batchmean' (sum / input.shape[0], the per-sample KL; no division for 0-d).
    Gradient: ``-p`` (``-exp(target)`` with log_target), divided as the value.
    """
    fn = "kl_div"
    reduction = check_reduction(fn, reduction, ("mean", "sum", "none", "batchmean"))
    if not isinstance(log_target, (bool, np.bool_)):
        raise TypeError(f"{fn}: log_target must be a bool, got {type(log_target).__name__}")
    x = asarray(fn, "input", input)
    t = asarray(fn, "target", target)
    same_shape(fn, x, t)
    dt = float_dtype(fn, x, t)
    if reduction == "mean":
        divisor = float(x.size)
    elif reduction == "batchmean":
        divisor = float(x.shape[0]) if x.ndim > 0 else 1.0
    else:
        divisor = 1.0
    gscalar, gout = upstream(fn, grad_output, reduction, x.shape, dt)
    value, grad = _kernel("kl_div", dt)(as_contiguous(x, dt), as_contiguous(t, dt), bool(log_target),
                                        reduction == "none", divisor, want_value, want_grad, gout, gscalar)
    if value is not None and reduction == "none":
        value = value.reshape(x.shape)
    if grad is not None:
        grad = grad.reshape(x.shape)
    return value, grad


def _rows_loss(fn, kernel, want_value, want_grad, grad_output, input, target, reduction):
    """Per-sample losses over the last axis; 'mean' = sum / number of samples (0 when there are none)."""
    reduction = check_reduction(fn, reduction)
    x = asarray(fn, "input", input)
    t = asarray(fn, "target", target)
    same_shape(fn, x, t)
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have at least 1 dimension (classes on the last axis)")
    dt = float_dtype(fn, x, t)
    loss_shape = x.shape[:-1]
    rows, C = int(np.prod(loss_shape, dtype=np.int64)), int(x.shape[-1])
    gscalar, gout = upstream(fn, grad_output, reduction, loss_shape, dt)
    value, grad = _kernel(kernel, dt)(as_contiguous(x, dt), as_contiguous(t, dt), rows, C, reduction,
                                      want_value, want_grad, gout, gscalar)
    if reduction == "mean" and rows == 0 and value is not None:
        value = 0.0   # Keras divide_no_nan
    return _finish(value, grad, reduction, loss_shape, x.shape, dt)


def _kl_divergence_impl(want_value, want_grad, grad_output, input, target, reduction="mean"):
    """KL divergence, Keras semantics (``keras.losses.kl_divergence`` / ``KLDivergence``), but
    prediction first: ``input`` = predicted probabilities, ``target`` = true probabilities.

    Both are clipped to [1e-7, 1]; per sample ``sum(target * log(target / input))`` over the
    last axis ('none' returns these, shape ``input.shape[:-1]``); 'mean' averages over the
    samples (0 for no samples, Keras' divide_no_nan). Gradient: ``-target / input`` where the
    input is not clipped, else 0.
    """
    return _rows_loss("kl_divergence", "kl_divergence", want_value, want_grad, grad_output, input, target,
                      reduction)


def _sparsemax_loss_impl(want_value, want_grad, grad_output, input, target, reduction="mean"):
    """Sparsemax loss (tfa ``sparsemax_loss`` / ``SparsemaxLoss(from_logits=True)``; spec 3.4).

    ``input``: logits (B, K); ``target``: label probabilities (B, K) (e.g. one-hot). Per sample
    ``sum_{p>0} p (z - p/2) + sum_j q_j (q_j/2 - z_j)`` with p = sparsemax(z) ('none': shape (B,));
    'mean' averages over samples. Gradient: ``sparsemax(z) - q``.
    """
    return _rows_loss("sparsemax_loss", "sparsemax_loss", want_value, want_grad, grad_output, input, target,
                      reduction)


cross_entropy = LossFunction(_cross_entropy_impl, "cross_entropy")
nll_loss = LossFunction(_nll_loss_impl, "nll_loss")
kl_div = LossFunction(_kl_div_impl, "kl_div")
kl_divergence = LossFunction(_kl_divergence_impl, "kl_divergence")
sparsemax_loss = LossFunction(_sparsemax_loss_impl, "sparsemax_loss")
