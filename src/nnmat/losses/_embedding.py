"""Embedding losses (spec/losses.md 7.1-7.4), computed in ``cpp/losses/embedding.cpp``.

* :func:`triplet_margin_loss` -- ``torch.nn.functional.triplet_margin_loss``.
* :func:`contrastive_loss` -- the pairwise form of Hadsell, Chopra & LeCun (2006).
* :func:`batch_contrastive_loss` -- pytorch-metric-learning's ``ContrastiveLoss`` (all pairs of
  a labelled batch).
* :func:`center_loss` and :func:`center_update` -- Wen et al. (2016), the authors' Caffe layer.
* :func:`angular_loss` -- pytorch-metric-learning's ``AngularLoss`` (Wang et al. 2017).

Losses of several predicted inputs return one gradient per input, as a tuple in argument order.
``batch_contrastive_loss`` and ``angular_loss`` have no ``reduction`` argument: their reduction
is the reference's own (a scalar); their ``grad_output`` may only be a scalar.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import _core
from ._base import (LossFunction, as_contiguous, asarray, check_reduction, float_dtype, int64_labels,
                    real_scalar, upstream)


def _kernel(name: str, dt: np.dtype):
    return getattr(_core, name + ("_f32" if dt == np.float32 else "_f64"))


def _labels(fn: str, labels: Any, n: int) -> np.ndarray:
    lab = asarray(fn, "labels", labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be an integer array, got dtype {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"{fn}: labels must have shape ({n},) (one per row), got {lab.shape}")
    return int64_labels(fn, "labels", lab)


def _embeddings(fn: str, name: str, x: Any) -> np.ndarray:
    a = asarray(fn, name, x)
    if a.ndim != 2:
        raise ValueError(f"{fn}: {name} must be 2-D (batch, features), got shape {a.shape}")
    return a


def _finish(fn, want_value, reduction, total, per_row, lead, n):
    if not want_value:
        return None
    if reduction == "none":
        return per_row.reshape(lead)
    if reduction == "sum":
        return float(total)
    return float(total) / n if n > 0 else math.nan


# ----------------------------------------------------------------------------------------------

def _triplet_impl(want_value, want_grad, grad_output, anchor, positive, negative, margin=1.0, p=2,
                  eps=1e-6, swap=False, reduction="mean"):
    """Triplet margin loss, ``torch.nn.functional.triplet_margin_loss`` (spec 7.1).

    ``max(margin + d(a, p) - d(a, n), 0)`` with ``d(u, v) = ||u - v + eps||_p`` over the last
    axis (eps is added to the difference, as torch does); ``swap=True`` uses
    ``min(d(a, n), d(p, n))`` (a tie splits the gradient). Inputs ``(N, D)`` or ``(D,)``, all of
    the same shape; ``margin > 0``; ``p > 0`` (``math.inf`` allowed). The gradient is the tuple
    ``(d_anchor, d_positive, d_negative)``. ``'mean'`` of no triplets is NaN (torch).
    """
    fn = "triplet_margin_loss"
    reduction = check_reduction(fn, reduction)
    margin = real_scalar(fn, "margin", margin)
    if not margin > 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    p = real_scalar(fn, "p", p)
    if not p > 0:
        raise ValueError(f"{fn}: p must be > 0, got {p}")
    eps = real_scalar(fn, "eps", eps)
    if not isinstance(swap, (bool, np.bool_)):
        raise TypeError(f"{fn}: swap must be a bool, got {type(swap).__name__}")
    arrs = [asarray(fn, nm, v) for nm, v in (("anchor", anchor), ("positive", positive),
                                              ("negative", negative))]
    a = arrs[0]
    if a.ndim not in (1, 2):
        raise ValueError(f"{fn}: anchor must be (N, D) or (D,), got shape {a.shape}")
    for nm, v in zip(("positive", "negative"), arrs[1:]):
        if v.shape != a.shape:
            raise ValueError(f"{fn}: {nm} shape {v.shape} must equal anchor shape {a.shape}")
    dt = float_dtype(fn, *arrs)
    lead = a.shape[:-1]
    n, d = (a.shape[0] if a.ndim == 2 else 1), a.shape[-1]
    scale, gout = upstream(fn, grad_output, reduction, lead, dt) if want_grad else (1.0, None)
    if reduction == "mean" and n > 0:
        scale /= n
    c = [as_contiguous(v, dt).reshape(n, d) for v in arrs]
    total, per_row, grads = _kernel("triplet_margin_loss", dt)(
        c[0], c[1], c[2], margin, p, eps, bool(swap), bool(want_value and reduction == "none"),
        bool(want_grad), None if gout is None else gout.reshape(n), scale)
    value = _finish(fn, want_value, reduction, total, per_row, lead, n)
    if want_grad:
        grads = tuple(g.reshape(a.shape) for g in grads)
    return value, grads


def _contrastive_impl(want_value, want_grad, grad_output, x1, x2, target, margin=1.0,
                      reduction="mean"):
    """Pairwise contrastive loss of Hadsell, Chopra & LeCun (2006) (spec 7.2a).

    ``D = ||x1 - x2||_2``; per pair ``target * D**2 / 2 + (1 - target) * max(0, margin - D)**2 / 2``
    with ``target = 1`` for a similar pair and ``0`` for a dissimilar one (the paper's Y is
    ``1 - target``). ``x1``, ``x2``: ``(N, D)`` (or ``(D,)``), ``target``: ``(N,)`` (or a scalar).
    ``'sum'`` is the paper's loss; default ``'mean'``. The gradient is ``(d_x1, d_x2)``.
    """
    fn = "contrastive_loss"
    reduction = check_reduction(fn, reduction)
    margin = real_scalar(fn, "margin", margin)
    if not margin >= 0:
        raise ValueError(f"{fn}: margin must be >= 0, got {margin}")
    a = asarray(fn, "x1", x1)
    b = asarray(fn, "x2", x2)
    t = asarray(fn, "target", target)
    if a.ndim not in (1, 2):
        raise ValueError(f"{fn}: x1 must be (N, D) or (D,), got shape {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"{fn}: x2 shape {b.shape} must equal x1 shape {a.shape}")
    lead = a.shape[:-1]
    if t.shape != lead:
        raise ValueError(f"{fn}: target must have shape {lead} (one per pair), got {t.shape}")
    dt = float_dtype(fn, a, b)
    n, d = (a.shape[0] if a.ndim == 2 else 1), a.shape[-1]
    scale, gout = upstream(fn, grad_output, reduction, lead, dt) if want_grad else (1.0, None)
    if reduction == "mean" and n > 0:
        scale /= n
    total, per_row, grads = _kernel("contrastive_loss", dt)(
        as_contiguous(a, dt).reshape(n, d), as_contiguous(b, dt).reshape(n, d),
        as_contiguous(t, dt).reshape(n), margin, bool(want_value and reduction == "none"),
        bool(want_grad), None if gout is None else gout.reshape(n), scale)
    value = _finish(fn, want_value, reduction, total, per_row, lead, n)
    if want_grad:
        grads = tuple(g.reshape(a.shape) for g in grads)
    return value, grads


def _batch_contrastive_impl(want_value, want_grad, grad_output, embeddings, labels, pos_margin=0.0,
                            neg_margin=1.0, normalize=True):
    """Contrastive loss over every pair of a labelled batch, pytorch-metric-learning
    ``ContrastiveLoss(pos_margin=0, neg_margin=1)`` with its default distance and reducer (spec 7.2b).

    Embeddings ``(B, D)`` are L2-normalised first (``normalize=True``, as PML's ``LpDistance``);
    every ordered pair ``i != j`` with equal labels is positive, with different labels negative.
    Positive pairs cost ``relu(d - pos_margin)``, negative pairs ``relu(neg_margin - d)``; each
    kind is averaged over its non-zero terms (``AvgNonZeroReducer``; 0 when there is none) and the
    two averages are summed. No ``reduction`` argument (the value is always this scalar). Labels:
    integers, only compared for equality. Gradient with respect to ``embeddings``.
    """
    fn = "batch_contrastive_loss"
    pos_margin = real_scalar(fn, "pos_margin", pos_margin)
    neg_margin = real_scalar(fn, "neg_margin", neg_margin)
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"{fn}: normalize must be a bool, got {type(normalize).__name__}")
    x = _embeddings(fn, "embeddings", embeddings)
    lab = _labels(fn, labels, x.shape[0])
    dt = float_dtype(fn, x)
    scale, _ = upstream(fn, grad_output, "mean", (), dt) if want_grad else (1.0, None)
    v, g = _kernel("batch_contrastive_loss", dt)(as_contiguous(x, dt), lab, pos_margin, neg_margin,
                                                  bool(normalize), bool(want_grad), scale)
    return (float(v) if want_value else None), g


def _angular_impl(want_value, want_grad, grad_output, embeddings, labels, alpha=40.0,
                  normalize_negatives=False):
    """Angular loss, pytorch-metric-learning ``AngularLoss(alpha=40)`` (Wang et al. 2017; spec 7.4).

    ``alpha`` in degrees, ``t = tan(alpha)**2``. For every ordered positive pair ``(a, p)`` (same
    label, ``a != p``), over the samples ``n`` whose label differs from the anchor's:
    ``log(1 + sum_n exp(4 t (x_a + x_p).x_n - 2 (1 + t) x_a.x_p))``; mean over the positive pairs;
    0 when the batch has no positive or no negative pair. Anchors and positives are
    L2-normalised; negatives are used as given (PML's behaviour) unless
    ``normalize_negatives=True`` (the paper's form, all features on the unit sphere). No
    ``reduction`` argument. Gradient with respect to ``embeddings``.
    """
    fn = "angular_loss"
    alpha = real_scalar(fn, "alpha", alpha)
    if not 0 < alpha < 90:
        raise ValueError(f"{fn}: alpha must be an angle in degrees in (0, 90), got {alpha}")
    if not isinstance(normalize_negatives, (bool, np.bool_)):
        raise TypeError(f"{fn}: normalize_negatives must be a bool")
    x = _embeddings(fn, "embeddings", embeddings)
    lab = _labels(fn, labels, x.shape[0])
    dt = float_dtype(fn, x)
    scale, _ = upstream(fn, grad_output, "mean", (), dt) if want_grad else (1.0, None)
    v, g = _kernel("angular_loss", dt)(as_contiguous(x, dt), lab, alpha, bool(normalize_negatives),
                                        bool(want_grad), scale)
    return (float(v) if want_value else None), g


def _center_args(fn, features, labels, centers):
    x = _embeddings(fn, "features", features)
    c = _embeddings(fn, "centers", centers)
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"{fn}: centers must have shape (C, {x.shape[1]}) (features has "
                         f"{x.shape[1]} columns), got {c.shape}")
    lab = _labels(fn, labels, x.shape[0])
    if lab.size and (lab.min() < 0 or lab.max() >= c.shape[0]):
        bad = int(lab[(lab < 0) | (lab >= c.shape[0])][0])
        raise IndexError(f"{fn}: label {bad} is out of range for {c.shape[0]} centers")
    dt = float_dtype(fn, x, c)
    return as_contiguous(x, dt), lab, as_contiguous(c, dt), dt


def _center_impl(want_value, want_grad, grad_output, features, labels, centers, reduction="mean"):
    """Center loss of Wen et al. (2016), the authors' Caffe definition (spec 7.3).

    Per sample ``||x_i - c_{y_i}||**2 / 2``; ``'mean'`` divides by the number of samples M (Caffe's
    reported value), ``'sum'`` is the paper's ``L_C``. ``features (M, K)``, ``labels (M,)`` integers
    in ``[0, C)``, ``centers (C, K)``. Gradient with respect to ``features`` only; the centers are
    moved by :func:`center_update`, not by a gradient. ``'mean'`` of no samples is NaN.
    """
    fn = "center_loss"
    reduction = check_reduction(fn, reduction)
    x, lab, c, dt = _center_args(fn, features, labels, centers)
    m = x.shape[0]
    scale, gout = upstream(fn, grad_output, reduction, (m,), dt) if want_grad else (1.0, None)
    if reduction == "mean" and m > 0:
        scale /= m
    total, per_row, g = _kernel("center_loss", dt)(x, lab, c, bool(want_value and reduction == "none"),
                                                   bool(want_grad), gout, scale)
    return _finish(fn, want_value, reduction, total, per_row, (m,), m), g


def center_update(features: Any, labels: Any, centers: Any, alpha: float = 0.5) -> np.ndarray:
    """One center-loss update step (Wen et al. 2016, Caffe layer), returning NEW centers.

    ``c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j)`` with ``n_j`` the number of
    samples of class j in the batch; classes absent from the batch are unchanged. The input
    ``centers`` array is never modified: the result is a new array (of the promoted float dtype),
    so write ``centers = center_update(x, y, centers)``.
    """
    fn = "center_update"
    alpha = real_scalar(fn, "alpha", alpha)
    x, lab, c, dt = _center_args(fn, features, labels, centers)
    return _kernel("center_update", dt)(x, lab, c, alpha)


triplet_margin_loss = LossFunction(_triplet_impl, "triplet_margin_loss")
contrastive_loss = LossFunction(_contrastive_impl, "contrastive_loss")
batch_contrastive_loss = LossFunction(_batch_contrastive_impl, "batch_contrastive_loss")
center_loss = LossFunction(_center_impl, "center_loss")
angular_loss = LossFunction(_angular_impl, "angular_loss")
center_update.__module__ = "nnmat.losses"

__all__ = ["triplet_margin_loss", "contrastive_loss", "batch_contrastive_loss", "center_loss",
           "center_update", "angular_loss"]
