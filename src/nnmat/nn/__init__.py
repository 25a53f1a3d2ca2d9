"""nnmat.nn: layers, models, optimizers and a training loop on nnmat's kernels.

* Layers: :class:`Dense` (linear + fused activation), one layer per activation
  (:class:`ReLU`, :class:`Sigmoid`, ...), :class:`Softmax`, :class:`LogSoftmax`,
  :class:`Dropout`, :class:`Flatten`.
* :class:`Sequential`: ``forward`` / ``backward``, ``predict``, ``evaluate``,
  ``fit``, ``train_on_batch``, ``summary``, ``save`` (and :func:`load`).
* Loss classes for ``fit`` (:class:`CrossEntropyLoss`, :class:`MSELoss`, ...).
* Optimizers in :mod:`nnmat.nn.optim`: SGD, Adam, AdamW (torch's rules).
"""
from . import optim
from ._callbacks import Callback, EarlyStopping, History
from ._conv import PointwiseConv2d
from ._layers import (
    ELU,
    GELU,
    SELU,
    Dense,
    Dropout,
    Flatten,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    Layer,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from ._losses import (
    AngularLoss,
    BatchContrastiveLoss,
    BCELoss,
    BCEWithLogitsLoss,
    CenterLoss,
    CIoULoss,
    ContrastiveLoss,
    CrossEntropyLoss,
    DiceLoss,
    GANDiscriminatorLoss,
    GANGeneratorLoss,
    GradientPenalty,
    LSGANDiscriminatorLoss,
    LSGANGeneratorLoss,
    WassersteinCriticLoss,
    WassersteinGeneratorLoss,
    DIoULoss,
    GIoULoss,
    HingeLoss,
    HuberLoss,
    IoULoss,
    KLDivergence,
    KLDivLoss,
    L1Loss,
    LogCoshLoss,
    Loss,
    MSELoss,
    NLLLoss,
    SigmoidFocalLoss,
    SmoothL1Loss,
    SoftDiceLoss,
    SparsemaxLoss,
    SquaredHingeLoss,
    TripletMarginLoss,
    get_loss,
)
from ._model import Sequential
from ._io import load
from ._gradcheck import check_gradients
from ._perceptual import PerceptualLoss

__all__ = [
    "optim", "Layer", "Dense", "Dropout", "Flatten", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
    "ELU", "SELU", "GELU", "SiLU", "Softplus", "Mish", "Hardtanh", "Hardsigmoid", "Hardswish", "Softmax",
    "LogSoftmax", "Sequential", "Callback", "EarlyStopping", "History", "Loss", "get_loss",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "LogCoshLoss", "BCELoss", "BCEWithLogitsLoss",
    "SigmoidFocalLoss", "HingeLoss", "SquaredHingeLoss", "CrossEntropyLoss", "NLLLoss", "KLDivLoss",
    "KLDivergence", "SparsemaxLoss", "DiceLoss", "SoftDiceLoss", "BatchContrastiveLoss", "CenterLoss",
    "AngularLoss", "TripletMarginLoss", "GANDiscriminatorLoss", "GANGeneratorLoss", "GradientPenalty",
    "LSGANDiscriminatorLoss", "LSGANGeneratorLoss", "WassersteinCriticLoss", "WassersteinGeneratorLoss", "ContrastiveLoss", "IoULoss", "GIoULoss", "DIoULoss", "CIoULoss",
    "load", "check_gradients", "PointwiseConv2d", "PerceptualLoss",
]
