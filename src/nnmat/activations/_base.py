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


class Activation:
    """An activation function with ``f(x, ..., out=None)`` and ``f.backward(x, grad_output, ...)``."""

    def __init__(self, forward: Callable[..., Any], backward: Callable[..., Any], name: str,
                 doc: Optional[str] = None):
        self._forward = forward
        self._backward = backward
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "nnmat.activations"
        self.__doc__ = doc if doc is not None else forward.__doc__
        self.__signature__ = inspect.signature(forward)

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return self._forward(x, *args, **kwargs)

    def backward(self, x: Any, grad_output: Any, *args: Any, **kwargs: Any) -> Any:
        """Gradient with respect to ``x`` of ``sum(grad_output * f(x, ...))``.

        Same parameters as the forward call; sigmoid, tanh, softmax and
        log_softmax also take ``output=`` (the forward result) to skip recomputing it."""
        return self._backward(x, grad_output, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<nnmat activation {self.__name__}{self.__signature__}>"
