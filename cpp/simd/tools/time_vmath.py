#!/usr/bin/env python3
"""ns/element of nnmat's VMath functions (through _core.vmath_eval, one thread,
10^6 elements, median of repeats) per ISA and dtype, with numpy for context.
Not a test:  PYTHONPATH=src python3 cpp/simd/tools/time_vmath.py"""
import time

import numpy as np

import nnmat
from nnmat import _core

N, REPS = 10**6, 15
FUNCS = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "erf", "erfc"]


def med(fn):
    fn()
    ts = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return np.median(ts) / N * 1e9


def main():
    rng = np.random.default_rng(0)
    isas = list(nnmat.config()["isa_available"])
    print("cpu:", nnmat.config().get("cpu", "?"))
    print("%-8s %-7s" % ("func", "dtype") + "".join("%9s" % i for i in isas) + "%9s" % "numpy")
    for name in FUNCS:
        for dt in (np.float32, np.float64):
            x = rng.uniform(-8, 8, N).astype(dt)
            if name in ("log", "log1p"):
                x = np.abs(x) + dt(0.1)
            row = []
            for isa in isas:
                _core.set_isa(isa)
                ok = np.all(np.isfinite(_core.vmath_eval(name, x)))
                assert ok
                row.append(med(lambda: _core.vmath_eval(name, x)))
            npf = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh}.get(name)
            ref = med(lambda: npf(x)) if npf else float("nan")
            print("%-8s %-7s" % (name, np.dtype(dt).name) + "".join("%9.2f" % v for v in row) + "%9.2f" % ref)
    try:
        import torch
        torch.set_num_threads(1)
        t = torch.from_numpy(rng.uniform(-8, 8, N).astype(np.float32))
        print("torch.sigmoid float32: %.2f ns/elem" % med(lambda: torch.sigmoid(t)))
        print("torch.tanh    float32: %.2f ns/elem" % med(lambda: torch.tanh(t)))
    except ImportError:
        pass


if __name__ == "__main__":
    main()
