"""A small typed program using nnmat's public API; ``tests/test_typing.py`` runs mypy on it.

It is type-checked, never imported by pytest (the file name does not start with test_).
Each ``reveal``-style assignment below states the type a user should get.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import numpy.typing as npt

import nnmat
from nnmat import activations as A
from nnmat import losses as L
from nnmat import nn


def products(a: npt.NDArray[np.float32], w: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    c: np.ndarray = nnmat.gemm(a, w, trans_b=True, alpha=2.0)
    z: np.ndarray = nnmat.linear(a, w, b, activation="gelu")
    m = nnmat.matmul(a, w.T)
    nnmat.gemm(a, w, c, beta=1.0, trans_b=True)
    return float(np.sum(c) + np.sum(z) + np.sum(m))


def activations(z: np.ndarray) -> np.ndarray:
    y: np.ndarray = A.silu(z)
    dz: np.ndarray = A.silu.backward(z, np.ones_like(z))
    s: np.ndarray = A.softmax(z, axis=-1)
    name: str = A.relu.__name__
    assert name == "relu"
    out: np.ndarray = y + dz + s
    return out


def losses(z: np.ndarray, labels: np.ndarray) -> Tuple[float, np.ndarray]:
    value: Any = L.cross_entropy(z, labels)
    pair: Tuple[Any, Any] = L.cross_entropy.value_and_grad(z, labels, reduction="sum")
    grad: Any = L.mse_loss.grad(z, np.zeros_like(z))
    fn: L.LossFunction = L.huber_loss
    return float(value) + float(pair[0]) + float(fn(z, z)), np.asarray(grad)


def network(x: np.ndarray, y: np.ndarray) -> Dict[str, float]:
    model = nn.Sequential([nn.Dense(8, 16, activation="relu"), nn.Dense(16, 3)], seed=0)
    opt: nn.optim.Optimizer = nn.optim.Adam(lr=1e-3)
    history: nn.History = model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=4, verbose=0)
    out: np.ndarray = model.predict(x)
    params: List[np.ndarray] = model.parameters()
    assert out.shape[0] == x.shape[0] and params and history is not None
    result: Dict[str, float] = model.evaluate(x, y, loss=nn.CrossEntropyLoss())
    return result


def configuration() -> str:
    n: int = nnmat.get_num_threads()
    with nnmat.threads(1):
        nnmat.set_num_threads(max(1, n))
    info: Dict[str, Any] = nnmat.config()
    version: str = nnmat.__version__
    return f"{version} {info['isa']}"
