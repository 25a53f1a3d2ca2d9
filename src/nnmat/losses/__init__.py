"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction

__all__ = ["LossFunction"]
