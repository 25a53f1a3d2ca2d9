"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction
from ._detection import (complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss,
                         iou_loss)
from ._embedding import (angular_loss, batch_contrastive_loss, center_loss, center_update,
                         contrastive_loss, triplet_margin_loss)

__all__ = [
    "LossFunction",
    "iou_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "triplet_margin_loss",
    "contrastive_loss",
    "batch_contrastive_loss",
    "center_loss",
    "center_update",
    "angular_loss",
]
