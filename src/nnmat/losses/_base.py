"""The loss-function protocol shared by every loss in :mod:`nnmat.losses`.

A loss is a :class:`LossFunction`: calling it returns the value, ``.grad``
the gradient with respect to the predicted input(s), ``.value_and_grad``
both from one fused pass. Each family module writes one *implementation*
function per loss::

    def _mse_impl(want_value, want_grad, grad_output, input, target, reduction="mean", weight=None):
        ...
        return value, grad

* ``want_value`` / ``want_grad``: which results the caller needs (the kernel
  can skip the other).
* ``grad_output``: ``None`` (upstream gradient 1) or, for ``reduction='none'``,
  an array of the loss's shape multiplying the per-element derivative; for
  'mean'/'sum' a scalar.
* returns ``(value, grad)``: ``value`` is a Python float for 'mean'/'sum' and
  an ndarray for 'none' (``None`` when not wanted); ``grad`` is an ndarray
  shaped like the predicted input, or a tuple of them (one per predicted input,
  in argument order), ``None`` when not wanted.

and wraps it: ``mse_loss = LossFunction(_mse_impl, "mse_loss")``. The wrapper
gives the public signature (the implementation's, without the three leading
parameters), the docstring, and the ``grad_output`` keyword of ``.grad`` and
``.value_and_grad``.
"""
from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

from .._docs import numpy_sections

REDUCTIONS = ("mean", "sum", "none")

#: What a loss returns: a Python float for reduction 'mean'/'sum', an ndarray for 'none'.
LossValue = Union[float, np.ndarray]
#: A loss's gradient: an ndarray shaped like the prediction, or a tuple of them for
#: losses of several predicted inputs (in argument order).
LossGrad = Union[np.ndarray, Tuple[np.ndarray, ...]]


_PARAM_DOCS = {
    "input": "input : array_like\n    The prediction (first, as in torch); not modified.",
    "target": "target : array_like\n    The target, the prediction's shape unless stated above; not modified.",
    "reduction": "reduction : {'mean', 'sum', 'none'}\n    'mean'/'sum' return a float, 'none' the per-element (per-sample) losses.",
    "weight": "weight : array_like, optional\n    Rescaling weights, as in the reference (see above).",
}


def _other_param(p: inspect.Parameter) -> str:
    if p.default is inspect.Parameter.empty:
        return f"{p.name} : array_like\n    Input of the loss (see above); not modified."
    return (f"{p.name} : {type(p.default).__name__ if p.default is not None else 'optional'}, "
            f"default {p.default!r}\n    See above; the reference's default.")


_RETURNS = "float or ndarray\n    The loss: a Python float for 'mean'/'sum', an ndarray for 'none'."
_NOTES = ("``loss.grad(...)`` (same arguments, plus ``grad_output=``, the upstream gradient) returns"
          " the gradient with respect to the prediction(s) (a tuple for several predicted inputs);"
          " ``loss.value_and_grad(...)`` returns ``(value, grad)`` from one fused pass.")


class LossFunction:
    """A loss with ``loss(...)``, ``loss.grad(...)`` and ``loss.value_and_grad(...)``."""

    def __init__(self, impl: Callable[..., Tuple[Any, Any]], name: str, doc: Optional[str] = None):
        self._impl = impl
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "nnmat.losses"
        params = list(inspect.signature(impl).parameters.values())[3:]
        self.__signature__ = inspect.Signature(params)
        self.__doc__ = numpy_sections(doc if doc is not None else impl.__doc__, self.__signature__,
                                      _PARAM_DOCS, _other_param, _RETURNS, _NOTES)

    def __call__(self, *args: Any, **kwargs: Any) -> LossValue:
        """The loss value: a float for 'mean'/'sum', an ndarray for 'none'."""
        if "grad_output" in kwargs:
            raise TypeError(f"{self.__name__}() got an unexpected keyword argument 'grad_output' "
                            f"(it belongs to {self.__name__}.grad and .value_and_grad)")
        value: LossValue = self._impl(True, False, None, *args, **kwargs)[0]
        return value

    def grad(self, *args: Any, grad_output: Any = None, **kwargs: Any) -> LossGrad:
        """Gradient with respect to the predicted input(s), same arguments as the call.

        ``grad_output`` (optional) is the upstream gradient: an array of the
        loss's shape for ``reduction='none'``, a scalar otherwise.
        """
        g: LossGrad = self._impl(False, True, grad_output, *args, **kwargs)[1]
        return g

    def value_and_grad(self, *args: Any, grad_output: Any = None, **kwargs: Any) -> Tuple[LossValue, LossGrad]:
        """``(value, grad)`` from one fused pass over the data."""
        value, g = self._impl(True, True, grad_output, *args, **kwargs)
        return value, g

    def __repr__(self) -> str:
        return f"<nnmat loss {self.__name__}{self.__signature__}>"


# ----------------------------------------------------------------------------
# Validation helpers (messages name the function and the argument).

def check_reduction(fn: str, reduction: Any, allowed: Sequence[str] = REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{fn}: reduction must be one of {', '.join(repr(r) for r in allowed)}, "
                         f"got {reduction!r}")
    return reduction


def float_dtype(fn: str, *arrays: np.ndarray) -> np.dtype:
    """Promoted float dtype of the arrays (float32 or float64), as DESIGN.md states:
    float32 only when every floating input is float32 (or lower); ints/bools promote
    like numpy; complex, object and string inputs are rejected."""
    kinds = []
    for a in arrays:
        if a is None:
            continue
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: expected real numeric arrays, got dtype {a.dtype}")
        kinds.append(a.dtype)
    dt = np.result_type(*kinds) if kinds else np.dtype(np.float64)
    if dt.kind != "f" or dt.itemsize > 8:
        dt = np.dtype(np.float64)
    elif dt.itemsize < 4:
        dt = np.dtype(np.float32)
    return np.dtype(dt)


def as_contiguous(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    """C-contiguous array of dtype dt: the input itself when it already is one
    (never written to), else exactly one converted copy. Data misaligned for dt
    (np.frombuffer at an odd offset) is copied too: the kernels dereference T*."""
    a = np.ascontiguousarray(a, dtype=dt)
    return a if a.flags.aligned else a.copy()


def asarray(fn: str, name: str, x: Any) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{fn}: {name} cannot be converted to an array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must be a real numeric array, got dtype {a.dtype}")
    return a


def int64_labels(fn: str, name: str, t: np.ndarray) -> np.ndarray:
    """An integer array as contiguous int64. uint64 values above the int64 range would wrap to
    negative numbers (to -100, say: an ignore_index) and are refused with IndexError instead."""
    if t.dtype == np.uint64 and t.size and int(t.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"{fn}: {name} value {int(t.max())} is out of range (beyond int64)")
    t = np.ascontiguousarray(t, dtype=np.int64)
    return t if t.flags.aligned else t.copy()   # the kernels dereference int64_t*


def same_shape(fn: str, input: np.ndarray, target: np.ndarray, names=("input", "target")) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{fn}: {names[1]} shape {target.shape} must equal {names[0]} shape "
                         f"{input.shape} (nnmat does not broadcast loss arguments)")


def real_scalar(fn: str, name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(v).__name__}")
    return float(v)


def upstream(fn: str, grad_output: Any, reduction: str, loss_shape: tuple, dt: np.dtype):
    """Normalise grad_output: (scalar factor, array or None).

    For 'none' an array of the loss's shape (or a scalar) is accepted; for
    'mean'/'sum' only a scalar (the derivative of whatever used the value)."""
    if grad_output is None:
        return 1.0, None
    if reduction != "none":
        g = np.asarray(grad_output)
        if g.ndim != 0 or g.dtype.kind not in "biuf":
            raise ValueError(f"{fn}: grad_output must be a scalar for reduction={reduction!r}, "
                             f"got shape {g.shape}")
        return float(g), None
    g = asarray(fn, "grad_output", grad_output)
    if g.ndim == 0:
        return float(g), None
    if g.shape != tuple(loss_shape):
        raise ValueError(f"{fn}: grad_output shape {g.shape} must equal the loss's shape "
                         f"{tuple(loss_shape)} (reduction='none')")
    return 1.0, as_contiguous(g, dt)


def reduced_value(reduction: str, per_element: Any, total: float, count: float) -> Any:
    """What a loss returns for its value: the per-element array ('none'), the sum
    ('sum'), or total / count ('mean'; NaN for an empty input, as torch's 0/0)."""
    if reduction == "none":
        return per_element
    if reduction == "sum":
        return float(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(total) / np.float64(count))
