"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction
from ._elementwise import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    hinge_loss,
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mse_loss,
    sigmoid_focal_loss,
    smooth_l1_loss,
    squared_hinge_loss,
)

__all__ = [
    "LossFunction",
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss", "squared_hinge_loss",
    "sigmoid_focal_loss",
]
