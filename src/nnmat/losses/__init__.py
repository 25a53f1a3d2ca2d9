"""Loss functions with their gradients, computed in nnmat's C++ kernels.

Every loss is callable -- ``loss(input, target, ..., reduction=...)`` returns a
float ('mean'/'sum') or an array ('none') -- and has ``loss.grad(...)`` and
``loss.value_and_grad(...)`` (one fused pass). Semantics, parameters and
defaults follow the reference implementations named in each docstring
(PyTorch first); arguments come prediction first, target second.
"""
from ._base import LossFunction
from ._dice import dice_loss, soft_dice_loss
from ._gan import (gan_discriminator_loss, gan_generator_loss, gradient_penalty,
                   lsgan_discriminator_loss, lsgan_generator_loss, wasserstein_critic_loss,
                   wasserstein_generator_loss)

__all__ = ["LossFunction",
           "dice_loss", "soft_dice_loss",
           "gan_discriminator_loss", "gan_generator_loss", "wasserstein_critic_loss",
           "wasserstein_generator_loss", "gradient_penalty", "lsgan_discriminator_loss",
           "lsgan_generator_loss"]
