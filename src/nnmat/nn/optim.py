"""Optimizers: SGD, Adam and AdamW with torch.optim's update rules and defaults.

Each ``step()`` is one call into C++ that updates every parameter array in one
fused pass per array (``cpp/optim/``): no numerical loop runs in Python.

An optimizer updates a fixed list of parameter arrays in place from a parallel
list of gradient arrays. Bind them at construction or later with ``attach``:

* an object with ``.parameters()`` and ``.gradients()`` (a layer or a model):
  the live arrays; ``backward`` overwrites the gradients, ``step`` reads them;
* a list of ``(param, grad)`` pairs of numpy arrays;
* ``None``: ``Sequential.fit`` (or ``attach``) binds it later.

All arrays of one optimizer share one float dtype (float32 or float64); the
parameters are C-contiguous and writeable, each gradient C-contiguous with its
parameter's shape. The state (momentum buffers, moment estimates) is kept in
C++ in the parameters' dtype and can be saved with ``state_dict()`` (a flat dict
of numpy arrays and numbers, suitable for ``np.savez``; no pickle).
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _core

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]

_STATE_NAMES = {
    "sgd": ("momentum_buffer",),
    "adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
}


def _real(name: str, cls: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise TypeError(f"{cls}: {name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if v != v:
        raise ValueError(f"{cls}: Invalid {name} value: {value}")
    return v


def _flag(name: str, cls: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_, numbers.Integral)) and not (
        isinstance(value, np.ndarray) and value.ndim == 0
    ):
        raise TypeError(f"{cls}: {name} must be a bool, got {type(value).__name__}")
    return bool(value)


class Optimizer:
    """Base class of nnmat's optimizers (use :class:`SGD`, :class:`Adam`, :class:`AdamW`).

    Attributes
    ----------
    lr, weight_decay, maximize, ... : hyper-parameters, readable and settable
        between steps (learning-rate schedules).
    _core : the C++ optimizer (``nnmat._core.Optimizer_f32`` / ``_f64``), None
        until parameters are attached. The network engine drives it directly.
    """

    _kind = ""
    _hyper_names: Tuple[str, ...] = ()

    def __init__(self, params: Any, hyper: Dict[str, Any]) -> None:
        self._hyper: Dict[str, Any] = {}
        for name, value in hyper.items():
            self._set_hyper(name, value)
        self._check_combination(self._hyper)
        self._core: Any = None
        self._params: List[np.ndarray] = []
        self._grads: List[np.ndarray] = []
        self._pending_state: Optional[Dict[str, Any]] = None
        if params is not None:
            self._attach_from(params)

    # ------------------------------------------------------------ hyper-parameters
    def _validate(self, name: str, value: Any) -> Any:
        cls = type(self).__name__
        if name in ("maximize", "nesterov", "amsgrad"):
            return _flag(name, cls, value)
        v = _real(name, cls, value)
        if name == "lr" and v < 0.0:
            raise ValueError(f"{cls}: Invalid learning rate: {value}")
        if name in ("weight_decay", "momentum", "eps") and v < 0.0:
            raise ValueError(f"{cls}: Invalid {name} value: {value}")
        if name in ("beta1", "beta2") and not 0.0 <= v < 1.0:
            idx = 0 if name == "beta1" else 1
            raise ValueError(f"{cls}: Invalid beta parameter at index {idx}: {value} (must be in [0, 1))")
        return v

    def _check_combination(self, h: Dict[str, Any]) -> None:
        pass

    def _set_hyper(self, name: str, value: Any) -> None:
        v = self._validate(name, value)
        if name in self._hyper:
            trial = dict(self._hyper)
            trial[name] = v
            self._check_combination(trial)
        self._hyper[name] = v
        core = self.__dict__.get("_core")
        if core is not None:
            setattr(core, name, v)

    def _hyper_kwargs(self) -> Dict[str, Any]:
        return dict(self._hyper)

    @property
    def lr(self) -> float:
        """Learning rate."""
        return self._hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self._set_hyper("lr", value)

    @property
    def weight_decay(self) -> float:
        """Weight decay coefficient."""
        return self._hyper["weight_decay"]

    @weight_decay.setter
    def weight_decay(self, value: float) -> None:
        self._set_hyper("weight_decay", value)

    @property
    def maximize(self) -> bool:
        """Ascend the objective instead of descending it."""
        return self._hyper["maximize"]

    @maximize.setter
    def maximize(self, value: bool) -> None:
        self._set_hyper("maximize", value)

    # ------------------------------------------------------------ parameters
    def _attach_from(self, params: Any) -> None:
        if hasattr(params, "parameters") and hasattr(params, "gradients"):
            self.attach(params.parameters(), params.gradients())
            return
        if isinstance(params, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}: params must be a model/layer with .parameters() and .gradients(), "
                "or a list of (param, grad) pairs of numpy arrays, got a single array"
            )
        try:
            pairs = list(params)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__}: params must be None, a model/layer with .parameters() and "
                f".gradients(), or a list of (param, grad) pairs, got {type(params).__name__}"
            ) from None
        ps, gs = [], []
        for i, pair in enumerate(pairs):
            if isinstance(pair, np.ndarray) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{type(self).__name__}: params[{i}] must be a (param, grad) pair of numpy arrays")
            ps.append(pair[0])
            gs.append(pair[1])
        self.attach(ps, gs)

    def attach(self, parameters: Sequence[np.ndarray], gradients: Sequence[np.ndarray]) -> "Optimizer":
        """Bind the optimizer to parameter arrays and their gradient arrays.

        Parameters
        ----------
        parameters : list of numpy.ndarray
            Updated in place by ``step``: C-contiguous, writeable, all float32 or
            all float64.
        gradients : list of numpy.ndarray
            Same length; ``gradients[i]`` has ``parameters[i]``'s shape and dtype
            and is C-contiguous. The arrays are kept: whatever they hold when
            ``step`` runs is used.

        Attaching resets the state (moments, momentum buffers, step count),
        unless a state loaded with ``load_state_dict`` before attaching is pending.
        """
        cls = type(self).__name__
        ps, gs = list(parameters), list(gradients)
        if len(ps) != len(gs):
            raise ValueError(f"{cls}: got {len(ps)} parameter arrays but {len(gs)} gradient arrays")
        if not ps:
            raise ValueError(f"{cls}: optimizer got an empty parameter list")
        dtype = None
        for i, (p, g) in enumerate(zip(ps, gs)):
            for what, a in (("parameter", p), ("gradient", g)):
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{cls}: {what} {i} must be a numpy array, got {type(a).__name__}")
                if a.dtype not in (np.float32, np.float64):
                    raise TypeError(f"{cls}: {what} {i} has dtype {a.dtype}; expected float32 or float64")
                if dtype is None:
                    dtype = a.dtype
                elif a.dtype != dtype:
                    raise TypeError(
                        f"{cls}: all parameters and gradients must have one dtype; {what} {i} is {a.dtype}, "
                        f"expected {dtype}"
                    )
                if not a.flags.c_contiguous:
                    raise ValueError(f"{cls}: {what} {i} must be C-contiguous")
            if not p.flags.writeable:
                raise ValueError(f"{cls}: parameter {i} is read-only")
            if p.shape != g.shape:
                raise ValueError(f"{cls}: gradient {i} has shape {g.shape}, parameter {i} has shape {p.shape}")
        core_cls = _core.Optimizer_f32 if dtype == np.float32 else _core.Optimizer_f64
        core = core_cls(kind=self._kind, **self._hyper_kwargs())
        core.set_sizes([int(p.size) for p in ps])
        self._core = core
        self._params, self._grads = ps, gs
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            self.load_state_dict(pending)
        return self

    @property
    def attached(self) -> bool:
        """True once parameters are bound."""
        return self._core is not None

    @property
    def steps(self) -> int:
        """Number of updates done since attaching (Adam's bias correction uses it)."""
        return 0 if self._core is None else int(self._core.steps)

    def _require_core(self, what: str) -> Any:
        if self._core is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}: no parameters attached (construct it with params, "
                "call attach(parameters, gradients), or pass it to Sequential.fit)"
            )
        return self._core

    def step(self) -> None:
        """One update of every attached parameter from its gradient (one C++ call)."""
        self._require_core("step").step(self._params, self._grads)

    def zero_grad(self) -> None:
        """Fill every attached gradient array with zeros."""
        self._require_core("zero_grad")
        for g in self._grads:
            g.fill(0)

    # ------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        """The optimizer's state as a flat dict of numbers, strings and numpy arrays.

        Keys: ``kind``, ``step``, every hyper-parameter, ``sizes`` (elements per
        parameter) and ``<state>.<i>`` copies of the state buffers (e.g.
        ``exp_avg.0``). ``np.savez(path, **opt.state_dict())`` saves it without pickle.
        """
        core = self._require_core("state_dict")
        d: Dict[str, Any] = {"kind": self._kind, "step": int(core.steps)}
        d.update(self._hyper_kwargs())
        d["sizes"] = np.array(core.sizes, dtype=np.int64)
        names = _STATE_NAMES[self._kind]
        for w in range(core.num_state):
            for s in range(len(core.sizes)):
                d[f"{names[w]}.{s}"] = np.array(core.state(w, s), copy=True)
        return d

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict`` (also from an ``np.load``-ed npz).

        Hyper-parameters, the step count and the state buffers are restored.
        Before ``attach`` the state is kept and applied when parameters are
        attached (their sizes must then match).
        """
        cls = type(self).__name__
        d = dict(state)
        kind = str(np.asarray(d.get("kind", "")))
        if kind != self._kind:
            raise ValueError(f"{cls}.load_state_dict: state is for optimizer kind '{kind}', expected '{self._kind}'")
        missing = [k for k in ("step", "sizes", *self._hyper_kwargs()) if k not in d]
        if missing:
            raise ValueError(f"{cls}.load_state_dict: missing keys {missing}")
        if self._core is None:
            self._pending_state = d
            return
        core = self._core
        sizes = [int(s) for s in np.asarray(d["sizes"]).ravel()]
        if sizes != list(core.sizes):
            raise ValueError(f"{cls}.load_state_dict: state is for parameter sizes {sizes}, attached {list(core.sizes)}")
        hyper = {}
        for name in self._hyper_kwargs():
            v = np.asarray(d[name]).item()
            hyper[name] = self._validate(name, v)
        self._check_combination(hyper)
        for name, v in hyper.items():
            self._hyper[name] = v
            setattr(core, name, v)
        names = _STATE_NAMES[self._kind]
        bufs = []
        for w in range(core.num_state):
            for s in range(len(sizes)):
                key = f"{names[w]}.{s}"
                if key not in d:
                    raise ValueError(f"{cls}.load_state_dict: missing key '{key}'")
                a = np.asarray(d[key])
                if a.size != sizes[s]:
                    raise ValueError(f"{cls}.load_state_dict: '{key}' has {a.size} elements, expected {sizes[s]}")
                bufs.append((w, s, a))
        for w, s, a in bufs:
            core.state(w, s)[...] = a.ravel()
        core.steps = int(np.asarray(d["step"]).item())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._public_hyper().items())
        where = f"{len(self._params)} parameter arrays" if self._core is not None else "not attached"
        return f"{type(self).__name__}({args}) [{where}]"

    def _public_hyper(self) -> Dict[str, Any]:
        return dict(self._hyper)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, nesterov and weight decay; matches torch.optim.SGD.

    Per element, with gradient :math:`g`, parameter :math:`p`, step :math:`t`:

    .. math::

        g &\leftarrow -g \ \text{(maximize)}, \qquad g \leftarrow g + \lambda p \ (\lambda = \text{weight\_decay}) \\
        b_t &= g \ (t = 1), \qquad b_t = \mu b_{t-1} + (1 - \tau) g \ (t > 1) \\
        d &= g + \mu b_t \ \text{(nesterov)}, \quad d = b_t \ \text{(otherwise; } d = g \text{ if } \mu = 0) \\
        p &\leftarrow p - \gamma d

    Parameters
    ----------
    params : model/layer, list of (param, grad) pairs, or None
        What to update (see the module docstring); None binds later (``fit``/``attach``).
    lr : float, default 1e-3
        Learning rate :math:`\gamma` (>= 0).
    momentum : float, default 0
        Momentum factor :math:`\mu` (>= 0).
    dampening : float, default 0
        Dampening :math:`\tau` of the momentum.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda` (>= 0), added to the gradient.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0).
    maximize : bool, default False
        Maximize the objective.
    """

    _kind = "sgd"

    def __init__(
        self,
        params: Any = None,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                 maximize=maximize),
        )

    def _check_combination(self, h: Dict[str, Any]) -> None:
        if h.get("nesterov") and (h.get("momentum", 0.0) <= 0.0 or h.get("dampening", 0.0) != 0.0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    @property
    def momentum(self) -> float:
        """Momentum factor."""
        return self._hyper["momentum"]

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._set_hyper("momentum", value)

    @property
    def dampening(self) -> float:
        """Dampening of the momentum."""
        return self._hyper["dampening"]

    @dampening.setter
    def dampening(self, value: float) -> None:
        self._set_hyper("dampening", value)

    @property
    def nesterov(self) -> bool:
        """Nesterov momentum."""
        return self._hyper["nesterov"]

    @nesterov.setter
    def nesterov(self, value: bool) -> None:
        self._set_hyper("nesterov", value)


class _AdamBase(Optimizer):
    def __init__(self, params: Any, lr: float, betas: Any, eps: float, weight_decay: float, amsgrad: bool,
                 maximize: bool) -> None:
        b1, b2 = self._split_betas(betas)
        super().__init__(
            params,
            dict(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize),
        )

    def _split_betas(self, betas: Any) -> Tuple[Any, Any]:
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas!r}") from None
        return b1, b2

    @property
    def betas(self) -> Tuple[float, float]:
        """Coefficients (beta1, beta2) of the running averages of the gradient and its square."""
        return (self._hyper["beta1"], self._hyper["beta2"])

    @betas.setter
    def betas(self, value: Any) -> None:
        b1, b2 = self._split_betas(value)
        v1, v2 = self._validate("beta1", b1), self._validate("beta2", b2)
        self._set_hyper("beta1", v1)
        self._set_hyper("beta2", v2)

    @property
    def eps(self) -> float:
        """Term added to the denominator."""
        return self._hyper["eps"]

    @eps.setter
    def eps(self, value: float) -> None:
        self._set_hyper("eps", value)

    @property
    def amsgrad(self) -> bool:
        """Use the AMSGrad variant (maximum of the second moments)."""
        return self._hyper["amsgrad"]

    @amsgrad.setter
    def amsgrad(self, value: bool) -> None:
        self._set_hyper("amsgrad", value)

    def _public_hyper(self) -> Dict[str, Any]:
        h = dict(self._hyper)
        b1, b2 = h.pop("beta1"), h.pop("beta2")
        out = {"lr": h.pop("lr"), "betas": (b1, b2)}
        out.update(h)
        return out


class Adam(_AdamBase):
    r"""Adam with L2 weight decay and AMSGrad; matches torch.optim.Adam.

    Per element, with gradient :math:`g`, parameter :math:`p`, step :math:`t`:

    .. math::

        g &\leftarrow -g \ \text{(maximize)}, \qquad g \leftarrow g + \lambda p \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \ \text{(amsgrad; else } \hat v_t = v_t) \\
        p &\leftarrow p - \frac{\gamma}{1 - \beta_1^t} \,
             \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Parameters
    ----------
    params : model/layer, list of (param, grad) pairs, or None
        What to update (see the module docstring); None binds later (``fit``/``attach``).
    lr : float, default 1e-3
        Learning rate :math:`\gamma` (>= 0).
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-8
        :math:`\epsilon` (>= 0).
    weight_decay : float, default 0
        L2 penalty :math:`\lambda` (>= 0), added to the gradient.
    amsgrad : bool, default False
        Use the AMSGrad variant.
    maximize : bool, default False
        Maximize the objective.
    """

    _kind = "adam"

    def __init__(
        self,
        params: Any = None,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class AdamW(_AdamBase):
    r"""Adam with decoupled weight decay; matches torch.optim.AdamW.

    As :class:`Adam`, except that the weight decay shrinks the parameter before
    the update instead of entering the gradient:

    .. math::

        p &\leftarrow p \, (1 - \gamma \lambda) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2 \\
        p &\leftarrow p - \frac{\gamma}{1 - \beta_1^t} \,
             \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Parameters
    ----------
    params : model/layer, list of (param, grad) pairs, or None
        What to update (see the module docstring); None binds later (``fit``/``attach``).
    lr : float, default 1e-3
        Learning rate :math:`\gamma` (>= 0).
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-8
        :math:`\epsilon` (>= 0).
    weight_decay : float, default 1e-2
        Decoupled weight decay :math:`\lambda` (>= 0).
    amsgrad : bool, default False
        Use the AMSGrad variant.
    maximize : bool, default False
        Maximize the objective.
    """

    _kind = "adamw"

    def __init__(
        self,
        params: Any = None,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
