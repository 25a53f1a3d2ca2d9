"""Perceptual loss: a distance between the features a fixed network extracts from the
prediction and from the target (spec/losses.md section 4.2). nnmat runs the caller's
feature stages (nnmat.nn layers or Sequential models), computes each layer's distance
and its feature-space gradient in C++ ('mse'/'l1': the element-wise loss kernel,
'lpips': cpp/losses/perceptual.cpp), then back-propagates through the stages."""
from __future__ import annotations

import math
from typing import Any, List, Optional

import numpy as np

from .. import _core
from ._base import LossFunction, as_contiguous, asarray, check_reduction, float_dtype, same_shape, upstream
from ._elementwise import L1, MSE

_EW = {np.dtype(np.float32): _core.ew_loss_f32, np.dtype(np.float64): _core.ew_loss_f64}
_LPIPS = {np.dtype(np.float32): _core.lpips_f32, np.dtype(np.float64): _core.lpips_f64}
DISTANCES = ("mse", "l1", "lpips")
LPIPS_EPS = 1e-10
_FN = "perceptual_loss"


def _check_features(features: Any) -> list:
    if not isinstance(features, (list, tuple)):
        raise TypeError(f"{_FN}: features must be a list of nnmat.nn layers or Sequential stages, "
                        f"got {type(features).__name__}")
    if len(features) == 0:
        raise ValueError(f"{_FN}: features must contain at least one stage")
    for i, f in enumerate(features):
        if not (callable(getattr(f, "forward", None)) and callable(getattr(f, "backward", None))):
            raise TypeError(f"{_FN}: features[{i}] has no forward/backward methods (an nnmat.nn layer or "
                            f"Sequential is expected): {f!r}")
    if len(set(map(id, features))) != len(features):
        # a stage's backward uses its own last forward: one object cannot be two stages
        raise ValueError(f"{_FN}: the same stage object appears twice in features")
    return list(features)


def _check_layer_weights(layer_weights: Any, n: int) -> List[float]:
    if layer_weights is None:
        return [1.0] * n
    lw = asarray(_FN, "layer_weights", layer_weights)
    if lw.ndim != 1 or lw.shape[0] != n:
        raise ValueError(f"{_FN}: layer_weights must hold one weight per feature stage ({n}), "
                         f"got shape {lw.shape}")
    lw = lw.astype(np.float64)
    if not np.isfinite(lw).all():
        raise ValueError(f"{_FN}: layer_weights must be finite")
    return [float(v) for v in lw]


def _check_lpips_weights(lpips_weights: Any, n: int) -> Optional[list]:
    if lpips_weights is None:
        return None
    if not isinstance(lpips_weights, (list, tuple)) or len(lpips_weights) != n:
        raise ValueError(f"{_FN}: lpips_weights must be a list of one (C_l,) array per feature stage ({n})")
    out = []
    for i, w in enumerate(lpips_weights):
        w = asarray(_FN, f"lpips_weights[{i}]", w)
        if w.ndim != 1:
            raise ValueError(f"{_FN}: lpips_weights[{i}] must be 1-D (one weight per channel), "
                             f"got shape {w.shape}")
        if not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError(f"{_FN}: lpips_weights[{i}] must be finite and non-negative")
        out.append(w)
    return out


def _as_ncp(phi: np.ndarray, l: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H W); (N, C) -> (N, C, 1)."""
    if phi.ndim == 4:
        return phi.reshape(phi.shape[0], phi.shape[1], phi.shape[2] * phi.shape[3])
    if phi.ndim == 2:
        return phi.reshape(phi.shape[0], phi.shape[1], 1)
    raise ValueError(f"{_FN}: distance='lpips' needs 4-D (N, C, H, W) or 2-D (N, C) features; "
                     f"stage {l} gives shape {phi.shape}")


def _save_gradients(features: list) -> list:
    saved = []
    for f in features:
        grads = f.gradients() if callable(getattr(f, "gradients", None)) else []
        saved.append([(g, g.copy()) for g in grads])
    return saved


def _restore_gradients(saved: list) -> None:
    for grads in saved:
        for g, copy in grads:
            g[...] = copy


def _perceptual(want_value, want_grad, grad_output, input, target, features, layer_weights=None,
                distance="mse", reduction="mean", lpips_weights=None):
    """Perceptual (feature-reconstruction) loss through a fixed feature network.

    ``features`` is a list of nnmat.nn layers or Sequential models applied in turn,
    phi_1 = f_1(input), phi_2 = f_2(phi_1), ...; every stage's output is one feature
    layer l, weighted by ``layer_weights[l]`` (lambda_l, default 1). Per sample n:

        l_n = sum_l lambda_l d_l(n)

    * 'mse' (Johnson et al. 2016): d_l(n) = mean over the sample's feature elements of
      (phi_l(input) - phi_l(target))^2; 'l1': mean absolute difference.
    * 'lpips' (Zhang et al. 2018): features (N, C, H, W) (or (N, C), taken as H = W = 1)
      are unit-normalised along channels, phi^ = phi / (||phi|| + 1e-10), and
      d_l(n) = (1/(H W)) sum_{h,w} sum_c w_{l,c} (phi^_l(input) - phi^_l(target))^2 with
      channel weights ``lpips_weights[l]`` ((C_l,), non-negative; default all ones, LPIPS
      with lpips=False).

    reduction: 'none' -> (l_n) of shape (N,); 'sum' -> sum_n l_n; 'mean' -> mean_n l_n
    (for 'mse'/'l1' the spec's mean over all elements of each layer).

    The gradient is with respect to ``input`` only: the feature stages are frozen (their
    parameters are not changed; their stored parameter gradients are restored after the
    backward pass). Each stage's forward/backward caches are overwritten. The target's
    features are computed first, then the input's, then the stages' backward in reverse
    order. Inputs and the stages' outputs must have a leading batch axis N. Where a
    pixel's feature vector is exactly zero, the LPIPS gradient uses the limit of the
    normalisation's Jacobian (torch's autograd gives NaN there).
    """
    check_reduction(_FN, reduction)
    if not isinstance(distance, str) or distance not in DISTANCES:
        raise ValueError(f"{_FN}: distance must be one of {', '.join(repr(d) for d in DISTANCES)}, "
                         f"got {distance!r}")
    x = asarray(_FN, "input", input)
    y = asarray(_FN, "target", target)
    same_shape(_FN, x, y)
    if x.ndim == 0:
        raise ValueError(f"{_FN}: input must have a batch dimension, got a scalar")
    dt = float_dtype(_FN, x, y)
    stages = _check_features(features)
    L = len(stages)
    lam = _check_layer_weights(layer_weights, L)
    lw = _check_lpips_weights(lpips_weights, L)
    if lw is not None and distance != "lpips":
        raise ValueError(f"{_FN}: lpips_weights is only used with distance='lpips' (got distance={distance!r})")
    N = x.shape[0]
    scale, gout = upstream(_FN, grad_output, reduction, (N,), dt)

    # (1) the target's features, then (2) the input's: each stage's backward uses its last forward
    phi_t = []
    t = as_contiguous(y, dt)
    for f in stages:
        t = np.asarray(f.forward(t, training=False))
        phi_t.append(t)
    phi_x = []
    h = as_contiguous(x, dt)
    for f in stages:
        h = np.asarray(f.forward(h, training=False))
        phi_x.append(h)

    # (3) per-layer distance (per sample) and feature-space gradient
    values = np.zeros(N, np.float64) if (want_value and reduction == "none") else None
    total = 0.0
    fgrads: List[Optional[np.ndarray]] = [None] * L
    for l in range(L):
        a, b = phi_x[l], phi_t[l]
        if a.shape != b.shape:
            raise ValueError(f"{_FN}: stage {l} gives features of shape {a.shape} for the input and "
                             f"{b.shape} for the target")
        if a.ndim == 0 or a.shape[0] != N:
            raise ValueError(f"{_FN}: stage {l} must keep the batch axis ({N} samples), gives shape {a.shape}")
        fdt = float_dtype(_FN, a, b)
        a = as_contiguous(a, fdt)
        b = as_contiguous(b, fdt)
        lam_l = lam[l]
        # gradient factor of sample n: scale * lam_l * (gout[n] or 1) * (1/N for 'mean')
        gs = scale * lam_l / (N if reduction == "mean" else 1) if N else 0.0
        g_arr = None if gout is None else as_contiguous(gout, fdt)
        if distance == "lpips":
            a3, b3 = _as_ncp(a, l), _as_ncp(b, l)
            C = a3.shape[1]
            if lw is None:
                w = np.ones(C, fdt)
            else:
                if lw[l].shape != (C,):
                    raise ValueError(f"{_FN}: lpips_weights[{l}] must have shape ({C},) for stage {l}'s "
                                     f"{C} channels, got {lw[l].shape}")
                w = as_contiguous(lw[l], fdt)
            s, per, g = _LPIPS[fdt](a3, b3, w, LPIPS_EPS, want_grad, g_arr, gs)
            total += lam_l * s
            if values is not None:
                values += lam_l * per.astype(np.float64)
            if want_grad:
                fgrads[l] = g.reshape(a.shape)
        else:
            K = math.prod(a.shape[1:])   # elements per sample
            kind = MSE if distance == "mse" else L1
            with np.errstate(divide="ignore", invalid="ignore"):
                inv_k = np.float64(1.0) / np.float64(K)   # K = 0: inf, the value is then NaN (0/0)
                gscale_l = float(gs * inv_k) if a.size else 0.0
            ge = None if g_arr is None else np.repeat(g_arr, K).reshape(a.shape)
            loss = np.empty(a.shape, fdt) if values is not None else None
            grad = np.empty(a.shape, fdt) if want_grad else None
            s, _ = _EW[fdt](kind, a, b, None, None, ge, loss, grad, gscale_l, 0.0, 0.0, want_value)
            with np.errstate(invalid="ignore"):
                total += lam_l * s * float(inv_k)
                if values is not None:
                    values += lam_l * loss.reshape(N, K).sum(axis=1, dtype=np.float64) * inv_k
            fgrads[l] = grad

    value = None
    if want_value:
        if reduction == "none":
            value = values.astype(dt)
        elif reduction == "sum":
            value = float(total)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = float(np.float64(total) / np.float64(N))

    grad_x = None
    if want_grad and x.size == 0:
        grad_x = np.zeros(x.shape, dt)   # nothing to back-propagate (Layer.backward needs rows)
    elif want_grad:
        # (4) backward through the stages in reverse order: g_l = dL/dphi_l + backward of stage l+1
        saved = _save_gradients(stages)
        try:
            back = None
            for l in range(L - 1, -1, -1):
                g = fgrads[l]
                if back is not None:
                    g = g + np.asarray(back, dtype=g.dtype).reshape(g.shape)
                back = stages[l].backward(g)
        finally:
            _restore_gradients(saved)
        grad_x = np.asarray(back, dtype=dt).reshape(x.shape)
    return value, grad_x


perceptual_loss = LossFunction(_perceptual, "perceptual_loss")

__all__ = ["perceptual_loss"]
