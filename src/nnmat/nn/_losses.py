"""Loss classes for ``Sequential.fit``: each wraps one :mod:`nnmat.losses`
function with fixed parameters (torch.nn's module names where torch has the
loss), reduces with 'mean' (or 'sum'), and supports per-sample weights.

The losses a network is most often trained with (MSE, L1, Huber, smooth L1,
log-cosh, BCE, BCE with logits, focal, hinge, squared hinge, cross-entropy with
class-index targets, NLL) run inside the C++ training step; the others are
computed by their nnmat.losses function between the engine's forward and
backward passes.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .. import losses as L
from ..losses._elementwise import (BCE, BCE_LOGITS, FOCAL, HINGE, HUBER, L1, LOG_COSH, MSE, SMOOTH_L1,
                                   SQUARED_HINGE)

# Loss kinds of the engine (enum class NetLoss in cpp/nn/network.h).
NET_CE, NET_NLL, NET_EW = 0, 1, 2


class Loss:
    """A loss for training: ``loss(input, target)`` is the reduced value,
    ``loss.value_and_grad(input, target, sample_weight=None)`` the value and
    the gradient with respect to ``input`` (losses of several predicted inputs,
    e.g. triplet or GAN losses, take all of them and return one gradient each).

    ``Loss(fn, reduction='mean', **params)`` wraps any :mod:`nnmat.losses`
    function ``fn``; the named subclasses (``MSELoss``, ``CrossEntropyLoss``...)
    fix ``fn``. With ``sample_weight`` (one non-negative weight per sample),
    'mean' is the weighted mean of the per-sample losses, each averaged over
    its elements: ``sum_i w_i l_i / sum_i w_i`` (for cross-entropy with class
    weights the divisor is ``sum_i w_i weight[y_i]``, torch's rule with sample
    weights added).
    """

    _fn: Any = None
    _reductions = ("mean", "sum")
    #: False for losses of two predicted inputs (a GAN discriminator's real and fake
    #: outputs), which fit cannot train as (prediction, target)
    _prediction_target = True

    def __init__(self, fn: Any = None, reduction: str = "mean", **params: Any) -> None:
        if fn is not None:
            if type(self)._fn is not None:
                raise TypeError(f"{type(self).__name__}() takes no loss function")
            self._fn = fn
        if self._fn is None:
            raise TypeError("Loss: give the nnmat.losses function to wrap, e.g. Loss(nnmat.losses.mse_loss)")
        if not isinstance(self._fn, L.LossFunction):
            raise TypeError(f"Loss: expected an nnmat.losses function, got {self._fn!r}")
        if reduction not in self._reductions:
            raise ValueError(f"{self.name}: reduction must be one of "
                             f"{', '.join(repr(r) for r in self._reductions)}, got {reduction!r}")
        sig = self._fn.__signature__.parameters
        positional = [p for p in sig.values() if p.default is inspect.Parameter.empty]
        self.n_inputs = len(positional)
        allowed = [k for k, p in sig.items() if p.default is not inspect.Parameter.empty and k != "reduction"]
        for k in params:
            if k not in allowed:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {k!r} "
                                f"(parameters: {', '.join(allowed) or 'none'})")
        self.reduction = reduction
        self.params: Dict[str, Any] = params

    @property
    def name(self) -> str:
        return type(self).__name__ if type(self) is not Loss else f"Loss({self._fn.__name__})"

    def __call__(self, *inputs: Any) -> Any:
        return self._fn(*inputs, reduction=self.reduction, **self.params)

    def value_and_grad(self, *inputs: Any, sample_weight: Any = None) -> Tuple[Any, Any]:
        """(value, gradient with respect to the prediction(s)) for a batch: ``inputs`` are the
        function's positional arguments (prediction, target for most losses)."""
        if sample_weight is None:
            return self._fn.value_and_grad(*inputs, reduction=self.reduction, **self.params)
        per = np.asarray(self._fn(*inputs, reduction="none", **self.params))
        sw = np.asarray(sample_weight, dtype=np.float64)
        if per.ndim == 0 or sw.ndim != 1 or per.shape[0] != sw.shape[0]:
            raise ValueError(f"{self.name}: sample_weight needs one weight per sample of a per-sample loss; "
                             f"{self._fn.__name__}(reduction='none') has shape {per.shape}, "
                             f"sample_weight {sw.shape}")
        wb = np.broadcast_to(sw.reshape((-1,) + (1,) * (per.ndim - 1)), per.shape)
        D = float(wb.sum()) if self.reduction == "mean" else 1.0
        value = float((per * wb).sum() / D)
        g = self._fn.grad(*inputs, reduction="none", grad_output=(wb / D).astype(per.dtype), **self.params)
        return value, g

    def _native(self) -> Optional[tuple]:
        """(kind, element-wise id, p0, p1, class weight, ignore_index, label_smoothing) for the
        C++ training step, or None when this loss runs through its Python function."""
        return None

    def get_config(self) -> Dict[str, Any]:
        cfg: Dict[str, Any] = {"reduction": self.reduction}
        for k, v in self.params.items():
            cfg[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.name}({args})"


def _ew(kind: int, p0: str = "", p1: str = ""):
    def native(self) -> Optional[tuple]:
        if self.reduction != "mean" or self.params.get("weight") is not None \
                or self.params.get("pos_weight") is not None:
            return None
        sig = self._fn.__signature__.parameters
        v0 = float(self.params.get(p0, sig[p0].default)) if p0 else 0.0
        v1 = float(self.params.get(p1, sig[p1].default)) if p1 else 0.0
        return (NET_EW, kind, v0, v1, None, -100, 0.0)
    return native


def _class_loss(kind: int):
    def native(self) -> Optional[tuple]:
        if self.reduction != "mean":
            return None
        w = self.params.get("weight")
        ignore = int(self.params.get("ignore_index", -100))
        eps = float(self.params.get("label_smoothing", 0.0))
        return (kind, 0, 0.0, 0.0, w, ignore, eps)
    return native


def _make(cls_name: str, fn: Any, native=None, doc: str = ""):
    ns: Dict[str, Any] = {"_fn": fn, "__module__": "nnmat.nn",
                          "__doc__": doc or f"Loss class of :func:`nnmat.losses.{fn.__name__}` for fit()."}
    if native is not None:
        ns["_native"] = native
    return type(cls_name, (Loss,), ns)


MSELoss = _make("MSELoss", L.mse_loss, _ew(MSE), "Mean squared error (torch.nn.MSELoss).")
L1Loss = _make("L1Loss", L.l1_loss, _ew(L1), "Mean absolute error (torch.nn.L1Loss).")
HuberLoss = _make("HuberLoss", L.huber_loss, _ew(HUBER, "delta"), "Huber loss (torch.nn.HuberLoss).")
SmoothL1Loss = _make("SmoothL1Loss", L.smooth_l1_loss, _ew(SMOOTH_L1, "beta"),
                     "Smooth L1 loss (torch.nn.SmoothL1Loss).")
LogCoshLoss = _make("LogCoshLoss", L.log_cosh_loss, _ew(LOG_COSH), "Log-cosh loss (Keras log_cosh).")
BCELoss = _make("BCELoss", L.binary_cross_entropy, _ew(BCE), "Binary cross-entropy on probabilities "
                "(torch.nn.BCELoss).")
BCEWithLogitsLoss = _make("BCEWithLogitsLoss", L.binary_cross_entropy_with_logits, _ew(BCE_LOGITS),
                          "Binary cross-entropy on logits (torch.nn.BCEWithLogitsLoss).")
SigmoidFocalLoss = _make("SigmoidFocalLoss", L.sigmoid_focal_loss, _ew(FOCAL, "alpha", "gamma"),
                         "Sigmoid focal loss on logits (torchvision sigmoid_focal_loss), averaged.")
HingeLoss = _make("HingeLoss", L.hinge_loss, _ew(HINGE), "Hinge loss (Keras hinge; labels -1/1 or 0/1).")
SquaredHingeLoss = _make("SquaredHingeLoss", L.squared_hinge_loss, _ew(SQUARED_HINGE),
                         "Squared hinge loss (Keras squared_hinge).")
CrossEntropyLoss = _make("CrossEntropyLoss", L.cross_entropy, _class_loss(NET_CE),
                         "Cross-entropy on logits, class-index or probability targets (torch.nn.CrossEntropyLoss).")
NLLLoss = _make("NLLLoss", L.nll_loss, _class_loss(NET_NLL),
                "Negative log-likelihood on log-probabilities (torch.nn.NLLLoss).")
KLDivLoss = _make("KLDivLoss", L.kl_div, doc="KL divergence on log-probabilities (torch.nn.KLDivLoss).")
KLDivLoss._reductions = ("mean", "sum", "batchmean")
KLDivergence = _make("KLDivergence", L.kl_divergence, doc="KL divergence on probabilities (Keras).")
SparsemaxLoss = _make("SparsemaxLoss", L.sparsemax_loss, doc="Sparsemax loss (Martins & Astudillo 2016).")
DiceLoss = _make("DiceLoss", L.dice_loss, doc="Dice loss (Keras form).")
SoftDiceLoss = _make("SoftDiceLoss", L.soft_dice_loss, doc="Soft Dice loss (segmentation-models form).")
BatchContrastiveLoss = _make("BatchContrastiveLoss", L.batch_contrastive_loss,
                             doc="Contrastive loss over a batch of embeddings and labels (metric-learning form).")
CenterLoss = _make("CenterLoss", L.center_loss, doc="Center loss (Wen et al. 2016); centers fixed by the caller.")
AngularLoss = _make("AngularLoss", L.angular_loss, doc="Angular loss (Wang et al. 2017).")
TripletMarginLoss = _make("TripletMarginLoss", L.triplet_margin_loss,
                          doc="Triplet margin loss (torch.nn.TripletMarginLoss); three predicted inputs.")
ContrastiveLoss = _make("ContrastiveLoss", L.contrastive_loss, doc="Pairwise contrastive loss (Hadsell et al.).")
IoULoss = _make("IoULoss", L.iou_loss, doc="IoU loss on boxes.")
GIoULoss = _make("GIoULoss", L.generalized_box_iou_loss, doc="Generalized IoU loss (torchvision).")
DIoULoss = _make("DIoULoss", L.distance_box_iou_loss, doc="Distance IoU loss (torchvision).")
CIoULoss = _make("CIoULoss", L.complete_box_iou_loss, doc="Complete IoU loss (torchvision).")
GANDiscriminatorLoss = _make("GANDiscriminatorLoss", L.gan_discriminator_loss,
                            doc="Adversarial discriminator loss on logits (real, fake).")
GANGeneratorLoss = _make("GANGeneratorLoss", L.gan_generator_loss, doc="Adversarial generator loss on logits.")
WassersteinCriticLoss = _make("WassersteinCriticLoss", L.wasserstein_critic_loss,
                              doc="Wasserstein critic loss (real, fake).")
WassersteinGeneratorLoss = _make("WassersteinGeneratorLoss", L.wasserstein_generator_loss,
                                 doc="Wasserstein generator loss.")
LSGANDiscriminatorLoss = _make("LSGANDiscriminatorLoss", L.lsgan_discriminator_loss,
                               doc="Least-squares GAN discriminator loss (real, fake).")
LSGANGeneratorLoss = _make("LSGANGeneratorLoss", L.lsgan_generator_loss, doc="Least-squares GAN generator loss.")
GradientPenalty = _make("GradientPenalty", L.gradient_penalty, doc="WGAN-GP gradient penalty.")
for _c in (GANDiscriminatorLoss, WassersteinCriticLoss, LSGANDiscriminatorLoss):
    _c._prediction_target = False

LOSS_CLASSES = {c.__name__: c for c in (
    GANDiscriminatorLoss, GANGeneratorLoss, WassersteinCriticLoss, WassersteinGeneratorLoss,
    LSGANDiscriminatorLoss, LSGANGeneratorLoss, GradientPenalty,
    MSELoss, L1Loss, HuberLoss, SmoothL1Loss, LogCoshLoss, BCELoss, BCEWithLogitsLoss, SigmoidFocalLoss,
    HingeLoss, SquaredHingeLoss, CrossEntropyLoss, NLLLoss, KLDivLoss, KLDivergence, SparsemaxLoss, DiceLoss,
    SoftDiceLoss, BatchContrastiveLoss, CenterLoss, AngularLoss, TripletMarginLoss, ContrastiveLoss, IoULoss,
    GIoULoss, DIoULoss, CIoULoss)}

_BY_FUNCTION = {c._fn.__name__: c for c in LOSS_CLASSES.values()}
_ALIASES = {"mse": MSELoss, "mae": L1Loss, "l1": L1Loss, "huber": HuberLoss, "smooth_l1": SmoothL1Loss,
            "log_cosh": LogCoshLoss, "bce": BCELoss, "bce_with_logits": BCEWithLogitsLoss,
            "hinge": HingeLoss, "squared_hinge": SquaredHingeLoss, "nll": NLLLoss,
            "focal": SigmoidFocalLoss}


def get_loss(loss: Any) -> Loss:
    """A Loss from a Loss instance, an nnmat.losses function, or a name
    ('cross_entropy', 'mse_loss', 'mse', 'bce', ...)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, L.LossFunction):
        cls = _BY_FUNCTION.get(loss.__name__)
        return cls() if cls is not None else Loss(loss)
    if isinstance(loss, str):
        cls = _ALIASES.get(loss) or _BY_FUNCTION.get(loss) or LOSS_CLASSES.get(loss)
        if cls is not None:
            return cls()
        names = sorted(set(_ALIASES) | set(_BY_FUNCTION))
        raise ValueError(f"unknown loss {loss!r}; known names: {', '.join(names)}")
    if loss is None:
        raise ValueError("a loss is required: pass loss='cross_entropy', 'mse', a Loss instance, ...")
    raise TypeError(f"loss must be a Loss, an nnmat.losses function or a name, got {type(loss).__name__}")
