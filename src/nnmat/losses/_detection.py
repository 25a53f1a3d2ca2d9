"""Bounding-box regression losses (spec/losses.md 6.1-6.4), computed in ``cpp/losses/boxes.cpp``.

Boxes are ``(..., 4)`` arrays of ``(x1, y1, x2, y2)`` corners with ``x2 >= x1`` and ``y2 >= y1``;
``boxes1`` (the prediction) and ``boxes2`` (the target) have the same shape and are paired
element-wise (not all-pairs). ``reduction='none'`` gives one value per box (the leading shape).
The gradient is with respect to ``boxes1`` only: one array of its shape.

Unlike torchvision (which no longer checks), an inverted box (``x2 < x1`` or ``y2 < y1``) in either
argument raises ``ValueError`` naming the argument and the first bad box's index. Integer inputs
are promoted as numpy does (float64; torchvision would use float32).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from ._base import (LossFunction, as_contiguous, asarray, check_reduction, float_dtype, real_scalar,
                    same_shape, upstream)

_KIND = {"iou_linear": 0, "iou_square": 1, "iou_log": 2, "giou": 3, "diou": 4, "ciou": 5}


def _box_impl(fn: str, kind: str, empty_mean: float, want_value: bool, want_grad: bool,
              grad_output: Any, boxes1: Any, boxes2: Any, eps: Any, reduction: str):
    reduction = check_reduction(fn, reduction)
    eps = real_scalar(fn, "eps", eps)
    if not eps >= 0.0:
        raise ValueError(f"{fn}: eps must be >= 0, got {eps}")
    b1 = asarray(fn, "boxes1", boxes1)
    b2 = asarray(fn, "boxes2", boxes2)
    for name, b in (("boxes1", b1), ("boxes2", b2)):
        if b.ndim == 0 or b.shape[-1] != 4:
            raise ValueError(f"{fn}: {name} must have shape (..., 4) (x1, y1, x2, y2), got {b.shape}")
    same_shape(fn, b1, b2, names=("boxes1", "boxes2"))
    dt = float_dtype(fn, b1, b2)
    lead = b1.shape[:-1]
    n = int(np.prod(lead, dtype=np.int64))
    scale, gout = upstream(fn, grad_output, reduction, lead, dt) if want_grad else (1.0, None)
    if reduction == "mean" and n > 0:
        scale /= n
    c1 = as_contiguous(b1, dt).reshape(n, 4)
    c2 = as_contiguous(b2, dt).reshape(n, 4)
    if gout is not None:
        gout = gout.reshape(n)
    kernel = _core.box_loss_f32 if dt == np.float32 else _core.box_loss_f64
    total, per_box, grad, bad1, bad2 = kernel(_KIND[kind], c1, c2, eps,
                                              bool(want_value and reduction == "none"),
                                              bool(want_grad), gout, scale)
    for name, bad, b in (("boxes1", bad1, b1), ("boxes2", bad2, b2)):
        if bad >= 0:
            idx = tuple(int(i) for i in np.unravel_index(bad, lead)) if lead else ()
            shown = idx[0] if len(idx) == 1 else idx
            raise ValueError(f"{fn}: {name} has an inverted box at index {shown}: "
                             f"{np.asarray(b[idx]).tolist()} (need x2 >= x1 and y2 >= y1)")
    value = None
    if want_value:
        if reduction == "none":
            value = per_box.reshape(lead)
        elif reduction == "sum":
            value = float(total)
        else:
            value = float(total) / n if n > 0 else empty_mean
    if want_grad:
        grad = grad.reshape(b1.shape)
    return value, grad


def _iou_impl(want_value, want_grad, grad_output, boxes1, boxes2, mode="log", eps=1e-6,
              reduction="mean"):
    """IoU loss of mmdetection (``iou_loss`` / ``IoULoss``), spec 6.1.

    ``IoU = I / max(U, 1e-6)`` (mmdet's ``bbox_overlaps`` clamp, a fixed 1e-6), then
    ``IoU <- max(IoU, eps)``; ``mode='linear'``: ``1 - IoU``, ``'square'``: ``1 - IoU**2``,
    ``'log'`` (default, UnitBox): ``-log IoU``. ``'mean'`` of no boxes is NaN (torch's mean).
    Coinciding edges split the gradient 0.5/0.5 (torch.max/min); where a clamp is active the
    gradient is 0.
    """
    fn = "iou_loss"
    if mode not in ("linear", "square", "log"):
        raise ValueError(f"{fn}: mode must be 'linear', 'square' or 'log', got {mode!r}")
    return _box_impl(fn, "iou_" + mode, math.nan, want_value, want_grad, grad_output,
                     boxes1, boxes2, eps, reduction)


def _giou_impl(want_value, want_grad, grad_output, boxes1, boxes2, reduction="none", eps=1e-7):
    """Generalized IoU loss, ``torchvision.ops.generalized_box_iou_loss`` (spec 6.2).

    ``1 - I/(U+eps) + (C - U)/(C + eps)`` with C the area of the smallest enclosing box. Default
    reduction ``'none'`` (torchvision's); ``'mean'`` of no boxes is 0.
    """
    return _box_impl("generalized_box_iou_loss", "giou", 0.0, want_value, want_grad, grad_output,
                     boxes1, boxes2, eps, reduction)


def _diou_impl(want_value, want_grad, grad_output, boxes1, boxes2, reduction="none", eps=1e-7):
    """Distance IoU loss, ``torchvision.ops.distance_box_iou_loss`` (spec 6.3).

    ``1 - I/(U+eps) + rho^2/c^2``: rho the distance of the centres, c the diagonal of the
    enclosing box (``c^2`` gets ``+eps``). Default reduction ``'none'``; ``'mean'`` of no boxes is 0.
    """
    return _box_impl("distance_box_iou_loss", "diou", 0.0, want_value, want_grad, grad_output,
                     boxes1, boxes2, eps, reduction)


def _ciou_impl(want_value, want_grad, grad_output, boxes1, boxes2, reduction="none", eps=1e-7):
    """Complete IoU loss, ``torchvision.ops.complete_box_iou_loss`` (spec 6.4).

    DIoU loss ``+ alpha v``, ``v = 4/pi^2 (atan(w_g/h_g) - atan(w/h))^2``,
    ``alpha = v / (1 - IoU + v + eps)`` treated as a constant (torchvision computes it under
    ``no_grad``). As in torchvision the DIoU part always uses eps = 1e-7; ``eps`` enters alpha only.
    A box with zero width and zero height gives NaN (``atan(0/0)``), as in torchvision. For a
    zero-height box with w > 0 the gradient is finite (the limit), where torch autograd gives NaN.
    """
    return _box_impl("complete_box_iou_loss", "ciou", 0.0, want_value, want_grad, grad_output,
                     boxes1, boxes2, eps, reduction)


iou_loss = LossFunction(_iou_impl, "iou_loss")
generalized_box_iou_loss = LossFunction(_giou_impl, "generalized_box_iou_loss")
distance_box_iou_loss = LossFunction(_diou_impl, "distance_box_iou_loss")
complete_box_iou_loss = LossFunction(_ciou_impl, "complete_box_iou_loss")

__all__ = ["iou_loss", "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"]
