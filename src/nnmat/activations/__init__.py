"""Activation functions, forward and backward, in nnmat's C++ kernels.

Names, parameters and defaults are torch.nn.functional's (softmax family:
``axis=-1``). Each is callable, ``f(x, ..., out=None)``, and has
``f.backward(x, grad_output, ...)`` returning the gradient with respect to x.
"""
from ._base import Activation
from ._elementwise import (
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    mish,
    relu,
    selu,
    sigmoid,
    silu,
    softplus,
    tanh,
)
from ._softmax import log_softmax, softmax, sparsemax

__all__ = [
    "Activation",
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus", "mish",
    "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax", "sparsemax",
]
