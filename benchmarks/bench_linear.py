"""Fused linear layer: ``nnmat.linear(x, w, b, activation=f)`` (bias and activation applied
to each output tile right after the GEMM writes it, while it is in cache) against the same
computation in two passes.

Peers, per (shape, activation):
* ``nnmat`` -- the fused call;
* ``nnmat 2-pass`` -- ``f(nnmat.linear(x, w, b))``: nnmat's GEMM, then nnmat's activation
  over the result (the same kernels, not fused);
* ``torch`` -- ``F.<f>(F.linear(x, w, b))``;
* ``numpy`` -- ``x @ w.T + b`` then the activation as a numpy expression (not for gelu:
  numpy has no erf).

Shapes are (batch x in) . (in x out): the MNIST layer 256x784 . 784x256 (the issue's case),
a small batch 64x784 . 784x128 and a large layer 4096x1024 . 1024x1024. Inputs uniform in
[-1, 1), w scaled by 1/sqrt(in).
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from common import FamilyResult, Options, fmt_num, md_table
from elementwise import Case, Variant, measure, progress_printer, quick_dtypes, rel_check

NAME = "linear"
SHAPES = [(256, 784, 256), (64, 784, 128), (4096, 1024, 1024)]
ACTS = ["relu", "gelu", "sigmoid", "silu", "tanh"]


def _numpy_act(name: str):
    return {"relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "silu": lambda z: z / (1 + np.exp(-z)), "tanh": np.tanh}.get(name)


def build_case(shape, act: str, dtype: str) -> Case:
    import nnmat
    from nnmat import activations as A

    m, k, n = shape
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (m, k)).astype(dtype)
    w = (rng.uniform(-1, 1, (n, k)) / np.sqrt(k)).astype(dtype)
    b = rng.uniform(-1, 1, n).astype(dtype)
    f = getattr(A, act)
    ref = f(x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64))
    ck = rel_check(ref, 1e-4 if dtype == "float32" else 1e-10, 1e-5)
    label = f"{m}x{k}@{k}x{n} {act}"
    case = Case(label, "linear", m * n, (m * k + n * k + m * n) * np.dtype(dtype).itemsize, [
        Variant("nnmat", "nnmat", lambda: nnmat.linear(x, w, b, activation=act), ck),
        Variant("nnmat", "nnmat 2-pass", lambda: f(nnmat.linear(x, w, b)), ck),
    ])
    try:
        import torch
        import torch.nn.functional as F

        tf = {"relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid, "silu": F.silu, "tanh": torch.tanh}[act]
        xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        case.variants.append(Variant("torch", "torch", lambda: tf(F.linear(xt, wt, bt)), ck))
    except ImportError:
        case.variants.append(Variant("torch", "torch", lambda: None))
    na = _numpy_act(act)
    if na is not None:
        case.variants.append(Variant("numpy", "numpy", lambda: na(x @ w.T + b), ck))
    return case


def run(opts: Options, env: Dict[str, Any]) -> FamilyResult:
    peers = env["peers"]
    progress = progress_printer(NAME)
    shapes = [SHAPES[0]] if opts.quick else SHAPES
    acts = [a for a in (["relu", "gelu"] if opts.quick else ACTS) if opts.wants(a)]
    records: List[Dict[str, Any]] = []
    for dtype in quick_dtypes(opts):
        for threads in opts.threads:
            for shape in shapes:
                for act in acts:
                    records += measure([build_case(shape, act, dtype)], dtype, threads, peers, opts, progress)
    cols = ["nnmat", "nnmat 2-pass", "torch", "numpy"]
    parts = [__doc__.split("\n\n", 1)[1].strip(),
             "Columns: median ms per call; `peer/nnmat` = peer time / fused nnmat time (> 1: the fused call "
             "is faster)."]
    for dtype in opts.dtypes:
        for threads in opts.threads:
            recs = [r for r in records if r["dtype"] == dtype and r["threads"] == threads]
            if not recs:
                continue
            present = [c for c in cols if any(r["peer"] == c for r in recs)]
            header = ["case"] + [f"{c} ms" for c in present] + [f"{c}/nnmat" for c in present[1:]]
            rows = []
            for case in dict.fromkeys(r["case"] for r in recs):
                by = {r["peer"]: r for r in recs if r["case"] == case}
                nn = by.get("nnmat")
                ok = nn is not None and nn.get("status") == "ok"
                row = [case]
                for c in present:
                    r = by.get(c)
                    row.append(fmt_num(r["median_s"] * 1e3, 3) if r and r.get("status") == "ok"
                               else (r or {}).get("status", "-")[:12])
                for c in present[1:]:
                    r = by.get(c)
                    row.append(fmt_num(r["median_s"] / nn["median_s"], 2) + "x"
                               if ok and r and r.get("status") == "ok" else "-")
                rows.append(row)
            parts.append(f"### {dtype}, {threads} thread{'s' if threads > 1 else ''}\n\n" + md_table(header, rows))
    return FamilyResult(markdown="\n\n".join(parts) + "\n", records=records)
