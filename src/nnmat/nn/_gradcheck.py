"""Finite-difference check of a model's backward pass."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from . import _io
from ._losses import get_loss


@dataclass
class GradientCheckResult:
    """Outcome of :func:`check_gradients`.

    Attributes
    ----------
    ok : bool
        Every checked entry satisfies ``|backprop - numeric| <= atol + rtol * |numeric|``.
    max_abs_error, max_rel_error : float
        Largest ``|backprop - numeric|`` and largest
        ``|backprop - numeric| / max(|backprop|, |numeric|)`` over every checked entry
        (the relative error of an entry where both are 0 is 0).
    abs_errors, rel_errors : dict
        The same per parameter (``named_parameters`` names) and for ``'input'``.
    failures : dict
        Number of entries outside the tolerance, per parameter and ``'input'``.
    checked : int
        Number of entries compared (parameters and input together).
    loss : float
        The loss of the float64 copy at the checked point.
    eps, rtol, atol : float
        The step and the tolerances used.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    abs_errors: Dict[str, float] = field(default_factory=dict)
    rel_errors: Dict[str, float] = field(default_factory=dict)
    failures: Dict[str, int] = field(default_factory=dict)
    checked: int = 0
    loss: float = float("nan")
    eps: float = 0.0
    rtol: float = 0.0
    atol: float = 0.0

    def __str__(self) -> str:
        head = (f"gradient check {'passed' if self.ok else 'FAILED'}: {self.checked} entries, "
                f"max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g} "
                f"(eps={self.eps:.3g}, rtol={self.rtol:.3g}, atol={self.atol:.3g}, loss={self.loss:.6g})")
        if not self.abs_errors:
            return head
        w = max(len(k) for k in self.abs_errors)
        lines = [head, f"  {'':<{w}}  {'max abs':>10}  {'max rel':>10}  failed"]
        for k in self.abs_errors:
            lines.append(f"  {k:<{w}}  {self.abs_errors[k]:>10.3g}  {self.rel_errors[k]:>10.3g}  "
                         f"{self.failures.get(k, 0)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"GradientCheckResult(ok={self.ok}, max_abs_error={self.max_abs_error:.3g}, "
                f"max_rel_error={self.max_rel_error:.3g}, checked={self.checked})")

    def __bool__(self) -> bool:
        return self.ok


def _indices(size: int, max_checks: Optional[int], rng: np.random.Generator) -> np.ndarray:
    if max_checks is None or max_checks >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def check_gradients(model: Any, x: Any, y: Any, loss: Any, *, eps: Optional[float] = None, rtol: float = 1e-4,
                    atol: float = 1e-6, max_checks: Optional[int] = None, seed: int = 0) -> GradientCheckResult:
    """Compare a model's backpropagated gradients with central finite differences.

    The check runs on a float64 copy of ``model`` rebuilt from its layers'
    configs (as :func:`nnmat.nn.load` does) with the parameters cast to
    float64, so float32 models are checked meaningfully; ``model`` itself is
    neither modified nor run. Dropout is off (``forward(x, training=False)``):
    the check covers the inference-mode network.

    Backprop: ``forward(x)``, ``loss.value_and_grad(out, y)``, ``backward(g)``.
    Numeric: ``(L(theta + eps) - L(theta - eps)) / (2 eps)`` per entry, with
    ``L`` the loss value. Both the parameters' gradients and the input's are
    checked.

    Parameters
    ----------
    model : Sequential
    x, y : a batch and its targets (as for ``fit``); float targets are cast to float64.
    loss : anything :func:`nnmat.nn.get_loss` accepts that takes (prediction, target).
    eps : float, optional
        Finite-difference step; default ``1e-6``.
    rtol, atol : float
        An entry passes when ``|backprop - numeric| <= atol + rtol * |numeric|``.
    max_checks : int, optional
        Check at most this many randomly chosen entries of each parameter (and of
        the input), drawn with ``seed``; default: every entry.
    seed : int
        Seed of that choice.

    Returns
    -------
    GradientCheckResult (truthy when ``ok``), whose ``str()`` is a per-parameter table.

    Kinks (ReLU at 0, Hardtanh at its bounds, ...) give finite-difference errors
    when an entry falls within ``eps`` of one; random inputs almost never do.
    """
    from ._model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"check_gradients: model must be an nnmat.nn.Sequential, got {type(model).__name__}")
    loss_obj = get_loss(loss)
    if loss_obj.n_inputs != 2:
        raise ValueError(f"check_gradients: {loss_obj.name} takes {loss_obj.n_inputs} inputs; only losses of "
                         "(prediction, target) are supported")
    eps = 1e-6 if eps is None else float(eps)
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"check_gradients: eps must be a positive finite number, got {eps!r}")
    if max_checks is not None:
        if isinstance(max_checks, bool) or not isinstance(max_checks, (int, np.integer)) or max_checks <= 0:
            raise ValueError(f"check_gradients: max_checks must be a positive integer or None, got {max_checks!r}")
        max_checks = int(max_checks)
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (float(v) >= 0):
            raise ValueError(f"check_gradients: {name} must be non-negative, got {v!r}")

    m = _io.clone(model, np.float64)
    x64 = np.array(x, dtype=np.float64, copy=True)
    y_arr = np.asarray(y)
    if y_arr.dtype.kind == "f":
        y_arr = y_arr.astype(np.float64)

    def value() -> float:
        return float(loss_obj(m.forward(x64, training=False), y_arr))

    out = m.forward(x64, training=False)
    loss_value, g = loss_obj.value_and_grad(out, y_arr)
    dx = np.array(m.backward(g), dtype=np.float64)
    analytic = {"input": dx}
    targets = {"input": x64}
    for i, layer in enumerate(m.layers):
        for name, v, grad in layer._named_parameters():
            analytic[f"{i}.{name}"] = np.array(grad, copy=True)
            targets[f"{i}.{name}"] = v   # live view of the copy's parameter buffer
    order = [n for n in analytic if n != "input"] + ["input"]

    rng = np.random.default_rng(seed)
    abs_err: Dict[str, float] = {}
    rel_err: Dict[str, float] = {}
    fails: Dict[str, int] = {}
    checked = 0
    for name in order:
        arr = targets[name].reshape(-1)   # a view: both are contiguous
        ana = analytic[name].reshape(-1)
        idx = _indices(arr.size, max_checks, rng)
        num = np.empty(idx.size)
        for j, k in enumerate(idx):
            old = arr[k]
            arr[k] = old + eps
            fp = value()
            arr[k] = old - eps
            fm = value()
            arr[k] = old
            num[j] = (fp - fm) / (2 * eps)
        a = ana[idx]
        diff = np.abs(a - num)
        scale = np.maximum(np.abs(a), np.abs(num))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        bad = ~(diff <= atol + rtol * np.abs(num))   # NaN counts as a failure
        abs_err[name] = float(diff.max()) if diff.size else 0.0
        rel_err[name] = float(rel.max()) if rel.size else 0.0
        if np.isnan(diff).any():
            abs_err[name] = rel_err[name] = float("nan")
        fails[name] = int(bad.sum())
        checked += int(idx.size)
    vals_a = list(abs_err.values())
    vals_r = list(rel_err.values())
    max_abs = float("nan") if any(math.isnan(v) for v in vals_a) else max(vals_a, default=0.0)
    max_rel = float("nan") if any(math.isnan(v) for v in vals_r) else max(vals_r, default=0.0)
    return GradientCheckResult(ok=not any(fails.values()), max_abs_error=max_abs, max_rel_error=max_rel,
                               abs_errors=abs_err, rel_errors=rel_err, failures=fails, checked=checked,
                               loss=float(loss_value), eps=eps, rtol=float(rtol), atol=float(atol))
