"""Saving and loading Sequential models: one ``.npz`` file, no pickle.

Layout of the file (``np.savez``; every entry a plain numeric array except one):

* ``<i>.<name>`` -- each parameter under its ``Sequential.named_parameters()``
  name (``0.weight``, ``0.bias``, ...), in the model's dtype;
* ``optimizer.<key>`` -- the array entries of the optimizer's ``state_dict()``
  (``optimizer.sizes``, ``optimizer.exp_avg.0``, ...), when one was saved;
* ``__nnmat__`` -- a 0-d unicode array holding a JSON description::

      {"format": "nnmat.nn.model", "format_version": 1, "nnmat_version": "...",
       "model": {"class": "Sequential", "config": {"dtype": "float32", "seed": null}},
       "layers": [{"class": "Dense", "config": {..., "activation": {"class": "ReLU", "config": {}}}},
                  {"class": "Dropout", "config": {"p": 0.5, "seed": 123}}, ...],
       "parameters": [{"name": "0.weight", "shape": [4, 3], "dtype": "float32"}, ...],
       "engine": {"forward_counts": {"3": 10}},
       "optimizer": null | {"class": "Adam", "scalars": {"kind": "adam", "step": 10, "lr": 0.001, ...},
                            "arrays": ["sizes", "exp_avg.0", ...]}}

``engine.forward_counts`` is the number of training forwards each engine
network has run (per input width): dropout's masks are keyed by it, so a
loaded model continues training with the masks the original would have drawn.

Loading rebuilds the layers from the registry ``_layers.LAYER_CLASSES`` (a
class name is never evaluated or imported) and copies the arrays in; anything
unexpected is a ``ValueError`` that names the problem.
"""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import _layers
from . import optim as _optim

FORMAT = "nnmat.nn.model"
FORMAT_VERSION = 1
META_KEY = "__nnmat__"
OPT_PREFIX = "optimizer."

_OPTIMIZER_CLASSES = {c.__name__: c for c in (_optim.SGD, _optim.Adam, _optim.AdamW)}


# ---------------------------------------------------------------------------
# Describing a model

def describe_layer(layer: _layers.Layer) -> Dict[str, Any]:
    """{"class": name, "config": get_config()} of one layer (must be a registered class)."""
    name = type(layer).__name__
    if _layers.LAYER_CLASSES.get(name) is not type(layer):
        raise TypeError(f"save: layer class {name} is not a registered nnmat.nn layer; it cannot be saved")
    return {"class": name, "config": layer.get_config()}


def _model_layers(model: Any) -> List[_layers.Layer]:
    from ._model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"expected an nnmat.nn.Sequential, got {type(model).__name__}")
    return model.layers


def describe(model: Any) -> Dict[str, Any]:
    """The JSON-serialisable description of ``model`` (without the optimizer)."""
    from .. import __version__

    layers = _model_layers(model)
    counts = {str(w): int(net.forward_count) for w, net in sorted(model._nets.items()) if net.forward_count}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nnmat_version": str(__version__),
        "model": {"class": type(model).__name__, "config": model.get_config()},
        "layers": [describe_layer(layer) for layer in layers],
        "parameters": [{"name": n, "shape": list(v.shape), "dtype": v.dtype.name}
                       for n, v in model.named_parameters()],
        "engine": {"forward_counts": counts},
    }


# ---------------------------------------------------------------------------
# Rebuilding a model (shared with the gradient check)

def _build_layer(i: int, desc: Any, dtype: Optional[np.dtype], who: str) -> _layers.Layer:
    if not isinstance(desc, dict) or not isinstance(desc.get("class"), str) \
            or not isinstance(desc.get("config", {}), dict):
        raise ValueError(f"{who}: layer {i}: description must be {{'class': name, 'config': {{...}}}}, got {desc!r}")
    name = desc["class"]
    cls = _layers.LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"{who}: layer {i}: unknown layer class {name!r} "
                         f"(known: {', '.join(sorted(_layers.LAYER_CLASSES))})")
    config = dict(desc.get("config", {}))
    if cls is _layers.Dense:
        act = config.get("activation")
        if act is not None:
            if not isinstance(act, dict) or not isinstance(act.get("class"), str):
                raise ValueError(f"{who}: layer {i}: Dense activation must be None or "
                                 f"{{'class': name, 'config': {{...}}}}, got {act!r}")
            act_cls = _layers.LAYER_CLASSES.get(act["class"])
            if act_cls is None or not issubclass(act_cls, _layers._ElementwiseActivation):
                raise ValueError(f"{who}: layer {i}: unknown Dense activation class {act['class']!r}")
            act_cfg = act.get("config", {})
            if not isinstance(act_cfg, dict):
                raise ValueError(f"{who}: layer {i}: activation config must be a dict, got {act_cfg!r}")
            try:
                config["activation"] = act_cls(**act_cfg)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{who}: layer {i}: bad config for activation {act['class']}: {e}") from e
        if dtype is not None:
            config["dtype"] = dtype.name
    try:
        return cls(**config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{who}: layer {i}: bad config for {name}: {e}") from e


def build(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, dtype: Any = None,
          who: str = "load", exact: bool = True):
    """A Sequential from a description (``describe``'s form) and its parameter arrays.

    dtype: None keeps the described dtype (arrays must then have exactly that
    dtype when ``exact``); a float dtype builds the model in it and casts the
    arrays. ``arrays`` must hold exactly the model's parameter names.
    """
    from ._model import Sequential

    model_desc = meta.get("model")
    if not isinstance(model_desc, dict) or model_desc.get("class") != "Sequential" \
            or not isinstance(model_desc.get("config"), dict):
        raise ValueError(f"{who}: the model must be described as {{'class': 'Sequential', 'config': {{...}}}}, "
                         f"got {model_desc!r}")
    mcfg = model_desc["config"]
    unknown = set(mcfg) - {"dtype", "seed"}
    if unknown:
        raise ValueError(f"{who}: unknown Sequential config keys {sorted(unknown)}")
    try:
        saved_dt = _layers._as_dtype(mcfg.get("dtype", "float32"), "Sequential")
        seed = _layers._seed(mcfg.get("seed"), "Sequential")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{who}: bad Sequential config: {e}") from e
    dt = saved_dt if dtype is None else _layers._as_dtype(dtype, who)
    layer_descs = meta.get("layers")
    if not isinstance(layer_descs, list):
        raise ValueError(f"{who}: 'layers' must be a list of layer descriptions")
    layers = [_build_layer(i, d, dt if dtype is not None else None, who) for i, d in enumerate(layer_descs)]
    try:
        # seed=None: a seed would re-draw the weights and Dropout seeds; it is restored below
        model = Sequential(layers, dtype=dt)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{who}: the layers do not form a valid Sequential: {e}") from e
    model.seed = seed

    named = model.named_parameters()
    expected = {n for n, _ in named}
    described = meta.get("parameters")
    if described is not None:
        if not isinstance(described, list) or not all(isinstance(p, dict) for p in described):
            raise ValueError(f"{who}: 'parameters' must be a list of {{'name', 'shape', 'dtype'}}")
        for p in described:
            n = p.get("name")
            if n not in expected:
                raise ValueError(f"{who}: the description lists parameter {n!r}, which the layers do not have")
        listed = {p.get("name"): p for p in described}
        for n, v in named:
            p = listed.get(n)
            if p is None:
                raise ValueError(f"{who}: parameter {n!r} of the layers is missing from the description")
            if list(p.get("shape", [])) != list(v.shape):
                raise ValueError(f"{who}: parameter {n!r} is described with shape {tuple(p.get('shape', []))}, "
                                 f"the layers give {v.shape}")
            if exact and p.get("dtype") != saved_dt.name:
                raise ValueError(f"{who}: parameter {n!r} is described as {p.get('dtype')}, the model is "
                                 f"{saved_dt.name}")
    missing = [n for n, _ in named if n not in arrays]
    if missing:
        raise ValueError(f"{who}: missing parameter array(s) {missing}")
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ValueError(f"{who}: unexpected array(s) {extra} (not parameters of the described model)")
    for n, v in named:
        a = arrays[n]
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{who}: parameter {n!r} is not an array")
        if a.shape != v.shape:
            raise ValueError(f"{who}: parameter {n!r} has shape {a.shape}, expected {v.shape}")
        if exact and a.dtype != saved_dt:
            raise ValueError(f"{who}: parameter {n!r} has dtype {a.dtype}, expected {saved_dt.name}")
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{who}: parameter {n!r} has non-numeric dtype {a.dtype}")
        v[...] = a
    return model


def clone(model: Any, dtype: Any = None):
    """An independent copy of ``model`` rebuilt from its layers' configs (as
    ``load`` does), optionally in another float dtype (parameters are cast)."""
    meta = describe(model)
    arrays = {n: v for n, v in model.named_parameters()}
    return build(meta, arrays, dtype=dtype, who="clone", exact=False)


# ---------------------------------------------------------------------------
# Optimizer state

def _optimizer_entries(model: Any, optimizer: Any) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    name = type(optimizer).__name__
    if _OPTIMIZER_CLASSES.get(name) is not type(optimizer):
        raise TypeError(f"save: optimizer must be an nnmat.nn.optim SGD, Adam or AdamW, got {name}")
    if optimizer.attached:
        ours = all(np.may_share_memory(p, model.flat_parameters) for p in optimizer._params)
        if not ours:
            raise ValueError("save: the optimizer updates arrays that are not this model's parameters")
        state = optimizer.state_dict()
    else:
        state = {"kind": optimizer._kind, **optimizer._hyper_kwargs()}
    scalars: Dict[str, Any] = {}
    arrays: Dict[str, np.ndarray] = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            arrays[k] = v
        elif isinstance(v, (bool, np.bool_)):
            scalars[k] = bool(v)
        elif isinstance(v, (int, np.integer)):
            scalars[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            scalars[k] = float(v)
        elif isinstance(v, str):
            scalars[k] = v
        else:
            raise TypeError(f"save: optimizer state entry {k!r} has unsupported type {type(v).__name__}")
    return {"class": name, "scalars": scalars, "arrays": sorted(arrays)}, arrays


def _restore_optimizer(model: Any, desc: Any, arrays: Mapping[str, np.ndarray], who: str):
    if not isinstance(desc, dict) or not isinstance(desc.get("class"), str) \
            or not isinstance(desc.get("scalars"), dict) or not isinstance(desc.get("arrays"), list):
        raise ValueError(f"{who}: bad optimizer description {desc!r}")
    cls = _OPTIMIZER_CLASSES.get(desc["class"])
    if cls is None:
        raise ValueError(f"{who}: unknown optimizer class {desc['class']!r} (known: SGD, Adam, AdamW)")
    listed = set(desc["arrays"])
    missing = sorted(listed - set(arrays))
    if missing:
        raise ValueError(f"{who}: missing optimizer array(s) {[OPT_PREFIX + k for k in missing]}")
    extra = sorted(set(arrays) - listed)
    if extra:
        raise ValueError(f"{who}: unexpected optimizer array(s) {[OPT_PREFIX + k for k in extra]}")
    state: Dict[str, Any] = dict(desc["scalars"])
    state.update(arrays)
    opt = cls()
    try:
        if "sizes" not in state:   # saved before being attached: hyper-parameters only
            if state.get("kind") != opt._kind:
                raise ValueError(f"state is for optimizer kind {state.get('kind')!r}, expected {opt._kind!r}")
            for k, v in state.items():
                if k != "kind":
                    if k not in opt._hyper:
                        raise ValueError(f"unknown hyper-parameter {k!r}")
                    opt._set_hyper(k, v)
            return opt
        sizes = [int(s) for s in np.asarray(state["sizes"]).ravel()]
        per_param = [int(p.size) for p in model.parameters()]
        if sizes == [model.count_parameters()]:
            opt.attach([model.flat_parameters], [model.flat_gradients])
        elif sizes == per_param:
            opt.attach(model.parameters(), model.gradients())
        else:
            raise ValueError(f"state is for parameter sizes {sizes}, which match neither the model's flat "
                             f"buffer nor its parameters {per_param}")
        for k in desc["arrays"]:
            if k == "sizes":
                continue
            a = state[k]
            if a.dtype != model.dtype:
                raise ValueError(f"array {OPT_PREFIX + k!r} has dtype {a.dtype}, expected {model.dtype.name}")
        opt.load_state_dict(state)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{who}: bad optimizer state: {e}") from e
    model.optimizer = opt
    return opt


# ---------------------------------------------------------------------------
# Public functions

def _npz_name(path: Any) -> Any:
    if isinstance(path, (str, os.PathLike)):
        p = os.fspath(path)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        return p if p.endswith(".npz") else p + ".npz"
    return path


def save_model(model: Any, path: Any, optimizer: Any = None) -> Any:
    """Save ``model`` (and optionally ``optimizer``'s state) to one ``.npz`` file.

    ``path``: a file name (``.npz`` is appended when missing, as numpy does)
    or a binary file object. The file is written to a temporary name and
    renamed, so an interrupted save never leaves a half-written file under
    ``path``. Returns the name written (the file object for a file object).
    No pickle: ``np.load(path, allow_pickle=False)`` reads every entry.
    """
    meta = describe(model)
    entries: Dict[str, np.ndarray] = {n: np.ascontiguousarray(v) for n, v in model.named_parameters()}
    meta["optimizer"] = None
    if optimizer is not None:
        meta["optimizer"], opt_arrays = _optimizer_entries(model, optimizer)
        for k, a in opt_arrays.items():
            entries[OPT_PREFIX + k] = a
    entries[META_KEY] = np.array(json.dumps(meta, allow_nan=True))
    target = _npz_name(path)
    if not isinstance(target, str):
        np.savez(target, **entries)
        return target
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **entries)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def _read(path: Any) -> Tuple[Dict[str, Any], Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    who = "load"
    if isinstance(path, (str, os.PathLike)) and not os.path.exists(path) and os.path.exists(_npz_name(path)):
        path = _npz_name(path)   # saved as 'name' -> written as 'name.npz'
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{who}: {path!r} is not an nnmat model file (.npz): {e}") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{who}: {path!r} is not an nnmat model file: it holds a single array, not an .npz archive")
    with data:
        if META_KEY not in data.files:
            raise ValueError(f"{who}: {path!r} is not an nnmat model file: no {META_KEY!r} entry")
        try:
            entries = {k: data[k] for k in data.files}
        except (ValueError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise ValueError(f"{who}: {path!r}: unreadable entry (object arrays are never loaded): {e}") from e
    raw = entries.pop(META_KEY)
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise ValueError(f"{who}: {path!r}: {META_KEY!r} must be a 0-d unicode string, got a "
                         f"{raw.dtype} array of shape {raw.shape}")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise ValueError(f"{who}: {path!r}: {META_KEY!r} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{who}: {path!r} is not an nnmat model file (format {fmt!r}, expected {FORMAT!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{who}: {path!r}: unknown format version {version!r} (this nnmat reads version "
                         f"{FORMAT_VERSION}; a newer nnmat may have written it)")
    params = {k: v for k, v in entries.items() if not k.startswith(OPT_PREFIX)}
    opt = {k[len(OPT_PREFIX):]: v for k, v in entries.items() if k.startswith(OPT_PREFIX)}
    return meta, params, opt


def load(path: Any, with_optimizer: bool = False):
    """Load a model written by ``Sequential.save`` / ``save_model``.

    ``path``: a file name (``name`` also finds ``name.npz``, the file
    ``save('name')`` writes) or a binary file object.

    Returns the Sequential, or ``(model, optimizer)`` with
    ``with_optimizer=True`` (``optimizer`` is None when none was saved; when
    one was, it is attached to the loaded model and also set as
    ``model.optimizer``, so ``fit`` / ``train_on_batch`` continue with its state).

    Raises ValueError naming the problem for a file that is not an nnmat
    model, an unknown format version, an unknown layer class, a bad layer
    config (with the layer's index), a missing or unexpected array, or an
    array of the wrong shape or dtype. Never unpickles anything.
    """
    who = "load"
    meta, params, opt_arrays = _read(path)
    model = build(meta, params, who=who)
    counts = meta.get("engine", {}).get("forward_counts", {}) if isinstance(meta.get("engine"), dict) else {}
    if not isinstance(counts, dict):
        raise ValueError(f"{who}: 'engine.forward_counts' must be a mapping")
    for w, c in counts.items():
        try:
            width, count = int(w), int(c)
            if width < 0 or count < 0:
                raise ValueError
            model._network(width).forward_count = count
        except (TypeError, ValueError) as e:
            raise ValueError(f"{who}: bad engine forward count {w!r}: {c!r}") from e
    opt_desc = meta.get("optimizer")
    optimizer = None
    if opt_desc is not None:
        optimizer = _restore_optimizer(model, opt_desc, opt_arrays, who)
    elif opt_arrays:
        raise ValueError(f"{who}: unexpected array(s) {sorted(OPT_PREFIX + k for k in opt_arrays)} "
                         "(no optimizer is described)")
    return (model, optimizer) if with_optimizer else model
