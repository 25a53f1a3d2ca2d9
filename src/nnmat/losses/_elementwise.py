"""Element-wise losses (regression and binary classification): one fused C++ pass
(cpp/elementwise/) computes the per-element loss, its sum in a fixed order, and
the gradient. Semantics follow ../shared/spec/losses.md sections 1, 2.1-2.4, 6.6."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _core
from ._base import (
    LossFunction,
    as_contiguous,
    asarray,
    check_reduction,
    float_dtype,
    real_scalar,
    reduced_value,
    same_shape,
    upstream,
)

# Kernel ids: the order of enum class EwLoss in cpp/elementwise/eltwise.h.
MSE, L1, HUBER, SMOOTH_L1, LOG_COSH, BCE, BCE_LOGITS, FOCAL, HINGE, SQUARED_HINGE = range(10)

_KERNEL = {np.dtype(np.float32): _core.ew_loss_f32, np.dtype(np.float64): _core.ew_loss_f64}
_SUM = {np.dtype(np.float32): _core.sum_f32, np.dtype(np.float64): _core.sum_f64}


def _weight(fn: str, name: str, w: Any, shape: tuple, dt: np.dtype, broadcast: bool) -> Optional[np.ndarray]:
    if w is None:
        return None
    w = asarray(fn, name, w)
    if broadcast:
        try:
            w = np.broadcast_to(w, shape)
        except ValueError:
            raise ValueError(f"{fn}: {name} of shape {w.shape} cannot be broadcast to the input's shape "
                             f"{shape}") from None
    elif w.shape != shape:
        raise ValueError(f"{fn}: {name} must have the input's shape {shape}, got {w.shape}")
    return as_contiguous(w, dt)


def _run(fn: str, kind: int, want_value: bool, want_grad: bool, grad_output: Any, input: Any, target: Any,
         reduction: str, *, weight: Any = None, weight_broadcast: bool = False, pos_weight: Any = None,
         mean_by_weight: bool = False, p0: float = 0.0, p1: float = 0.0, prepare_target=None):
    """Shared driver: validation, one kernel call, reduction.

    mean_by_weight: 'mean' divides by sum(weight) instead of N (torch mse/l1)."""
    check_reduction(fn, reduction)
    x = asarray(fn, "input", input)
    y = asarray(fn, "target", target)
    same_shape(fn, x, y)
    w_raw = None if weight is None else asarray(fn, "weight", weight)
    pw_raw = None if pos_weight is None else asarray(fn, "pos_weight", pos_weight)
    dt = float_dtype(fn, x, y, w_raw, pw_raw)
    xc = as_contiguous(x, dt)
    yc = as_contiguous(y, dt)
    if prepare_target is not None:
        yc = prepare_target(yc)
    w = _weight(fn, "weight", w_raw, x.shape, dt, weight_broadcast)
    pw = _weight(fn, "pos_weight", pw_raw, x.shape, dt, True)
    n = x.size
    scale, gout = upstream(fn, grad_output, reduction, x.shape, dt)
    if reduction == "mean":
        denom = _SUM[dt](w) if (mean_by_weight and w is not None) else float(n)
    else:
        denom = 1.0
    if want_grad and reduction == "mean":
        # 0/0 and x/0 follow IEEE, as torch (an empty input has an empty gradient anyway)
        gscale = scale / denom if denom != 0 else scale * float("inf")
    else:
        gscale = scale
    loss = np.empty(x.shape, dt) if (want_value and reduction == "none") else None
    grad = np.empty(x.shape, dt) if want_grad else None
    total, bad = _KERNEL[dt](kind, xc, yc, w, pw, gout, loss, grad, gscale, p0, p1, want_value)
    if bad:
        raise ValueError(f"{fn}: all elements of input should be between 0 and 1")
    value = reduced_value(reduction, loss, total, denom) if want_value else None
    return value, grad


# ----------------------------------------------------------------- regression

def _mse(want_value, want_grad, grad_output, input, target, reduction="mean", weight=None):
    """Mean squared error (torch.nn.functional.mse_loss): l = (input - target)^2.

    weight (optional, the input's shape): l = w r^2, and 'mean' divides by sum(w)
    (torch 2.13). Shapes must match exactly (no broadcasting)."""
    return _run("mse_loss", MSE, want_value, want_grad, grad_output, input, target, reduction,
                weight=weight, mean_by_weight=True)


def _l1(want_value, want_grad, grad_output, input, target, reduction="mean", weight=None):
    """Mean absolute error (torch.nn.functional.l1_loss): l = |input - target|.

    Gradient sign(r) with sign(0) = 0. weight as mse_loss ('mean' divides by sum(w))."""
    return _run("l1_loss", L1, want_value, want_grad, grad_output, input, target, reduction,
                weight=weight, mean_by_weight=True)


def _huber(want_value, want_grad, grad_output, input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss (torch.nn.functional.huber_loss): 0.5 r^2 if |r| < delta else delta (|r| - delta/2).

    delta must be positive. weight (the input's shape) multiplies each element and
    'mean' divides by N, not sum(w) (torch 2.13's behaviour)."""
    delta = real_scalar("huber_loss", "delta", delta)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _run("huber_loss", HUBER, want_value, want_grad, grad_output, input, target, reduction,
                weight=weight, p0=delta)


def _smooth_l1(want_value, want_grad, grad_output, input, target, reduction="mean", beta=1.0):
    """Smooth L1 (torch.nn.functional.smooth_l1_loss): 0.5 r^2 / beta if |r| < beta else |r| - beta/2.

    beta = 0 is the L1 loss; a negative beta raises ValueError."""
    beta = real_scalar("smooth_l1_loss", "beta", beta)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    if beta == 0:
        return _run("smooth_l1_loss", L1, want_value, want_grad, grad_output, input, target, reduction)
    return _run("smooth_l1_loss", SMOOTH_L1, want_value, want_grad, grad_output, input, target, reduction,
                p0=beta)


def _log_cosh(want_value, want_grad, grad_output, input, target, reduction="mean"):
    """Log-cosh loss (Keras log_cosh, prediction first): l = log(cosh(input - target)).

    Evaluated without overflow (|r| + log1p(exp(-2|r|)) - log 2, a series for small
    |r|); gradient tanh(r). 'mean' is the global mean (= the Keras class value);
    'none' returns the per-element loss (Keras' function averages the last axis:
    take ``.mean(-1)`` of it)."""
    return _run("log_cosh_loss", LOG_COSH, want_value, want_grad, grad_output, input, target, reduction)


# ------------------------------------------------------------------- binary

def _bce(want_value, want_grad, grad_output, input, target, weight=None, reduction="mean"):
    """Binary cross-entropy on probabilities (torch.nn.functional.binary_cross_entropy).

    l = -w [y log p + (1 - y) log(1 - p)] with each log clamped at -100; input must
    lie in [0, 1] (ValueError otherwise; NaN propagates). weight broadcasts to the
    input's shape; 'mean' divides by N. Gradient as torch:
    w (p - y) / max(p (1 - p), 1e-12)."""
    return _run("binary_cross_entropy", BCE, want_value, want_grad, grad_output, input, target, reduction,
                weight=weight, weight_broadcast=True)


def _bce_logits(want_value, want_grad, grad_output, input, target, weight=None, reduction="mean",
                pos_weight=None):
    """Binary cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits).

    l = w [(1 - y) x + (1 + (pw - 1) y) softplus(-x)], exact for any |x|. weight
    broadcasts to the input's shape, pos_weight against it (typically shape (C,)
    for the last dimension); 'mean' divides by N."""
    return _run("binary_cross_entropy_with_logits", BCE_LOGITS, want_value, want_grad, grad_output, input,
                target, reduction, weight=weight, weight_broadcast=True, pos_weight=pos_weight)


def _hinge_target(y: np.ndarray) -> np.ndarray:
    # Keras: labels all in {0, 1} are mapped to {-1, +1}; any other label set is used as is.
    if y.size and np.all((y == 0) | (y == 1)):
        return y * 2 - 1
    return y


def _hinge(want_value, want_grad, grad_output, input, target, reduction="mean"):
    """Hinge loss (Keras hinge, prediction first): l = max(1 - y x, 0), labels in {-1, +1}.

    If every label is 0 or 1 the labels are converted by y -> 2y - 1 (Keras). 'mean'
    is the global mean (= Keras' Hinge()); 'none' gives the per-element loss."""
    return _run("hinge_loss", HINGE, want_value, want_grad, grad_output, input, target, reduction,
                prepare_target=_hinge_target)


def _squared_hinge(want_value, want_grad, grad_output, input, target, reduction="mean"):
    """Squared hinge loss (Keras squared_hinge, prediction first): l = max(1 - y x, 0)^2.

    Label conversion and reductions as hinge_loss."""
    return _run("squared_hinge_loss", SQUARED_HINGE, want_value, want_grad, grad_output, input, target,
                reduction, prepare_target=_hinge_target)


def _focal(want_value, want_grad, grad_output, inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """Sigmoid focal loss (torchvision.ops.sigmoid_focal_loss, RetinaNet), on logits.

    l = alpha_t * BCEwithlogits(x, y) * (1 - p_t)^gamma, p = sigmoid(x),
    p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y); alpha = -1
    disables the weighting. Default reduction is 'none' (torchvision). Where
    1 - p_t is exactly 0 the gradient is its limit 0 (torchvision's autograd gives
    NaN there for 0 < gamma < 1)."""
    fn = "sigmoid_focal_loss"
    alpha = real_scalar(fn, "alpha", alpha)
    gamma = real_scalar(fn, "gamma", gamma)
    if not (0 <= alpha <= 1 or alpha == -1):
        raise ValueError(f"{fn}: alpha must be in [0, 1] or -1 (no weighting), got {alpha}")
    if not gamma >= 0:
        raise ValueError(f"{fn}: gamma must be non-negative, got {gamma}")
    return _run(fn, FOCAL, want_value, want_grad, grad_output, inputs, targets, reduction, p0=alpha, p1=gamma)


mse_loss = LossFunction(_mse, "mse_loss")
l1_loss = LossFunction(_l1, "l1_loss")
huber_loss = LossFunction(_huber, "huber_loss")
smooth_l1_loss = LossFunction(_smooth_l1, "smooth_l1_loss")
log_cosh_loss = LossFunction(_log_cosh, "log_cosh_loss")
binary_cross_entropy = LossFunction(_bce, "binary_cross_entropy")
binary_cross_entropy_with_logits = LossFunction(_bce_logits, "binary_cross_entropy_with_logits")
hinge_loss = LossFunction(_hinge, "hinge_loss")
squared_hinge_loss = LossFunction(_squared_hinge, "squared_hinge_loss")
sigmoid_focal_loss = LossFunction(_focal, "sigmoid_focal_loss")

__all__ = [
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss", "squared_hinge_loss",
    "sigmoid_focal_loss",
]
