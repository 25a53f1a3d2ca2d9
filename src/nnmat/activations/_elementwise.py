"""Element-wise activations: forward and backward in the C++ kernels
(cpp/elementwise/), with torch.nn.functional's names, parameters and defaults."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .. import _core
from ..losses._base import as_contiguous, asarray, float_dtype, real_scalar
from ._base import Activation

# Kernel ids: the order of enum class Act in cpp/elementwise/eltwise.h.
ACT_IDS: Dict[str, int] = {
    "identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "elu": 5, "selu": 6,
    "gelu": 7, "gelu_tanh": 8, "silu": 9, "softplus": 10, "mish": 11, "hardtanh": 12,
    "hardsigmoid": 13, "hardswish": 14,
}

_FWD = {np.dtype(np.float32): _core.act_forward_f32, np.dtype(np.float64): _core.act_forward_f64}
_BWD = {np.dtype(np.float32): _core.act_backward_f32, np.dtype(np.float64): _core.act_backward_f64}
_BWD_Y = {np.dtype(np.float32): _core.act_backward_y_f32, np.dtype(np.float64): _core.act_backward_y_f64}


def _check_out(fn: str, out: Any, shape: Tuple[int, ...], dt: np.dtype) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{fn}: out has shape {out.shape}, expected {shape}")
    if out.dtype != dt:
        raise TypeError(f"{fn}: out has dtype {out.dtype}, expected {dt} (the result's dtype)")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    return out


def _forward(fn: str, act: int, x: Any, out: Optional[np.ndarray], p0: float = 0.0, p1: float = 0.0):
    x = asarray(fn, "x", x)
    dt = float_dtype(fn, x)
    xc = as_contiguous(x, dt)
    if out is None:
        y = np.empty(x.shape, dt)
        _FWD[dt](act, xc, y, p0, p1)
        return y
    out = _check_out(fn, out, x.shape, dt)
    # Write straight into out when it is contiguous and either is the input
    # itself (in place) or does not overlap it; otherwise go through a temporary.
    if out.flags.c_contiguous and (out is xc or not np.may_share_memory(out, xc)):
        _FWD[dt](act, xc, out, p0, p1)
    else:
        y = np.empty(x.shape, dt)
        _FWD[dt](act, xc, y, p0, p1)
        out[...] = y
    return out


def _backward(fn: str, act: int, x: Any, grad_output: Any, p0: float = 0.0, p1: float = 0.0, output: Any = None):
    x = asarray(fn, "x", x)
    g = asarray(fn, "grad_output", grad_output)
    if g.shape != x.shape:
        raise ValueError(f"{fn}.backward: grad_output has shape {g.shape}, expected x's shape {x.shape}")
    if output is not None:
        # f' from the forward output (what torch's autograd saves): no recomputation.
        y = asarray(fn, "output", output)
        if y.shape != x.shape:
            raise ValueError(f"{fn}.backward: output has shape {y.shape}, expected x's shape {x.shape}")
        dt = float_dtype(fn, x, g, y)
        dx = np.empty(x.shape, dt)
        _BWD_Y[dt](act, as_contiguous(y, dt), as_contiguous(g, dt), dx)
        return dx
    dt = float_dtype(fn, x, g)
    xc = as_contiguous(x, dt)
    gc = as_contiguous(g, dt)
    dx = np.empty(x.shape, dt)
    _BWD[dt](act, xc, gc, dx, p0, p1)
    return dx


def _inplace_out(fn: str, x: Any, inplace: bool, out: Optional[np.ndarray]):
    if not inplace:
        return out
    if out is not None:
        raise ValueError(f"{fn}: pass either inplace=True or out=, not both")
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: inplace=True needs x to be a float32 or float64 numpy array")
    if not x.flags.writeable:
        raise ValueError(f"{fn}: inplace=True needs a writeable x, but x is read-only")
    return x


def _make(name: str, doc: str, params: Tuple[Tuple[str, float], ...] = (), check: Any = None, inplace: bool = True,
          from_output: bool = False) -> Activation:
    """An Activation with keyword parameters `params` ((name, default) pairs,
    torch's), passed to the kernel as p0, p1; `check` validates their values."""
    act = ACT_IDS[name]
    names = [p for p, _ in params]
    defaults = dict(params)

    def values(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[float, float]:
        if len(args) > len(names):
            raise TypeError(f"{name}() takes {len(names)} parameter(s) after x, got {len(args)}")
        vals = dict(defaults)
        vals.update(zip(names, args))
        for k, v in kwargs.items():
            if k not in defaults:
                raise TypeError(f"{name}() got an unexpected keyword argument {k!r}")
            vals[k] = v
        vals = {k: real_scalar(name, k, v) for k, v in vals.items()}
        if check is not None:
            check(name, vals)
        p = [vals[k] for k in names] + [0.0, 0.0]
        return p[0], p[1]

    d0, d1 = values((), {})   # the defaults, as the kernel takes them

    def forward(x, *args, out=None, inplace=False, **kwargs):
        if type(x) is np.ndarray and out is None and inplace is False and not args and not kwargs:
            # The common call f(x) on a contiguous float array: straight to the kernel.
            f = _FWD.get(x.dtype)
            if f is not None and x.flags.c_contiguous and x.flags.aligned:
                y = np.empty(x.shape, x.dtype)
                f(act, x, y, d0, d1)
                return y
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(f"{name}: inplace must be a bool, got {type(inplace).__name__}")
        p0, p1 = values(args, kwargs)
        return _forward(name, act, x, _inplace_out(name, x, bool(inplace), out), p0, p1)

    if from_output:
        def backward(x, grad_output, *, output=None):
            """Gradient with respect to x of sum(grad_output * f(x)).

            output (optional): f(x) from the forward pass; when given, the derivative
            is computed from it (g y (1 - y), g (1 - y^2)) instead of recomputing f."""
            return _backward(name, act, x, grad_output, output=output)
    else:
        def backward(x, grad_output, *args, **kwargs):
            p0, p1 = values(args, kwargs)
            return _backward(name, act, x, grad_output, p0, p1)

    # Public signature: f(x, <params>=<defaults>, [inplace=False,] *, out=None)
    P = inspect.Parameter
    sig = [P("x", P.POSITIONAL_OR_KEYWORD)]
    sig += [P(k, P.POSITIONAL_OR_KEYWORD, default=d) for k, d in params]
    if inplace:
        sig.append(P("inplace", P.KEYWORD_ONLY, default=False))
    sig.append(P("out", P.KEYWORD_ONLY, default=None))
    forward.__doc__ = doc
    forward.__signature__ = inspect.Signature(sig)
    return Activation(forward, backward, name)


def _positive(*keys):
    def check(fn, vals):
        for k in keys:
            if not vals[k] > 0:
                raise ValueError(f"{fn}: {k} must be positive, got {vals[k]}")
    return check


def _hardtanh_check(fn, vals):
    if not vals["min_val"] <= vals["max_val"]:
        raise ValueError(f"{fn}: min_val ({vals['min_val']}) must not exceed max_val ({vals['max_val']})")


sigmoid = _make("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x)) (torch.sigmoid).\n\n"
                "``sigmoid.backward(x, grad_output, output=None)`` uses the forward output when given.",
                inplace=False, from_output=True)
tanh = _make("tanh", "Hyperbolic tangent (torch.tanh).\n\n"
             "``tanh.backward(x, grad_output, output=None)`` uses the forward output when given.",
             inplace=False, from_output=True)
relu = _make("relu", "max(x, 0); relu'(0) = 0 (torch.nn.functional.relu).")
leaky_relu = _make("leaky_relu", "x if x > 0 else negative_slope * x (torch.nn.functional.leaky_relu).",
                   (("negative_slope", 0.01),))
elu = _make("elu", "x if x > 0 else alpha * expm1(x) (torch.nn.functional.elu).", (("alpha", 1.0),))
selu = _make("selu", "scale * elu(x, alpha) with the self-normalising constants (torch.nn.functional.selu).")
silu = _make("silu", "x * sigmoid(x), a.k.a. swish (torch.nn.functional.silu).")
softplus = _make("softplus", "log1p(exp(beta x)) / beta, or x where beta x > threshold "
                 "(torch.nn.functional.softplus).", (("beta", 1.0), ("threshold", 20.0)),
                 check=_positive("beta"), inplace=False)
mish = _make("mish", "x * tanh(softplus(x)) (torch.nn.functional.mish).")
hardtanh = _make("hardtanh", "clamp(x, min_val, max_val); derivative 0 at the bounds "
                 "(torch.nn.functional.hardtanh).", (("min_val", -1.0), ("max_val", 1.0)),
                 check=_hardtanh_check)
hardsigmoid = _make("hardsigmoid", "relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid).")
hardswish = _make("hardswish", "x * relu6(x + 3) / 6 (torch.nn.functional.hardswish).")

_gelu_none = _make("gelu", "", inplace=False)
_gelu_tanh = _make("gelu_tanh", "", inplace=False)


def _gelu_impl(approximate: Any) -> Activation:
    if approximate == "none":
        return _gelu_none
    if approximate == "tanh":
        return _gelu_tanh
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_forward(x, approximate="none", *, out=None):
    """Gaussian error linear unit x * Phi(x) (torch.nn.functional.gelu).

    approximate='none' uses the exact normal CDF (through erfc, accurate for very
    negative x); 'tanh' uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return _gelu_impl(approximate)(x, out=out)


def _gelu_backward(x, grad_output, approximate="none"):
    return _gelu_impl(approximate).backward(x, grad_output)


gelu = Activation(_gelu_forward, _gelu_backward, "gelu")

ELEMENTWISE = {
    "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "elu": elu,
    "selu": selu, "gelu": gelu, "silu": silu, "softplus": softplus, "mish": mish,
    "hardtanh": hardtanh, "hardsigmoid": hardsigmoid, "hardswish": hardswish,
}

__all__ = list(ELEMENTWISE)
