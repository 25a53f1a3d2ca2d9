"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction
from ._detection import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
    iou_loss,
)
from ._dice import dice_loss, soft_dice_loss
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
from ._embedding import (
    angular_loss,
    batch_contrastive_loss,
    center_loss,
    center_update,
    contrastive_loss,
    triplet_margin_loss,
)
from ._gan import (
    gan_discriminator_loss,
    gan_generator_loss,
    gradient_penalty,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from ._multiclass import cross_entropy, kl_div, kl_divergence, nll_loss, sparsemax_loss
from ._perceptual import perceptual_loss

__all__ = [
    "LossFunction",
    # regression
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
    # binary
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss", "squared_hinge_loss",
    "sigmoid_focal_loss", "dice_loss", "soft_dice_loss",
    # multi-class
    "cross_entropy", "nll_loss", "kl_div", "kl_divergence", "sparsemax_loss",
    # autoencoder (mse_loss and binary_cross_entropy above)
    "perceptual_loss",
    # GAN
    "gan_discriminator_loss", "gan_generator_loss", "wasserstein_critic_loss",
    "wasserstein_generator_loss", "gradient_penalty", "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    # detection (sigmoid_focal_loss and smooth_l1_loss above)
    "iou_loss", "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss",
    # embedding
    "triplet_margin_loss", "contrastive_loss", "batch_contrastive_loss", "center_loss", "center_update",
    "angular_loss",
]
