"""The activation protocol shared by :mod:`nnmat.activations`.

An activation is an :class:`Activation`: ``f(x, ..., out=None)`` computes the
forward value, ``f.backward(x, grad_output, ...)`` the gradient with respect
to ``x`` (a vector-Jacobian product, so softmax-like functions work too).
Each family module writes a forward and a backward implementation::

    def _sigmoid_forward(x, out=None): ...
    def _sigmoid_backward(x, grad_output): ...
    sigmoid = Activation(_sigmoid_forward, _sigmoid_backward, "sigmoid")

The extra parameters (``negative_slope``, ``axis``...) come after ``x`` in the
forward and after ``grad_output`` in the backward, with torch's names and
defaults.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import numpy as np

from .._docs import numpy_sections


_PARAM_DOCS = {
    "x": "x : array_like\n    Input, any shape; not modified. float32/float64 are computed natively,\n"
         "    integers and bools are promoted (float64).",
    "axis": "axis : int, default -1\n    Axis along which the function normalises (torch's ``dim``).",
    "inplace": "inplace : bool, default False\n    Write the result into ``x`` (a float32/float64 ndarray), as torch's ``inplace``.",
    "out": "out : ndarray, optional\n    Where to write the result: ``x``'s shape and the result's dtype.",
}


def _other_param(p: inspect.Parameter) -> Optional[str]:
    if p.default is inspect.Parameter.empty:
        return None
    return (f"{p.name} : {type(p.default).__name__}, default {p.default!r}\n"
            "    Parameter of the torch function of the same name, with its default.")


_RETURNS = ("ndarray\n    The activation of ``x``, same shape, in the promoted float dtype"
            " (``out`` when given).")
_NOTES = ("``f.backward(x, grad_output, ...)`` takes the same parameters and returns"
          " the gradient with respect to ``x`` of ``sum(grad_output * f(x, ...))``.")


class Activation:
    """An activation function with ``f(x, ..., out=None)`` and ``f.backward(x, grad_output, ...)``."""

    def __init__(self, forward: Callable[..., Any], backward: Callable[..., Any], name: str,
                 doc: Optional[str] = None):
        self._forward = forward
        self._backward = backward
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "nnmat.activations"
        self.__signature__ = inspect.signature(forward)
        self.__doc__ = numpy_sections(doc if doc is not None else forward.__doc__, self.__signature__,
                                      _PARAM_DOCS, _other_param, _RETURNS, _NOTES)

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        result: np.ndarray = self._forward(x, *args, **kwargs)
        return result

    def backward(self, x: Any, grad_output: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        """Gradient with respect to ``x`` of ``sum(grad_output * f(x, ...))``.

        Same parameters as the forward call; sigmoid, tanh, softmax and
        log_softmax also take ``output=`` (the forward result) to skip recomputing it."""
        result: np.ndarray = self._backward(x, grad_output, *args, **kwargs)
        return result

    def __repr__(self) -> str:
        return f"<nnmat activation {self.__name__}{self.__signature__}>"
