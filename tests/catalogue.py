"""The registry of nnmat's public functions for tests/test_bad_input.py.

Each :class:`Entry` knows how to build VALID arguments (``arrays``: name ->
(shape of (n, c), kind), ``kwargs``: fixed non-array arguments), how to call the
function (always by keyword), which of its arguments may be written to (``out``),
which array arguments may legitimately differ in shape from the others
(``free_shape``), and its bad parameter values (``params``).

Kinds of array data (``make``): 'f' normal floats, 'p' probabilities in (0.05, 0.95),
'pos' positive floats, 'bin' 0/1 floats, 'sym' -1/+1 floats, 'lab' integer class
labels in [0, min(c, 2)) with label[0] == 0, 'box' boxes (x1, y1, x2, y2) with x2 >= x1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import zlib

import numpy as np

import nnmat
from nnmat import activations as A
from nnmat import losses as L
from nnmat import nn

Shape = Callable[[int, int], Tuple[int, ...]]

N, C = 3, 4   # the default tiny sizes


def make(shape: Tuple[int, ...], kind: str, c: int = C) -> np.ndarray:
    """Valid data of `kind` (deterministic for a given shape and kind; labels below min(c, 2))."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, kind)).encode()))
    if kind == "f":
        return rng.standard_normal(shape)
    if kind == "p":
        return rng.uniform(0.05, 0.95, shape)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "bin":
        return (rng.uniform(size=shape) < 0.5).astype(np.float64)
    if kind == "sym":
        return np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
    if kind == "lab":
        k = max(min(c, 2), 1)
        lab = rng.integers(0, k, shape).astype(np.int64)
        if lab.size:
            lab.flat[0] = 0
        return lab
    if kind == "box":
        lo = rng.uniform(0, 5, shape[:-1] + (2,))
        wh = rng.uniform(0.5, 3, shape[:-1] + (2,))
        return np.concatenate([lo, lo + wh], axis=-1)[..., : shape[-1]].copy()
    raise ValueError(kind)


def scalar_of(kind: str):
    """One valid element of `kind` (for zero-stride views)."""
    return {"f": 0.5, "p": 0.5, "pos": 1.0, "bin": 1.0, "sym": 1.0, "lab": 0}[kind]


@dataclass
class Entry:
    name: str                       # test id, e.g. "mse_loss.grad"
    fn: Callable[..., Any]
    fname: str                      # what its error messages must name
    arrays: Dict[str, Tuple[Shape, str]]
    kwargs: Dict[str, Any] = field(default_factory=dict)
    out: Optional[str] = None       # name of its output argument (out=, gemm's c)
    free_shape: Sequence[str] = ()  # array args whose shape may differ from the others'
    params: List[Tuple[Dict[str, Any], type, str]] = field(default_factory=list)
    returns_value: bool = True      # its result holds a forward value (NaN must propagate)
    nan_free: Sequence[str] = ()    # args whose NaN need not reach the value
    mutable: Sequence[str] = ()     # args the function may write to
    no_empty_c: bool = False        # the c dimension is fixed (boxes)
    mismatch_axis: Dict[str, int] = field(default_factory=dict)  # axis to resize for a mismatch (default -1)
    finite_only: bool = False       # refuses NaN/inf with a clear ValueError (training entry points)

    def build(self, n: int = N, c: int = C, mk: Callable = None) -> Dict[str, Any]:
        mk = mk or make
        return {k: mk(shape(n, c), kind, c) for k, (shape, kind) in self.arrays.items()}

    def call(self, args: Dict[str, Any], **extra) -> Any:
        kw = dict(self.kwargs)
        kw.update(extra)
        return self.fn(**args, **kw)


def _fixed(n, c):
    return (n, c)


def _rows(n, c):
    return (n,)


def _cols(n, c):
    return (c,)


def _box(n, c):
    return (n, 4)


def _loss_entries(name: str, arrays, kwargs=None, params=(), free_shape=(), nan_free=(), no_empty_c=False,
                  reduction=True, mismatch_axis=None):
    f = getattr(L, name)
    params = list(params)
    if reduction:
        params += [({"reduction": "avg"}, ValueError, "reduction"), ({"reduction": None}, ValueError, "reduction")]
    # the upstream gradient of .grad / .value_and_grad: wrong shape, not a number
    gparams = params + [({"grad_output": np.ones(7)}, ValueError, "grad_output"),
                        ({"grad_output": "x"}, (TypeError, ValueError), "grad_output"),
                        ({"grad_output": np.ones(7, complex)}, (TypeError, ValueError), "grad_output")]
    out = []
    for suffix, fn, rv in (("", f, True), (".grad", f.grad, False), (".value_and_grad", f.value_and_grad, True)):
        out.append(Entry(name + suffix, fn, name, dict(arrays), dict(kwargs or {}),
                         params=params if suffix == "" else gparams,
                         free_shape=free_shape, returns_value=rv, nan_free=nan_free, no_empty_c=no_empty_c,
                         mismatch_axis=dict(mismatch_axis or {})))
    return out


def _activation_entries(name: str, params=(), softmax_like=False):
    f = getattr(A, name)
    params = list(params)
    if softmax_like:
        params += [({"axis": 5}, (ValueError, IndexError), "axis"), ({"axis": 1.5}, TypeError, "axis")]
    fwd = Entry(name, f, name, {"x": (_fixed, "f")}, out="out", params=params)
    bwd = Entry(name + ".backward", f.backward, name, {"x": (_fixed, "f"), "grad_output": (_fixed, "f")},
                params=params, returns_value=False)
    return [fwd, bwd]


def _entries() -> List[Entry]:
    E: List[Entry] = []
    # -------------------------------------------------------------- GEMM
    E.append(Entry("matmul", nnmat.matmul, "matmul", {"a": (_fixed, "f"), "b": (lambda n, c: (c, c), "f")},
                   out="out", mismatch_axis={"b": 0}))
    E.append(Entry("gemm", nnmat.gemm, "gemm", {"a": (_fixed, "f"), "b": (lambda n, c: (c, c), "f")},
                   out="c", mismatch_axis={"b": 0},
                   params=[({"alpha": "x"}, TypeError, "alpha"), ({"beta": None}, TypeError, "beta")]))
    E.append(Entry("linear", nnmat.linear, "linear",
                   {"x": (_fixed, "f"), "weight": (lambda n, c: (3, c), "f"), "bias": (lambda n, c: (3,), "f")},
                   params=[({"activation": "nope"}, ValueError, "activation")]))
    # -------------------------------------------------------------- activations
    bad_slope = [({"negative_slope": "x"}, TypeError, "negative_slope")]
    act_params = {
        "leaky_relu": bad_slope,
        "softplus": [({"beta": -1.0}, ValueError, "beta")],
        "hardtanh": [({"min_val": 2.0}, ValueError, "min_val")],
        "gelu": [({"approximate": "fast"}, ValueError, "approximate")],
        "elu": [({"alpha": "x"}, TypeError, "alpha")],
    }
    for name in A.__all__[1:]:
        E += _activation_entries(name, act_params.get(name, ()), name in ("softmax", "log_softmax", "sparsemax"))
    # -------------------------------------------------------------- losses
    ff = {"input": (_fixed, "f"), "target": (_fixed, "f")}
    ffw = dict(ff, weight=(_fixed, "pos"))
    E += _loss_entries("mse_loss", ffw)
    E += _loss_entries("l1_loss", ffw)
    E += _loss_entries("huber_loss", ffw, params=[({"delta": -1.0}, ValueError, "delta")])
    E += _loss_entries("smooth_l1_loss", ff, params=[({"beta": -1.0}, ValueError, "beta")])
    E += _loss_entries("log_cosh_loss", ff)
    E += _loss_entries("binary_cross_entropy", {"input": (_fixed, "p"), "target": (_fixed, "p"),
                                                "weight": (_fixed, "pos")})
    E += _loss_entries("binary_cross_entropy_with_logits",
                       {"input": (_fixed, "f"), "target": (_fixed, "p"), "weight": (_fixed, "pos"),
                        "pos_weight": (_cols, "pos")})
    E += _loss_entries("hinge_loss", {"input": (_fixed, "f"), "target": (_fixed, "sym")})
    E += _loss_entries("squared_hinge_loss", {"input": (_fixed, "f"), "target": (_fixed, "sym")})
    E += _loss_entries("sigmoid_focal_loss", {"inputs": (_fixed, "f"), "targets": (_fixed, "bin")},
                       params=[({"alpha": 2.0}, ValueError, "alpha"), ({"gamma": -1.0}, ValueError, "gamma")])
    E += _loss_entries("dice_loss", {"input": (_fixed, "p"), "target": (_fixed, "bin")},
                       params=[({"eps": -1.0}, ValueError, "eps"), ({"axis": 5}, ValueError, "axis")])
    E += _loss_entries("soft_dice_loss", {"input": (lambda n, c: (n, c, 2), "f"),
                                          "target": (lambda n, c: (n, c, 2), "bin")},
                       {"mode": "multilabel"},
                       params=[({"mode": "x"}, ValueError, "mode"), ({"eps": 0.0}, ValueError, "eps"),
                               ({"smooth": -1.0}, ValueError, "smooth")], reduction=False)
    E += _loss_entries("cross_entropy", {"input": (_fixed, "f"), "target": (_rows, "lab"), "weight": (_cols, "pos")},
                       params=[({"label_smoothing": 2.0}, ValueError, "label_smoothing"),
                               ({"ignore_index": 1.5}, TypeError, "ignore_index")])
    E += _loss_entries("nll_loss", {"input": (_fixed, "f"), "target": (_rows, "lab"), "weight": (_cols, "pos")},
                       params=[({"ignore_index": "x"}, TypeError, "ignore_index")])
    E += _loss_entries("kl_div", {"input": (_fixed, "f"), "target": (_fixed, "p")},
                       params=[({"log_target": "yes"}, TypeError, "log_target")])
    E += _loss_entries("kl_divergence", {"input": (_fixed, "p"), "target": (_fixed, "p")})
    E += _loss_entries("sparsemax_loss", {"input": (_fixed, "f"), "target": (_fixed, "p")})
    E += _loss_entries("gan_discriminator_loss", {"real": (_fixed, "f"), "fake": (_fixed, "f")},
                       params=[({"label_smoothing": 2.0}, ValueError, "label_smoothing")],
                       free_shape=("real", "fake"))
    E += _loss_entries("gan_generator_loss", {"fake": (_fixed, "f")}, params=[({"mode": "x"}, ValueError, "mode")])
    E += _loss_entries("wasserstein_critic_loss", {"real": (_fixed, "f"), "fake": (_fixed, "f")},
                       free_shape=("real", "fake"))
    E += _loss_entries("wasserstein_generator_loss", {"fake": (_fixed, "f")})
    E += _loss_entries("gradient_penalty", {"grads": (_fixed, "f")},
                       params=[({"target": -1.0}, ValueError, "target"), ({"eps": -1.0}, ValueError, "eps")])
    E += _loss_entries("lsgan_discriminator_loss", {"real": (_fixed, "f"), "fake": (_fixed, "f")},
                       free_shape=("real", "fake"))
    E += _loss_entries("lsgan_generator_loss", {"fake": (_fixed, "f")})
    for name in ("iou_loss", "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"):
        E += _loss_entries(name, {"boxes1": (_box, "box"), "boxes2": (_box, "box")},
                           params=[({"eps": -1.0}, ValueError, "eps")], no_empty_c=True)
    E += _loss_entries("triplet_margin_loss", {"anchor": (_fixed, "f"), "positive": (_fixed, "f"),
                                               "negative": (_fixed, "f")},
                       params=[({"margin": -1.0}, ValueError, "margin"), ({"p": 0}, ValueError, "p")])
    E += _loss_entries("contrastive_loss", {"x1": (_fixed, "f"), "x2": (_fixed, "f"), "target": (_rows, "bin")},
                       params=[({"margin": -1.0}, ValueError, "margin")])
    E += _loss_entries("batch_contrastive_loss", {"embeddings": (_fixed, "f"), "labels": (_rows, "lab")},
                       params=[({"normalize": "yes"}, TypeError, "normalize")], reduction=False,
                       mismatch_axis={"embeddings": 0})
    E += _loss_entries("angular_loss", {"embeddings": (_fixed, "f"), "labels": (_rows, "lab")},
                       params=[({"alpha": 100.0}, ValueError, "alpha")], reduction=False,
                       mismatch_axis={"embeddings": 0})
    E += _loss_entries("center_loss", {"features": (_fixed, "f"), "labels": (_rows, "lab"),
                                       "centers": (lambda n, c: (2, c), "f")})
    E.append(Entry("center_update", L.center_update, "center_update",
                   {"features": (_fixed, "f"), "labels": (_rows, "lab"), "centers": (lambda n, c: (2, c), "f")},
                   params=[({"alpha": "x"}, TypeError, "alpha")]))
    E += _loss_entries("perceptual_loss", ff, {"features": [nn.Dense(C, 3, dtype=np.float64, seed=0)]},
                       params=[({"layer_weights": [1.0, 2.0]}, ValueError, "layer_weights")], reduction=False,
                       no_empty_c=True)   # the feature layer fixes the width
    # -------------------------------------------------------------- nnmat.nn
    E += _nn_entries()
    return E


def _model():
    return nn.Sequential([nn.Dense(C, 5, "relu", dtype=np.float64), nn.Dense(5, 2, dtype=np.float64)], seed=0)


def _dense_forward(x):
    return nn.Dense(C, 3, "tanh", dtype=np.float64, seed=0).forward(x)


def _dense_backward(x, grad_output):
    d = nn.Dense(C, 3, "tanh", dtype=np.float64, seed=0)
    d.forward(x, training=True)
    return d.backward(grad_output), d.weight_grad.copy()


def _seq_forward(x):
    return _model().forward(x)


def _seq_backward(x, grad_output):
    m = _model()
    m.forward(x, training=True)
    return m.backward(grad_output), m.flat_gradients.copy()


def _seq_predict(x):
    return _model().predict(x)


def _seq_fit(x, y):
    m = _model()
    m.fit(x, y, loss="cross_entropy", optimizer=nn.optim.SGD(lr=0.1), epochs=1, batch_size=2, shuffle=False,
          verbose=0)
    return m.flat_parameters.copy()


def _seq_evaluate(x, y):
    return _model().evaluate(x, y, loss="cross_entropy")


def _seq_train_on_batch(x, y):
    m = _model()
    v = m.train_on_batch(x, y, loss="cross_entropy", optimizer=nn.optim.SGD(lr=0.1))
    return v, m.flat_parameters.copy()


def _nn_entries() -> List[Entry]:
    xy = {"x": (_fixed, "f"), "y": (_rows, "lab")}
    return [
        Entry("Dense.forward", _dense_forward, "Dense", {"x": (_fixed, "f")}),
        Entry("Dense.backward", _dense_backward, "Dense",
              {"x": (_fixed, "f"), "grad_output": (lambda n, c: (n, 3), "f")}, returns_value=False),
        Entry("Sequential.forward", _seq_forward, "Sequential.forward", {"x": (_fixed, "f")}),
        Entry("Sequential.backward", _seq_backward, "Sequential.",
              {"x": (_fixed, "f"), "grad_output": (lambda n, c: (n, 2), "f")}, returns_value=False),
        Entry("Sequential.predict", _seq_predict, "predict", {"x": (_fixed, "f")}),
        Entry("Sequential.fit", _seq_fit, "fit", dict(xy), returns_value=False, finite_only=True),
        Entry("Sequential.evaluate", _seq_evaluate, "evaluate", dict(xy)),
        Entry("Sequential.train_on_batch", _seq_train_on_batch, "train_on_batch", dict(xy), finite_only=True),
    ]


ENTRIES: List[Entry] = _entries()
BY_NAME: Dict[str, Entry] = {e.name: e for e in ENTRIES}
