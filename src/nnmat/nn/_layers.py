"""Layers: Dense (a fused linear + activation), one layer per activation,
Dropout and Flatten, all run by nnmat's C++ network engine (cpp/nn/).

A layer used on its own runs as a one-layer network; inside a
:class:`~nnmat.nn.Sequential` the model runs all its layers in one engine call.
"""
from __future__ import annotations

import functools
import math
import numbers
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, cast

import numpy as np

from .. import _core
from ..activations._elementwise import ACT_IDS
from ..losses._base import as_contiguous, asarray, float_dtype
from . import _init

_NETWORK = {np.dtype(np.float32): _core.Network_f32, np.dtype(np.float64): _core.Network_f64}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Layer kinds of the engine (enum class LayerKind in cpp/nn/network.h).
DENSE, ACTIVATION, SOFTMAX, LOG_SOFTMAX, DROPOUT, FLATTEN = range(6)


def _as_dtype(dtype: Any, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dt}")
    return dt


def _seed(seed: Any, who: str) -> Optional[int]:
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{who}: seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Runs the method under the object's lock: a layer or model owns the engine's
    activation buffers, so two threads using the same object take turns (different
    objects run in parallel, with the GIL released)."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return cast(_Method, wrapper)


class Layer:
    """Base class of nnmat.nn layers.

    ``forward(x, training=False)`` returns the layer's output for ``x`` (a new
    array); ``backward(grad_output)`` returns the gradient with respect to the
    last forward's input and stores the parameters' gradients, which
    ``gradients()`` returns in the order of ``parameters()``.
    """

    #: engine layer kind
    _kind = FLATTEN

    def __init__(self) -> None:
        self._net = None          # one-layer engine network for standalone use
        self._net_key = None
        self._in_shape: Optional[Tuple[int, ...]] = None
        self._out_shape: Optional[Tuple[int, ...]] = None
        self._dtype: Optional[np.dtype] = None
        self._lock = threading.RLock()

    # -- description --------------------------------------------------------
    def output_width(self, width: int) -> int:
        """Features per row of the output, for ``width`` features per row of input."""
        return width

    def _spec(self, width: int) -> tuple:
        """The engine's description of this layer for rows of ``width`` features."""
        return (self._kind, width, width, None, None, None, None, 0, 0.0, 0.0, 0.0, 0)

    def parameters(self) -> List[np.ndarray]:
        """The layer's parameter arrays (live: updates change the layer)."""
        return []

    def gradients(self) -> List[np.ndarray]:
        """Gradients of ``parameters()`` from the last backward, same order."""
        return []

    def _named_parameters(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        return []

    def _rebind(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        raise KeyError(name)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by save/load)."""
        return {}

    @property
    def dtype(self) -> Optional[np.dtype]:
        """The parameters' dtype (None for a layer without parameters)."""
        return self._dtype

    # -- standalone use -----------------------------------------------------
    def _rows(self, x: np.ndarray) -> Tuple[int, int]:
        if x.ndim == 0:
            raise ValueError(f"{type(self).__name__}: input must have at least 1 dimension, got a scalar")
        width = x.shape[-1]
        return (math.prod(x.shape[:-1]), width)

    def _network(self, dt: np.dtype, width: int):
        key = (dt, width)
        if self._net is None or self._net_key != key:
            self._net = _NETWORK[dt]([self._spec(width)])
            self._net_key = key
        return self._net

    def _input(self, x: Any) -> np.ndarray:
        x = asarray(f"{type(self).__name__}.forward", "x", x)
        dt = self._dtype if self._dtype is not None else float_dtype(type(self).__name__, x)
        return as_contiguous(x, dt)

    @_locked
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """Output of the layer for ``x`` (features along the last axis)."""
        x = self._input(x)
        rows, width = self._rows(x)
        out_w = self.output_width(width)
        net = self._network(x.dtype, width)
        out = np.empty((rows, out_w), x.dtype)
        net.forward(x.reshape(rows, width), out, bool(training))
        self._in_shape = x.shape
        self._out_shape = self._output_shape(x.shape, out_w)
        return out.reshape(self._out_shape)

    def _output_shape(self, in_shape: Tuple[int, ...], out_w: int) -> Tuple[int, ...]:
        return in_shape[:-1] + (out_w,)

    @_locked
    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient with respect to the last forward's input; stores the parameter gradients."""
        if self._in_shape is None or self._net is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        g = asarray(f"{type(self).__name__}.backward", "grad_output", grad_output)
        if g.shape != self._out_shape:
            raise ValueError(f"{type(self).__name__}.backward: grad_output has shape {g.shape}, "
                             f"expected the output's shape {self._out_shape}")
        dt = self._net_key[0]
        rows = math.prod(self._in_shape[:-1])
        g = as_contiguous(g, dt).reshape(rows, self._out_shape[-1])
        dx = np.empty((rows, self._net_key[1]), dt)
        self._net.backward(g, dx)
        return dx.reshape(self._in_shape)

    __call__ = forward

    def _shape_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._shape_repr()})"


# ---------------------------------------------------------------------------
# Activation layers

def _activation_params(name: str, params: Dict[str, Any]) -> Tuple[float, float]:
    """(p0, p1) of the element-wise kernel, validated by calling the function's own checks."""
    from .. import activations as A

    if name == "identity":
        return (0.0, 0.0)
    fn = getattr(A, name if name != "gelu_tanh" else "gelu")
    probe = np.zeros(1)
    if name in ("gelu", "gelu_tanh"):
        fn(probe, approximate="tanh" if name == "gelu_tanh" else "none")
        return (0.0, 0.0)
    fn(probe, **params)   # raises the function's own errors for bad values
    vals = list(params.values()) + [0.0, 0.0]
    return (float(vals[0]), float(vals[1]))


class _ElementwiseActivation(Layer):
    _kind = ACTIVATION
    _name = "identity"
    _params: Tuple[Tuple[str, float], ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        names = [p for p, _ in self._params]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} arguments, got {len(args)}")
        vals = dict(self._params)
        vals.update(zip(names, args))
        for k, v in kwargs.items():
            if k not in vals:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {k!r}")
            vals[k] = v
        self._values = vals
        self._p = _activation_params(self._name, vals)

    @property
    def act_id(self) -> Tuple[int, float, float]:
        """(kernel id, p0, p1): the activation as the engine and the GEMM epilogue know it."""
        return (ACT_IDS[self._name],) + self._p

    def _spec(self, width: int) -> tuple:
        a, p0, p1 = self.act_id
        return (ACTIVATION, width, width, None, None, None, None, a, p0, p1, 0.0, 0)

    def get_config(self) -> Dict[str, Any]:
        return {k: float(v) for k, v in self._values.items()}


def _activation_layer(cls_name: str, kernel: str, params: Tuple[Tuple[str, float], ...] = (), doc: str = ""):
    cls = type(cls_name, (_ElementwiseActivation,), {"_name": kernel, "_params": params, "__doc__": doc,
                                                       "__module__": "nnmat.nn"})
    return cls


Identity = _activation_layer("Identity", "identity", doc="The identity: passes its input through.")
Sigmoid = _activation_layer("Sigmoid", "sigmoid", doc="Logistic sigmoid (torch.nn.Sigmoid).")
Tanh = _activation_layer("Tanh", "tanh", doc="Hyperbolic tangent (torch.nn.Tanh).")
ReLU = _activation_layer("ReLU", "relu", doc="max(x, 0) (torch.nn.ReLU).")
LeakyReLU = _activation_layer("LeakyReLU", "leaky_relu", (("negative_slope", 0.01),),
                              "x if x > 0 else negative_slope * x (torch.nn.LeakyReLU).")
ELU = _activation_layer("ELU", "elu", (("alpha", 1.0),), "x if x > 0 else alpha (exp(x) - 1) (torch.nn.ELU).")
SELU = _activation_layer("SELU", "selu", doc="Scaled ELU with the self-normalising constants (torch.nn.SELU).")
SiLU = _activation_layer("SiLU", "silu", doc="x * sigmoid(x) (torch.nn.SiLU).")
Softplus = _activation_layer("Softplus", "softplus", (("beta", 1.0), ("threshold", 20.0)),
                             "log(1 + exp(beta x)) / beta, linear above threshold (torch.nn.Softplus).")
Mish = _activation_layer("Mish", "mish", doc="x * tanh(softplus(x)) (torch.nn.Mish).")
Hardtanh = _activation_layer("Hardtanh", "hardtanh", (("min_val", -1.0), ("max_val", 1.0)),
                             "clamp(x, min_val, max_val) (torch.nn.Hardtanh).")
Hardsigmoid = _activation_layer("Hardsigmoid", "hardsigmoid", doc="relu6(x + 3) / 6 (torch.nn.Hardsigmoid).")
Hardswish = _activation_layer("Hardswish", "hardswish", doc="x * relu6(x + 3) / 6 (torch.nn.Hardswish).")


class GELU(_ElementwiseActivation):
    """Gaussian error linear unit (torch.nn.GELU); ``approximate`` is 'none' or 'tanh'."""

    _name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self._name = "gelu" if approximate == "none" else "gelu_tanh"
        super().__init__()
        self._values = {"approximate": approximate}

    def get_config(self) -> Dict[str, Any]:
        return dict(self._values)


class Softmax(Layer):
    """Softmax over the features of each row (the last axis; torch.nn.Softmax(dim=-1))."""

    _kind = SOFTMAX


class LogSoftmax(Layer):
    """log(softmax) over the features of each row (the last axis; torch.nn.LogSoftmax(dim=-1))."""

    _kind = LOG_SOFTMAX


# Activation name (as nnmat.activations / Dense(activation=...) spell it) -> layer class.
ACTIVATION_LAYERS = {
    "identity": Identity, "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU,
    "elu": ELU, "selu": SELU, "silu": SiLU, "swish": SiLU, "softplus": Softplus, "mish": Mish,
    "hardtanh": Hardtanh, "hardsigmoid": Hardsigmoid, "hardswish": Hardswish, "gelu": GELU,
}


def _dense_activation(activation: Any) -> Optional[_ElementwiseActivation]:
    if activation is None:
        return None
    if isinstance(activation, _ElementwiseActivation):
        return activation
    if isinstance(activation, str) and activation == "gelu_tanh":
        return GELU("tanh")
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    if isinstance(name, str) and name in ACTIVATION_LAYERS:
        return ACTIVATION_LAYERS[name]()
    names = ", ".join(repr(n) for n in ACTIVATION_LAYERS)
    raise ValueError(f"Dense: activation must be None, an element-wise activation layer or one of {names}; "
                     f"got {activation!r} (add Softmax / LogSoftmax as their own layers)")


# ---------------------------------------------------------------------------

class Dense(Layer):
    """Fully connected layer ``y = act(x W^T + b)`` (torch.nn.Linear, then the activation).

    Parameters
    ----------
    in_features, out_features : int
        Features per sample of the input and of the output.
    activation : str or activation layer, optional
        An element-wise activation fused into the product's epilogue ('relu',
        'tanh', 'sigmoid', 'gelu', ... or e.g. ``LeakyReLU(0.2)``).
    bias : bool, default True
    init : str, default 'torch'
        'torch' (torch.nn.Linear's default: weight and bias uniform in
        ±1/sqrt(in_features)), 'xavier_uniform', 'xavier_normal', 'he_uniform',
        'he_normal' (Kaiming, fan_in, gain sqrt(2)); biases are zero for the
        latter four.
    seed : int, optional
        Seed of the initialisation; the same seed gives the same weights.
    dtype : float32 (default) or float64

    ``weight`` has shape (out_features, in_features) (torch's layout); the
    forward pass reads it transposed in place. Backward: with dZ the incoming
    gradient times the activation's derivative, dW = dZ^T x, db = sum of the
    rows of dZ, dx = dZ W.
    """

    _kind = DENSE

    def __init__(self, in_features: int, out_features: int, activation: Any = None, bias: bool = True, *,
                 init: str = "torch", seed: Optional[int] = None, dtype: Any = np.float32) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"Dense: {name} must be a non-negative integer, got {v!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Dense: bias must be a bool, got {type(bias).__name__}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = _dense_activation(activation)
        self._dtype = _as_dtype(dtype, "Dense")
        self.init = _init.check_name(init, "Dense")
        self.seed = _seed(seed, "Dense")
        shape = (self.out_features, self.in_features)
        self._w = np.empty(shape, self._dtype)
        self._gw = np.zeros(shape, self._dtype)
        self._b = np.empty(self.out_features, self._dtype) if bias else None
        self._gb = np.zeros(self.out_features, self._dtype) if bias else None
        self.reset_parameters(np.random.default_rng(self.seed))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Draw new weights (and bias) with this layer's ``init`` from ``rng``."""
        w, b = _init.initialise(self.init, self.in_features, self.out_features, self._b is not None, rng)
        self._w[...] = w
        if self._b is not None:
            self._b[...] = b

    @property
    def weight(self) -> np.ndarray:
        """(out_features, in_features) weight; assigning copies into the layer's array."""
        return self._w

    @weight.setter
    def weight(self, value: Any) -> None:
        self._assign("weight", self._w, value)

    @property
    def bias(self) -> Optional[np.ndarray]:
        """(out_features,) bias or None; assigning copies into the layer's array."""
        return self._b

    @bias.setter
    def bias(self, value: Any) -> None:
        if self._b is None:
            raise ValueError("Dense: this layer was built with bias=False")
        self._assign("bias", self._b, value)

    def _assign(self, name: str, dst: np.ndarray, value: Any) -> None:
        v = np.asarray(value)
        if v.shape != dst.shape:
            raise ValueError(f"Dense: {name} must have shape {dst.shape}, got {v.shape}")
        if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
            raise TypeError(f"Dense: {name} must be real numbers, got dtype {v.dtype}")
        dst[...] = v

    @property
    def weight_grad(self) -> np.ndarray:
        return self._gw

    @property
    def bias_grad(self) -> Optional[np.ndarray]:
        return self._gb

    def parameters(self) -> List[np.ndarray]:
        return [self._w] if self._b is None else [self._w, self._b]

    def gradients(self) -> List[np.ndarray]:
        return [self._gw] if self._b is None else [self._gw, self._gb]

    def _named_parameters(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        out = [("weight", self._w, self._gw)]
        if self._b is not None:
            out.append(("bias", self._b, self._gb))
        return out

    def _rebind(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        if name == "weight":
            self._w, self._gw = value, grad
        elif name == "bias" and self._b is not None:
            self._b, self._gb = value, grad
        else:
            raise KeyError(name)
        self._dtype = value.dtype
        self._net = None

    def output_width(self, width: int) -> int:
        if width != self.in_features:
            raise ValueError(f"Dense: input has {width} features, expected in_features={self.in_features}")
        return self.out_features

    def _spec(self, width: int) -> tuple:
        self.output_width(width)
        a, p0, p1 = (0, 0.0, 0.0) if self.activation is None else self.activation.act_id
        return (DENSE, self.in_features, self.out_features, self._w, self._b, self._gw, self._gb, a, p0, p1,
                0.0, 0)

    def get_config(self) -> Dict[str, Any]:
        act = None
        if self.activation is not None:
            act = {"class": type(self.activation).__name__, "config": self.activation.get_config()}
        return {"in_features": self.in_features, "out_features": self.out_features, "activation": act,
                "bias": self._b is not None, "init": self.init, "seed": self.seed, "dtype": self._dtype.name}

    def __repr__(self) -> str:
        act = "" if self.activation is None else f", activation={self.activation!r}"
        return (f"Dense({self.in_features}, {self.out_features}{act}, bias={self._b is not None}, "
                f"dtype={self._dtype.name})")


class Dropout(Layer):
    """Inverted dropout (torch.nn.Dropout): in training, each element is zeroed
    with probability ``p`` and the others are scaled by 1/(1-p); at inference it
    is the identity.

    The masks come from a counter-based generator keyed by ``seed`` and the
    number of training forwards so far, so the same seed gives the same masks
    on any thread count. ``seed=None`` draws a seed once, at construction.
    """

    _kind = DROPOUT

    def __init__(self, p: float = 0.5, seed: Optional[int] = None) -> None:
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        s = _seed(seed, "Dropout")
        self.seed = s if s is not None else int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)

    def _spec(self, width: int) -> tuple:
        return (DROPOUT, width, width, None, None, None, None, 0, 0.0, 0.0, self.p, self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {"p": self.p, "seed": self.seed}


class Flatten(Layer):
    """Flattens each sample to one row of features: (N, d1, ..., dk) -> (N, d1*...*dk).

    In a Sequential it must come before the first layer that needs rows (a
    Dense); a standalone Flatten reshapes its input (a view-free copy)."""

    _kind = FLATTEN

    def _rows(self, x: np.ndarray) -> Tuple[int, int]:
        if x.ndim == 0:
            raise ValueError("Flatten: input must have a batch dimension")
        return (x.shape[0], math.prod(x.shape[1:]))

    def _output_shape(self, in_shape: Tuple[int, ...], out_w: int) -> Tuple[int, ...]:
        return (in_shape[0], out_w)


LAYER_CLASSES = {c.__name__: c for c in (
    Dense, Dropout, Flatten, Softmax, LogSoftmax, GELU, Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU,
    SiLU, Softplus, Mish, Hardtanh, Hardsigmoid, Hardswish)}
