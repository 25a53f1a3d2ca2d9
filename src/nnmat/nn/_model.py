"""Sequential: a stack of layers run by the C++ network engine, with the
Keras-like training API (fit / evaluate / predict / train_on_batch / summary)."""
from __future__ import annotations

import math
import numbers
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from . import _layers
from ._callbacks import Callback, History, Progress
from ..losses._base import as_contiguous, asarray, int64_labels
from ._layers import DENSE, Dense, Dropout, Flatten, Layer, _locked
from ._losses import NET_CE, NET_EW, NET_NLL, Loss, get_loss


def _array(who: str, name: str, v: Any) -> np.ndarray:
    """v as a numpy array of real numbers (bool, int, float), or TypeError naming who and name."""
    if v is None:
        raise TypeError(f"{who}: {name} must be an array, got None")
    try:
        a = np.asarray(v)
    except (ValueError, TypeError) as e:   # ragged lists and the like
        raise TypeError(f"{who}: {name} cannot be converted to an array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {name} must be an array of real numbers, got dtype {a.dtype}")
    return a


def _positive_int(v: Any, name: str, who: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{who}: {name} must be a positive integer, got {v!r}")
    return int(v)


def get_optimizer(optimizer: Any):
    """An optimizer instance from an instance or a name ('sgd', 'adam', 'adamw', torch's defaults)."""
    from . import optim

    if isinstance(optimizer, optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        table = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}
        if optimizer.lower() in table:
            return table[optimizer.lower()]()
        raise ValueError(f"unknown optimizer {optimizer!r}; use 'sgd', 'adam', 'adamw' or an instance")
    raise TypeError(f"optimizer must be an nnmat.nn.optim optimizer or a name, got {type(optimizer).__name__}")


class Sequential(Layer):
    """A network of layers applied in turn, run forward and backward by the C++ engine.

    Parameters
    ----------
    layers : iterable of Layer
        ``Dense``, activation layers, ``Dropout``, ``Flatten`` (nesting a
        Sequential is not supported: list its layers instead).
    dtype : float32 or float64, optional
        The model's dtype; default: the Dense layers' (float32 when none).
    seed : int, optional
        Re-initialises every Dense layer and reseeds every Dropout from one
        generator, so ``Sequential(layers, seed=s)`` gives the same model for
        the same ``s``.

    All parameters live in one contiguous buffer (``flat_parameters``), the
    layers' ``weight`` / ``bias`` being views of it, so an optimizer updates
    the whole model in one kernel call. Inputs are (N, features), or (N, ...)
    when the first layer is a ``Flatten``.
    """

    def __init__(self, layers: Iterable[Layer], *, dtype: Any = None, seed: Optional[int] = None) -> None:
        super().__init__()
        layers = list(layers)
        for i, layer in enumerate(layers):
            if isinstance(layer, Sequential):
                raise TypeError("Sequential: nesting a Sequential is not supported; list its layers instead")
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: layer {i} is not an nnmat.nn layer: {layer!r}")
        if len(set(map(id, layers))) != len(layers):
            raise ValueError("Sequential: the same layer object appears twice")
        self.layers: List[Layer] = layers
        dense = [l for l in layers if isinstance(l, Dense)]
        if dtype is not None:
            dt = _layers._as_dtype(dtype, "Sequential")
        elif dense:
            dt = dense[0].dtype
        else:
            dt = np.dtype(np.float32)
        self._dtype = dt
        self.seed = _layers._seed(seed, "Sequential")
        if self.seed is not None:
            rng = np.random.default_rng(self.seed)
            for layer in layers:
                if isinstance(layer, Dense):
                    layer.reset_parameters(rng)
                elif isinstance(layer, Dropout):
                    layer.seed = int(rng.integers(0, 2**63 - 1))
        self._build_flat()
        self._nets: Dict[int, Any] = {}
        self.stop_training = False
        self.loss: Optional[Loss] = None
        self.optimizer = None
        self._widths()   # validates the chain of Dense widths now

    # -- parameters -----------------------------------------------------------
    def _build_flat(self) -> None:
        named = [(layer, name, value) for layer in self.layers for name, value, _ in layer._named_parameters()]
        total = sum(v.size for _, _, v in named)
        self._flat = np.empty(total, self._dtype)
        self._flat_grad = np.zeros(total, self._dtype)
        off = 0
        for layer, name, value in named:
            n = value.size
            view = self._flat[off:off + n].reshape(value.shape)
            gview = self._flat_grad[off:off + n].reshape(value.shape)
            view[...] = value
            layer._rebind(name, view, gview)
            off += n

    @property
    def flat_parameters(self) -> np.ndarray:
        """Every parameter, in layer order, as one contiguous 1-D array (live)."""
        return self._flat

    @property
    def flat_gradients(self) -> np.ndarray:
        """The gradients of ``flat_parameters`` from the last backward pass (live)."""
        return self._flat_grad

    def parameters(self) -> List[np.ndarray]:
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self) -> List[np.ndarray]:
        return [g for layer in self.layers for g in layer.gradients()]

    def named_parameters(self) -> List[Tuple[str, np.ndarray]]:
        """[('0.weight', array), ('0.bias', array), ...]: layer index and name, torch's style."""
        return [(f"{i}.{name}", v) for i, layer in enumerate(self.layers) for name, v, _ in layer._named_parameters()]

    def count_parameters(self) -> int:
        return int(self._flat.size)

    # -- shapes ---------------------------------------------------------------
    def _first_dense(self) -> Optional[int]:
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                return i
        return None

    def _widths(self, width: Optional[int] = None) -> List[int]:
        """Output width of each layer for input rows of ``width`` features."""
        if width is None:
            i = self._first_dense()
            if i is None:
                return []
            width = self.layers[i].in_features
        out = []
        for layer in self.layers:
            width = layer.output_width(width)
            out.append(width)
        return out

    @property
    def in_features(self) -> Optional[int]:
        i = self._first_dense()
        if i is None:
            return None
        if any(isinstance(l, Flatten) for l in self.layers[:i]):
            return None
        return self.layers[i].in_features

    def _network(self, width: int):
        net = self._nets.get(width)
        if net is None:
            specs = []
            w = width
            for layer in self.layers:
                specs.append(layer._spec(w))
                w = layer.output_width(w)
            net = _layers._NETWORK[self._dtype](specs)
            self._nets[width] = net
        return net

    def _prepare_x(self, x: Any, who: str, finite: bool = False) -> np.ndarray:
        x = _array(who, "x", x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) \
                or np.iscomplexobj(x):
            raise TypeError(f"{who}: x must be an array of real numbers, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{who}: x must have shape (n_samples, n_features), got shape {x.shape}")
        if x.ndim > 2 and not (self.layers and isinstance(self.layers[0], Flatten)):
            raise ValueError(f"{who}: x has shape {x.shape}; inputs with more than 2 dimensions need a "
                             "Flatten() as the first layer")
        x2 = as_contiguous(x, self._dtype).reshape(x.shape[0], math.prod(x.shape[1:]))
        i = self._first_dense()
        if i is not None and x2.shape[1] != self.layers[i].in_features:
            raise ValueError(f"{who}: x has {x2.shape[1]} features per sample, the model expects "
                             f"{self.layers[i].in_features}")
        if finite and not np.isfinite(x2).all():
            raise ValueError(f"{who}: x contains NaN or infinity")
        return x2

    # -- forward / backward ---------------------------------------------------
    @_locked
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """The network's output for a batch ``x`` (a new (n, out) array)."""
        x2 = self._prepare_x(x, "Sequential.forward")
        net = self._network(x2.shape[1])
        out = np.empty((x2.shape[0], net.out_features), self._dtype)
        net.forward(x2, out, bool(training))
        self._in_shape = np.shape(x)
        self._out_shape = out.shape
        self._net = net
        return out

    __call__ = forward

    @_locked
    def backward(self, grad_output: Any) -> np.ndarray:
        """Backpropagates ``grad_output`` (the gradient of a loss with respect to
        the last forward's output): fills every layer's gradients and returns
        the gradient with respect to the input (the input's shape)."""
        if self._in_shape is None:
            raise RuntimeError("Sequential.backward: call forward first")
        g = asarray("Sequential.backward", "grad_output", grad_output)
        if g.shape != self._out_shape:
            raise ValueError(f"Sequential.backward: grad_output has shape {g.shape}, expected the output's "
                             f"shape {self._out_shape}")
        net = self._net
        dx = np.empty((self._out_shape[0], net.in_features), self._dtype)
        net.backward(as_contiguous(g, self._dtype), dx)
        return dx.reshape(self._in_shape)

    def output_width(self, width: int) -> int:
        for layer in self.layers:
            width = layer.output_width(width)
        return width

    @_locked
    def predict(self, x: Any, batch_size: Optional[int] = None) -> np.ndarray:
        """Outputs for ``x`` in inference mode (dropout off), computed in
        batches of ``batch_size`` rows (default: all at once up to 4096 rows)."""
        x2 = self._prepare_x(x, "predict")
        n = x2.shape[0]
        bs = 4096 if batch_size is None else _positive_int(batch_size, "batch_size", "predict")
        net = self._network(x2.shape[1])
        out = np.empty((n, net.out_features), self._dtype)
        for s in range(0, n, bs):
            net.forward(x2[s:s + bs], out[s:s + bs], False)
        if n == 0:
            net.forward(x2, out, False)
        return out

    # -- targets --------------------------------------------------------------
    def _class_targets(self, y: Any, n: int, C: int, ignore: int, who: str) -> np.ndarray:
        y = _array(who, "y", y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != (n,):
            raise ValueError(f"{who}: class-index targets must have shape ({n},), got {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise TypeError(f"{who}: class-index targets must be integers, got non-integral {y.dtype} values")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"{who}: class-index targets must be integers, got dtype {y.dtype}")
        yi = int64_labels(who, "y", y)
        bad = (yi != ignore) & ((yi < 0) | (yi >= C))
        if bad.any():
            v = int(yi[np.argmax(bad)])
            raise IndexError(f"{who}: label {v} is out of range for {C} classes (labels must be in [0, {C}))")
        return yi

    def _value_targets(self, y: Any, n: int, C: int, who: str, hinge: bool = False) -> np.ndarray:
        y = _array(who, "y", y)
        if y.ndim == 1 and C == 1:
            y = y.reshape(n if y.shape[0] == n else -1, 1)
        if y.shape != (n, C):
            raise ValueError(f"{who}: targets must have shape ({n}, {C}) for this model, got {y.shape}")
        if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
            raise TypeError(f"{who}: targets must be numbers, got dtype {y.dtype}")
        yv = as_contiguous(y, self._dtype)
        if not np.isfinite(yv).all():
            raise ValueError(f"{who}: targets contain NaN or infinity")
        if hinge and yv.size and np.all((yv == 0) | (yv == 1)):
            yv = yv * 2 - 1   # Keras: 0/1 labels become -1/+1
        return yv

    def _sample_weight(self, sw: Any, n: int, who: str) -> Optional[np.ndarray]:
        if sw is None:
            return None
        sw = _array(who, "sample_weight", sw)
        if sw.shape != (n,):
            raise ValueError(f"{who}: sample_weight must have shape ({n},), got {sw.shape}")
        if not (np.issubdtype(sw.dtype, np.number) or sw.dtype == np.bool_) or np.iscomplexobj(sw):
            raise TypeError(f"{who}: sample_weight must be real numbers, got dtype {sw.dtype}")
        sw = as_contiguous(sw, self._dtype)
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError(f"{who}: sample_weight must be finite and non-negative")
        return sw

    def _targets(self, loss: Loss, y: Any, n: int, who: str):
        """(native spec or None, int64 class targets or None, value targets or None, targets for Python)."""
        C = self._network_out()
        native = loss._native()
        if native is not None and native[0] in (NET_CE, NET_NLL):
            y_arr = _array(who, "y", y)
            if y_arr.ndim == 2 and y_arr.shape == (n, C) and C > 1 and y_arr.dtype.kind == "f":
                return None, None, None, y_arr   # probability targets: the Python path
            yi = self._class_targets(y, n, C, native[5], who)
            return native, yi, None, yi
        if native is not None:
            from ..losses._elementwise import HINGE, SQUARED_HINGE

            yv = self._value_targets(y, n, C, who, hinge=native[1] in (HINGE, SQUARED_HINGE))
            return native, None, yv, yv
        y_arr = _array(who, "y", y)
        if y_arr.shape[:1] != (n,):
            raise ValueError(f"{who}: y has {y_arr.shape[0] if y_arr.ndim else 0} samples, x has {n}")
        if y_arr.ndim == 1 and C == 1 and y_arr.dtype.kind == "f":
            y_arr = y_arr.reshape(n, 1)
        return None, None, None, y_arr

    def _network_out(self) -> int:
        w = self._widths()
        if not w:
            raise ValueError("this model has no Dense layer: its output width depends on the input")
        return w[-1]

    # -- evaluation -----------------------------------------------------------
    def _accuracy(self, out: np.ndarray, y: np.ndarray, loss: Optional[Loss]) -> float:
        if out.shape[0] == 0:
            return float("nan")
        name = loss._fn.__name__ if loss is not None else ""
        if out.shape[1] > 1:
            pred = out.argmax(axis=1)
            y = np.asarray(y)
            if y.ndim == 2 and y.shape == out.shape:
                return float(np.mean(pred == y.argmax(axis=1)))
            y = y.reshape(-1)
            keep = np.ones(y.shape, bool)
            if loss is not None and "ignore_index" in loss._fn.__signature__.parameters:
                ignore = loss.params.get("ignore_index", -100)
                keep = y != ignore
            return float(np.mean(pred[keep] == y[keep])) if keep.any() else float("nan")
        logits = name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss", "hinge_loss",
                          "squared_hinge_loss")
        pm1 = name in ("hinge_loss", "squared_hinge_loss")
        yv = np.asarray(y, dtype=np.float64).reshape(out.shape)
        if pm1 and yv.size and np.all((yv == 0) | (yv == 1)):
            yv = yv * 2 - 1
        pred = out >= (0.0 if logits else 0.5)
        truth = yv > 0 if pm1 else yv >= 0.5
        return float(np.mean(pred == truth))

    @_locked
    def evaluate(self, x: Any, y: Any, loss: Any = None, metrics: Sequence[str] = ("accuracy",),
                 batch_size: Optional[int] = None, sample_weight: Any = None) -> Dict[str, float]:
        """Loss (and metrics) of the model on (x, y) in inference mode.

        loss: as in ``fit``; default: the loss of the last ``fit``. metrics:
        names among 'accuracy' (argmax against class labels or one-hot rows;
        a threshold for one output: 0 for logits losses, 0.5 otherwise).
        Returns ``{'loss': ..., 'accuracy': ...}``.
        """
        who = "evaluate"
        loss_obj = get_loss(loss if loss is not None else self.loss)
        x2 = self._prepare_x(x, who)
        n = x2.shape[0]
        _, _, _, yp = self._targets(loss_obj, y, n, who)
        sw = self._sample_weight(sample_weight, n, who)
        out = self.predict(x2, batch_size)
        if sw is None:
            value = loss_obj(out, yp)
        else:
            value, _ = loss_obj.value_and_grad(out, yp, sample_weight=sw)
        logs = {"loss": float(value)}
        for m in self._metric_names(metrics, who):
            logs[m] = self._accuracy(out, yp, loss_obj)
        return logs

    def score(self, x: Any, y: Any) -> float:
        """Accuracy on (x, y) (scikit-learn's name)."""
        return self._accuracy(self.predict(x), np.asarray(y), self.loss)

    @staticmethod
    def _metric_names(metrics: Any, who: str) -> List[str]:
        if metrics is None:
            return []
        if isinstance(metrics, str):
            metrics = [metrics]
        out = []
        for m in metrics:
            if m in ("accuracy", "acc"):
                out.append("accuracy")
            else:
                raise ValueError(f"{who}: unknown metric {m!r} (available: 'accuracy')")
        return out

    # -- training -------------------------------------------------------------
    def _bind_optimizer(self, optimizer: Any):
        opt = get_optimizer(optimizer if optimizer is not None else (self.optimizer or "adam"))
        if opt._core is None:
            opt.attach([self._flat], [self._flat_grad])
        ours = all(np.may_share_memory(p, self._flat) for p in opt._params) and \
            all(np.may_share_memory(g, self._flat_grad) for g in opt._grads)
        if not ours:
            raise ValueError("the optimizer is attached to arrays that are not this model's parameters and "
                             "gradients; create a new optimizer (or pass the model to it)")
        self.optimizer = opt
        return opt

    def _start_task(self, net, x2, loss_obj, y, sw, opt, who):
        native, yi, yv, yp = self._targets(loss_obj, y, x2.shape[0], who)
        plist, glist = list(opt._params), list(opt._grads)
        if native is None:
            net.set_task(x2, None, None, None, -1, 0, 0.0, 0.0, None, -100, 0.0, opt._core, plist, glist)
        else:
            kind, ew, p0, p1, cw, ignore, eps = native
            if cw is not None:
                cw = as_contiguous(cw, self._dtype)
                if cw.shape != (net.out_features,):
                    raise ValueError(f"{who}: class weight must have shape ({net.out_features},), got {cw.shape}")
            net.set_task(x2, yi, yv, sw, kind, ew, p0, p1, cw, ignore, eps, opt._core, plist, glist)
        return native, yp

    @_locked
    def train_on_batch(self, x: Any, y: Any, loss: Any = None, optimizer: Any = None,
                       sample_weight: Any = None) -> float:
        """One optimizer step on the batch (x, y); returns the batch's loss.

        loss / optimizer: as in ``fit`` (default: those of the last call)."""
        who = "train_on_batch"
        loss_obj = get_loss(loss if loss is not None else self.loss)
        if loss_obj.n_inputs != 2 or not loss_obj._prediction_target:
            raise ValueError(f"train_on_batch: {loss_obj.name} does not take (prediction, target): write a "
                             "loop with forward/backward for this one")
        x2 = self._prepare_x(x, who, finite=True)
        n = x2.shape[0]
        sw = self._sample_weight(sample_weight, n, who)
        opt = self._bind_optimizer(optimizer)
        self.loss = loss_obj
        net = self._network(x2.shape[1])
        idx = np.arange(n, dtype=np.int64)
        native, yp = self._start_task(net, x2, loss_obj, y, sw, opt, who)
        try:
            if native is not None:
                value = net.train_batch(idx, 0, n)[0]
            else:
                out = net.forward_batch(idx, 0, n, True)
                value, g = loss_obj.value_and_grad(out, yp, sample_weight=sw)
                net.backward_update(as_contiguous(g, self._dtype))
        finally:
            net.clear_task()
        self._net = None
        return float(value)

    @_locked
    def fit(self, x: Any, y: Any, loss: Any = None, optimizer: Any = "adam", epochs: int = 1, batch_size: int = 32,
            validation_data: Optional[tuple] = None, validation_split: float = 0.0, shuffle: bool = True,
            seed: Optional[int] = None, callbacks: Optional[Sequence[Callback]] = None, verbose: Any = "auto",
            sample_weight: Any = None, metrics: Optional[Sequence[str]] = None) -> History:
        """Train the model with mini-batch gradient descent.

        Parameters
        ----------
        x : (n_samples, n_features) array (or (n_samples, ...) with a leading Flatten)
        y : targets: class indices for cross_entropy / nll, values of the
            output's shape for regression and binary losses
        loss : str, Loss or nnmat.losses function
            e.g. 'cross_entropy', 'mse', ``CrossEntropyLoss(label_smoothing=0.1)``.
        optimizer : name ('adam', 'sgd', 'adamw') or an nnmat.nn.optim optimizer
        epochs, batch_size : int
        validation_data : (x_val, y_val) or (x_val, y_val, sample_weight_val)
        validation_split : float in [0, 1): the last fraction of (x, y) is held out
        shuffle : reshuffle the training rows every epoch
        seed : seed of the shuffling (same seed, same run, bitwise, on any thread count)
        callbacks : e.g. ``[EarlyStopping(patience=3)]``
        verbose : 0 silent; 1 progress bar; 2 one line per epoch; 'auto' a
            progress bar that appears only when the fit takes over a second
        sample_weight : (n_samples,) non-negative weights
        metrics : e.g. ['accuracy']

        Returns
        -------
        History, whose ``history`` maps 'loss' (and 'accuracy', 'val_loss', ...)
        to per-epoch values.

        Every input is validated before the first step. A batch's forward pass,
        loss, backward pass and optimizer update run in one C++ call for the
        common losses, reusing the same buffers every batch. Ctrl-C stops
        between two batches and leaves the model consistent (then re-raises).
        """
        who = "fit"
        loss_obj = get_loss(loss if loss is not None else self.loss)
        if loss_obj.n_inputs != 2 or not loss_obj._prediction_target:
            raise ValueError(f"fit: {loss_obj.name} takes {loss_obj.n_inputs} predicted or target inputs, not "
                             "(prediction, target): write a loop with forward/backward for this one")
        epochs = _positive_int(epochs, "epochs", who)
        batch_size = _positive_int(batch_size, "batch_size", who)
        if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        if validation_split and validation_data is not None:
            raise ValueError("fit: pass validation_data or validation_split, not both")
        if verbose not in (0, 1, 2, "auto", False, True):
            raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        metric_names = self._metric_names(metrics, who)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be nnmat.nn.Callback instances, got {cb!r}")

        x2 = self._prepare_x(x, who, finite=True)
        n_all = x2.shape[0]
        y_all = _array(who, "y", y)
        if y_all.ndim == 0 or y_all.shape[0] != n_all:
            raise ValueError(f"fit: x has {n_all} samples but y has "
                             f"{y_all.shape[0] if y_all.ndim else 'no'} samples")
        sw_all = self._sample_weight(sample_weight, n_all, who)
        val = None
        if validation_split:
            n_val = int(n_all * validation_split)
            if n_val == 0 or n_val == n_all:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {n_all} samples")
            n_tr = n_all - n_val
            val = (x2[n_tr:], y_all[n_tr:], None if sw_all is None else sw_all[n_tr:])
            x2, y_all = x2[:n_tr], y_all[:n_tr]
            sw_all = None if sw_all is None else sw_all[:n_tr]
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            vx = self._prepare_x(validation_data[0], "fit (validation_data)", finite=True)
            vsw = None if len(validation_data) == 2 else validation_data[2]
            val = (vx, validation_data[1], vsw)
            self._targets(loss_obj, val[1], vx.shape[0], "fit (validation_data)")   # validate now
        n = x2.shape[0]
        if n == 0:
            raise ValueError("fit: no training samples")

        opt = self._bind_optimizer(optimizer)
        self.loss = loss_obj
        net = self._network(x2.shape[1])
        native, yp = self._start_task(net, x2, loss_obj, y_all, sw_all, opt, who)
        rng = np.random.default_rng(seed)
        perm = np.arange(n, dtype=np.int64)
        history = History()
        self.stop_training = False
        for cb in callbacks:
            cb.model = self
        steps = math.ceil(n / batch_size)
        progress = None
        if verbose in (1, True, "auto"):
            progress = Progress(steps * epochs, delay=1.0 if verbose == "auto" else 0.0)
        want_acc = "accuracy" in metric_names
        try:
            for cb in callbacks:
                cb.on_train_begin({})
            for epoch in range(epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(epoch, {})
                if shuffle:
                    rng.shuffle(perm)
                total = weight = 0.0
                correct = counted = 0
                t_epoch = time.perf_counter()
                for b, start in enumerate(range(0, n, batch_size)):
                    cnt = min(batch_size, n - start)
                    if native is not None:
                        value, w, c, k = net.train_batch(perm, start, cnt)
                    else:
                        out = net.forward_batch(perm, start, cnt, True)
                        rows = perm[start:start + cnt]
                        swb = None if sw_all is None else sw_all[rows]
                        value, g = loss_obj.value_and_grad(out, yp[rows], sample_weight=swb)
                        if want_acc:
                            c, k = self._accuracy(out, yp[rows], loss_obj) * cnt, cnt
                        else:
                            c = k = 0
                        net.backward_update(as_contiguous(g, self._dtype))
                        w = float(cnt) if swb is None else float(swb.sum())
                    total += value * w
                    weight += w
                    correct += c
                    counted += k
                    if progress is not None:
                        progress.update(1, f"epoch {epoch + 1}/{epochs} loss {value:.4g}")
                    if callbacks:
                        for cb in callbacks:
                            cb.on_batch_end(b, {"loss": float(value)})
                logs = {"loss": total / weight if weight else float("nan")}
                if want_acc:
                    logs["accuracy"] = correct / counted if counted else float("nan")
                if val is not None:
                    v = self.evaluate(val[0], val[1], loss_obj, metric_names, sample_weight=val[2])
                    logs.update({f"val_{k}": v for k, v in v.items()})
                history.append(epoch, logs)
                text = " ".join(f"{k} {v:.4g}" for k, v in logs.items())
                if progress is not None:
                    progress.set_postfix(text)
                if verbose == 2:
                    print(f"epoch {epoch + 1}/{epochs} {time.perf_counter() - t_epoch:.2f}s {text}", flush=True)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            for cb in callbacks:
                cb.on_train_end(history.history)
        finally:
            net.clear_task()
            if progress is not None:
                progress.close()
        self._net = None
        return history

    # -- description ----------------------------------------------------------
    def summary(self, print_fn: Any = print) -> str:
        """A table of the layers, their output shapes and parameter counts;
        printed with ``print_fn`` (None: not printed) and returned."""
        widths = self._widths()
        rows = [("Layer (type)", "Output shape", "Params")]
        for i, layer in enumerate(self.layers):
            shape = f"(None, {widths[i]})" if widths else "(None, ?)"
            params = sum(p.size for p in layer.parameters())
            rows.append((f"{i}: {layer!r}", shape, f"{params:,}"))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = max(len(r[2]) for r in rows)
        line = "-" * (w0 + w1 + w2 + 4)
        out = [line, f"{rows[0][0]:<{w0}}  {rows[0][1]:<{w1}}  {rows[0][2]:>{w2}}", line]
        out += [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}" for a, b, c in rows[1:]]
        out += [line, f"Total parameters: {self.count_parameters():,} ({self._dtype.name}, "
                      f"{self._flat.nbytes / 1024:.1f} KiB)", line]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def save(self, path: Any, optimizer: Any = None) -> Any:
        """Save the model (and optionally ``optimizer``'s state) to one ``.npz``
        file, without pickle; :func:`nnmat.nn.load` reads it back. See
        :func:`nnmat.nn._io.save_model`."""
        from . import _io

        return _io.save_model(self, path, optimizer)

    def get_config(self) -> Dict[str, Any]:
        return {"dtype": self._dtype.name, "seed": self.seed}

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(l) for l in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]
