"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction
from ._multiclass import cross_entropy, kl_div, kl_divergence, nll_loss, sparsemax_loss

__all__ = ["LossFunction", "cross_entropy", "nll_loss", "kl_div", "kl_divergence", "sparsemax_loss"]
