"""Weight initialisers (numpy Generator draws, float64, cast by the caller).

* 'torch': torch.nn.Linear.reset_parameters -- kaiming_uniform_(a=sqrt(5)) on
  the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the
  same interval.
* 'xavier_uniform' / 'xavier_normal' (Glorot & Bengio 2010): bound
  sqrt(6 / (fan_in + fan_out)), std sqrt(2 / (fan_in + fan_out)); zero bias.
* 'he_uniform' / 'he_normal' (He et al. 2015, fan_in, gain sqrt(2)): bound
  sqrt(6 / fan_in), std sqrt(2 / fan_in); zero bias.

The draws are numpy's, not torch's: the same seed gives the same weights in
nnmat on any machine, not the weights torch would draw.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

NAMES = ("torch", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal")


def check_name(init: str, who: str) -> str:
    if not isinstance(init, str) or init not in NAMES:
        raise ValueError(f"{who}: init must be one of {', '.join(repr(n) for n in NAMES)}, got {init!r}")
    return init


def initialise(init: str, fan_in: int, fan_out: int, bias: bool,
               rng: np.random.Generator) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(weight (fan_out, fan_in), bias (fan_out,) or None) drawn from ``rng``."""
    shape = (fan_out, fan_in)
    b = None
    if init == "torch":
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        w = rng.uniform(-bound, bound, shape)
        if bias:
            b = rng.uniform(-bound, bound, fan_out)
        return w, b
    if init == "xavier_uniform":
        w = rng.uniform(-1.0, 1.0, shape) * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    elif init == "xavier_normal":
        w = rng.standard_normal(shape) * math.sqrt(2.0 / max(fan_in + fan_out, 1))
    elif init == "he_uniform":
        w = rng.uniform(-1.0, 1.0, shape) * math.sqrt(6.0 / max(fan_in, 1))
    else:
        w = rng.standard_normal(shape) * math.sqrt(2.0 / max(fan_in, 1))
    if bias:
        b = np.zeros(fan_out)
    return w, b
