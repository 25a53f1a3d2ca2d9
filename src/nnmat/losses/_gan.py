"""GAN losses (spec/losses.md section 5): adversarial losses on logits, Wasserstein
critic/generator losses, the WGAN-GP gradient penalty and least-squares GAN losses.

Every loss here except the gradient penalty is built from *streams*: one
element-wise term over one batch of critic outputs (real or fake), computed with
its derivative in one pass by the vectorised element-wise loss kernel
(cpp/elementwise/, BCE-with-logits or squared error against a constant target),
reduced in double over fixed blocks (independent of the thread count). The
gradient penalty is cpp/losses/gan.cpp.

Reductions of the two-input discriminator/critic losses (``real``, ``fake``):

* ``'mean'`` (default, the reference): the **sum of the two means**, each over its
  own batch (``mean term(real) + mean term(fake)``); the batches may differ in size.
* ``'sum'``: the sum of the two sums.
* ``'none'``: a tuple ``(real_terms, fake_terms)`` of per-element arrays shaped
  like ``real`` and ``fake``; their means added give the ``'mean'`` value. For
  ``.grad`` with ``'none'``, ``grad_output`` is a pair of arrays of those shapes
  (or one scalar).

The gradient is always a tuple ``(d_real, d_fake)`` for those losses.
An empty batch makes its ``'mean'`` term NaN (0/0, as torch); its ``'sum'`` term is 0.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from .. import _core
from ._base import (LossFunction, as_contiguous, asarray, check_reduction, float_dtype,
                    real_scalar, reduced_value, upstream)
from ._elementwise import BCE_LOGITS as _BCE_LOGITS
from ._elementwise import MSE as _MSE

_LOGIT, _LINEAR, _HALF_SQUARE = 0, 1, 2
_EW = {np.dtype(np.float32): _core.ew_loss_f32, np.dtype(np.float64): _core.ew_loss_f64}
_SUM = {np.dtype(np.float32): _core.sum_f32, np.dtype(np.float64): _core.sum_f64}


def _suffix(dt: np.dtype) -> str:
    return "f32" if dt == np.float32 else "f64"


def _stream(x: np.ndarray, kind: int, scale: float, p: float, reduction: str, want_value: bool,
            want_grad: bool, gscalar: float, garr) -> Tuple[Any, Any]:
    """One term phi over one batch x: (reduced value | per-element terms, gradient).

    Every term runs on the vectorised element-wise loss kernel (cpp/elementwise/) with a
    constant target, then scaled:
      _LOGIT:       phi = scale (softplus(x) - p x) = scale * BCEwithlogits(x, p)
      _HALF_SQUARE: phi = scale (x - p)^2 / 2       = scale / 2 * squared error
      _LINEAR:      phi = scale x                   (a fixed-order sum; constant gradient)
    """
    n = x.size
    gfactor = (gscalar / n if n else 0.0) if reduction == "mean" else gscalar
    gup = garr if reduction == "none" else None
    if kind == _LINEAR:
        value = None
        if want_value:
            if reduction == "none":
                value = x * x.dtype.type(scale)
            else:
                total = scale * _SUM[x.dtype](x)
                value = reduced_value(reduction, None, total, n)
        grad = None
        if want_grad:
            grad = np.full(x.shape, gfactor * scale, x.dtype)
            if gup is not None:
                grad *= gup
        return value, grad
    ew_kind, vscale = (_BCE_LOGITS, scale) if kind == _LOGIT else (_MSE, 0.5 * scale)
    terms = np.empty(x.shape, x.dtype) if (want_value and reduction == "none") else None
    grad = np.empty(x.shape, x.dtype) if want_grad else None
    total, _ = _EW[x.dtype](ew_kind, x, float(p), None, None, gup, terms, grad, gfactor * vscale, 0.0, 0.0,
                            want_value)
    if terms is not None and vscale != 1.0:
        terms *= x.dtype.type(vscale)
    value = reduced_value(reduction, terms, vscale * total, n) if want_value else None
    return value, grad


def _prepare(fn: str, **arrays):
    """asarray each argument, promote them together, make them contiguous."""
    arrs = {name: asarray(fn, name, a) for name, a in arrays.items()}
    dt = float_dtype(fn, *arrs.values())
    # (ascontiguousarray turns a 0-d array into 1-d: keep the shape)
    return dt, [as_contiguous(a, dt).reshape(a.shape) for a in arrs.values()]


def _upstream_pair(fn: str, grad_output: Any, reduction: str, real: np.ndarray, fake: np.ndarray, dt):
    """Upstream gradient of a two-batch loss: ((scalar, array|None) for real, same for fake)."""
    if grad_output is None:
        return (1.0, None), (1.0, None)
    if reduction == "none" and isinstance(grad_output, (tuple, list)):
        if len(grad_output) != 2:
            raise ValueError(f"{fn}: grad_output for reduction='none' must be a pair "
                             f"(grad_real, grad_fake), got {len(grad_output)} items")
        return (upstream(fn, grad_output[0], reduction, real.shape, dt),
                upstream(fn, grad_output[1], reduction, fake.shape, dt))
    g = np.asarray(grad_output)
    if reduction == "none" and g.ndim != 0:
        raise ValueError(f"{fn}: grad_output for reduction='none' must be a pair "
                         f"(grad_real, grad_fake) of arrays shaped like real and fake, or a scalar")
    u = upstream(fn, grad_output, "sum", (), dt)
    return u, u


def _two_streams(fn, want_value, want_grad, grad_output, real, fake, reduction, real_term, fake_term):
    reduction = check_reduction(fn, reduction)
    dt, (r, f) = _prepare(fn, real=real, fake=fake)
    (gr_s, gr_a), (gf_s, gf_a) = _upstream_pair(fn, grad_output, reduction, r, f, dt)
    vr, dr = _stream(r, *real_term, reduction, want_value, want_grad, gr_s, gr_a)
    vf, df = _stream(f, *fake_term, reduction, want_value, want_grad, gf_s, gf_a)
    value = None
    if want_value:
        value = (vr, vf) if reduction == "none" else vr + vf
    return value, ((dr, df) if want_grad else None)


def _one_stream(fn, want_value, want_grad, grad_output, fake, reduction, term):
    reduction = check_reduction(fn, reduction)
    dt, (f,) = _prepare(fn, fake=fake)
    gs, ga = upstream(fn, grad_output, reduction, f.shape, dt)
    return _stream(f, *term, reduction, want_value, want_grad, gs, ga)


# ----------------------------------------------------------------------------
# 5.1 adversarial loss on logits

def _gan_discriminator_impl(want_value, want_grad, grad_output, real, fake, label_smoothing=0.0,
                            reduction="mean"):
    """Discriminator loss of the original GAN on logits (spec 5.1).

    ``L_D = mean softplus(-r') + mean softplus(f)``
    ``= BCEWithLogits(real, 1 - ls/2) + BCEWithLogits(fake, 0)``: a sum of two means,
    each over its own batch (TF-GAN ``modified_discriminator_loss``). One-sided label
    smoothing ``ls`` (``label_smoothing``, in [0, 1]) moves the real label to
    ``1 - ls/2`` (TF-GAN's ``y(1-ls) + ls/2``); nnmat's default is 0 (the paper),
    TF-GAN's is 0.25.

    Args: ``real``, ``fake``: discriminator logits on real / generated samples (any
    shapes, sizes may differ). ``reduction``: 'mean' | 'sum' | 'none' (see the module
    docstring: 'none' gives the pair ``(real_terms, fake_terms)``).
    Gradient: ``(d_real, d_fake)``, ``d_real = (sigma(r) - (1 - ls/2))/n_r``,
    ``d_fake = sigma(f)/n_f`` for 'mean'.
    """
    fn = "gan_discriminator_loss"
    ls = real_scalar(fn, "label_smoothing", label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {ls}")
    return _two_streams(fn, want_value, want_grad, grad_output, real, fake, reduction,
                        (_LOGIT, 1.0, 1.0 - 0.5 * ls), (_LOGIT, 1.0, 0.0))


_GEN_MODES = ("non_saturating", "minimax")


def _gan_generator_impl(want_value, want_grad, grad_output, fake, mode="non_saturating", reduction="mean"):
    """Generator loss of the original GAN on the discriminator's logits for fakes (spec 5.1).

    * ``mode='non_saturating'`` (default): ``L_G = -mean log sigma(f) = mean softplus(-f)``
      (TF-GAN ``modified_generator_loss``); gradient ``(sigma(f) - 1)/n``.
    * ``mode='minimax'``: ``L_G = mean log(1 - sigma(f)) = -mean softplus(f)``, minimised
      by G; gradient ``-sigma(f)/n``. TF-GAN's ``minimax_generator_loss`` returns this
      minus the constant ``softplus(-1) = 0.313262`` (same gradient); nnmat returns the
      clean value.

    ``reduction``: 'mean' | 'sum' | 'none' (per-element terms, shaped like ``fake``).
    Empty ``fake``: NaN for 'mean', 0 for 'sum'.
    """
    fn = "gan_generator_loss"
    if not isinstance(mode, str) or mode not in _GEN_MODES:
        raise ValueError(f"{fn}: mode must be one of 'non_saturating', 'minimax', got {mode!r}")
    term = (_LOGIT, 1.0, 1.0) if mode == "non_saturating" else (_LOGIT, -1.0, 0.0)
    return _one_stream(fn, want_value, want_grad, grad_output, fake, reduction, term)


# ----------------------------------------------------------------------------
# 5.3 Wasserstein

def _wasserstein_critic_impl(want_value, want_grad, grad_output, real, fake, reduction="mean"):
    """Wasserstein critic loss ``L_C = mean f - mean r`` (spec 5.3; TF-GAN / igul222 sign).

    ``reduction``: 'mean' (sum of the two means), 'sum' (``sum f - sum r``), or 'none':
    the pair ``(-real, fake)`` of per-element terms. Gradient ``(d_real, d_fake)`` =
    ``(-1/n_r, +1/n_f)`` for 'mean'. The WGAN-GP penalty is :func:`gradient_penalty`.
    """
    return _two_streams("wasserstein_critic_loss", want_value, want_grad, grad_output, real, fake,
                        reduction, (_LINEAR, -1.0, 0.0), (_LINEAR, 1.0, 0.0))


def _wasserstein_generator_impl(want_value, want_grad, grad_output, fake, reduction="mean"):
    """Wasserstein generator loss ``L_G = -mean f`` (spec 5.3; TF-GAN ``wasserstein_generator_loss``, Arjovsky et al. 2017); gradient ``-1/n``.

    ``reduction``: 'mean' | 'sum' | 'none' (the per-element terms ``-fake``).
    """
    return _one_stream("wasserstein_generator_loss", want_value, want_grad, grad_output, fake,
                       reduction, (_LINEAR, -1.0, 0.0))


def _gradient_penalty_impl(want_value, want_grad, grad_output, grads, target=1.0, eps=1e-10,
                           one_sided=False, reduction="mean"):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017; spec 5.3).

    ``grads``: (B, ...) per-sample gradients ``g_i = dD/dx_hat`` of the critic at the
    interpolates (computed by the caller's network). With
    ``n_i = sqrt(sum g_i^2 + eps)`` (norm over every non-batch dimension; TF-GAN's eps
    inside the sqrt) and ``u_i = n_i/target - 1``:

    ``GP = mean_i u_i^2``, or ``mean_i max(u_i, 0)^2`` with ``one_sided=True``.

    ``reduction``: 'mean' (default, the penalty above), 'sum', or 'none' (the
    per-sample penalties, shape (B,)). ``.grad`` returns ``dGP/dgrads``
    ``= 2 u_i g_i / (target n_i B)`` (for 'mean'), to be back-propagated through the
    critic by the caller (double backward). Multiply by lambda (10 in the paper)
    yourself. ``target`` and ``eps`` must be > 0. An empty batch gives NaN for 'mean'.
    """
    fn = "gradient_penalty"
    reduction = check_reduction(fn, reduction)
    t = real_scalar(fn, "target", target)
    e = real_scalar(fn, "eps", eps)
    if not t > 0.0 or not np.isfinite(t):
        raise ValueError(f"{fn}: target must be a positive finite number, got {t}")
    if not e > 0.0 or not np.isfinite(e):
        raise ValueError(f"{fn}: eps must be a positive finite number, got {e}")
    if not isinstance(one_sided, (bool, np.bool_)):
        raise TypeError(f"{fn}: one_sided must be a bool, got {type(one_sided).__name__}")
    dt, (g,) = _prepare(fn, grads=grads)
    if g.ndim < 1:
        raise ValueError(f"{fn}: grads must have a batch dimension (shape (B, ...)), got a scalar")
    B = g.shape[0]
    gs, ga = upstream(fn, grad_output, reduction, (B,), dt)
    gfactor = gs / B if (reduction == "mean" and B) else gs
    k = getattr(_core, "gradient_penalty_" + _suffix(dt))
    s, per, grad = k(g, t, e, bool(one_sided), want_value, want_value and reduction == "none", want_grad,
                     ga if reduction == "none" else None, gfactor)
    value = reduced_value(reduction, per, s, B) if want_value else None
    return value, grad


# ----------------------------------------------------------------------------
# 5.4 least squares (a-b-c coding)

def _lsgan_discriminator_impl(want_value, want_grad, grad_output, real, fake, a=0.0, b=1.0,
                              reduction="mean"):
    """LSGAN discriminator loss ``L_D = 1/2 mean (r - b)^2 + 1/2 mean (f - a)^2`` (spec 5.4).

    ``a``: label of fake data, ``b``: label of real data (defaults 0 and 1, TF-GAN;
    the paper's alternative coding is a = -1, b = 1). ``reduction`` as for the other
    two-batch losses ('none' -> ``(real_terms, fake_terms)``). Gradient
    ``((r - b)/n_r, (f - a)/n_f)`` for 'mean'.
    """
    fn = "lsgan_discriminator_loss"
    av, bv = real_scalar(fn, "a", a), real_scalar(fn, "b", b)
    return _two_streams(fn, want_value, want_grad, grad_output, real, fake, reduction,
                        (_HALF_SQUARE, 1.0, bv), (_HALF_SQUARE, 1.0, av))


def _lsgan_generator_impl(want_value, want_grad, grad_output, fake, c=1.0, reduction="mean"):
    """LSGAN generator loss ``L_G = 1/2 mean (f - c)^2`` (spec 5.4; TF-GAN, with the 1/2).

    ``c``: the value G wants D to output on fakes (default 1). pix2pix's plain-MSE
    generator loss is 2 x this. Gradient ``(f - c)/n`` for 'mean'.
    """
    fn = "lsgan_generator_loss"
    cv = real_scalar(fn, "c", c)
    return _one_stream(fn, want_value, want_grad, grad_output, fake, reduction, (_HALF_SQUARE, 1.0, cv))


gan_discriminator_loss = LossFunction(_gan_discriminator_impl, "gan_discriminator_loss")
gan_generator_loss = LossFunction(_gan_generator_impl, "gan_generator_loss")
wasserstein_critic_loss = LossFunction(_wasserstein_critic_impl, "wasserstein_critic_loss")
wasserstein_generator_loss = LossFunction(_wasserstein_generator_impl, "wasserstein_generator_loss")
gradient_penalty = LossFunction(_gradient_penalty_impl, "gradient_penalty")
lsgan_discriminator_loss = LossFunction(_lsgan_discriminator_impl, "lsgan_discriminator_loss")
lsgan_generator_loss = LossFunction(_lsgan_generator_impl, "lsgan_generator_loss")

__all__ = ["gan_discriminator_loss", "gan_generator_loss", "wasserstein_critic_loss",
           "wasserstein_generator_loss", "gradient_penalty", "lsgan_discriminator_loss",
           "lsgan_generator_loss"]
