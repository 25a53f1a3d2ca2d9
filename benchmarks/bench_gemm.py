"""GEMM family: C = A·B with A (m×k), B (k×n), C-contiguous, float32 / float64.

Peers: nnmat.matmul, numpy ``a @ b``, ``torch.mm`` on ``torch.from_numpy`` tensors,
cython-blis ``blis.py.gemm`` (1 thread only). Every result is checked against a float64
numpy reference before timing; a peer that answers wrong is reported as WRONG, not timed.

Interface (shared by all families): ``NAME``, ``run(opts, env) -> FamilyResult``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from common import (
    Contender,
    FamilyResult,
    Options,
    Peer,
    check_close,
    fmt_num,
    md_table,
    time_interleaved,
    timed_first_call,
)

NAME = "gemm"

SQUARES_FULL = [64, 128, 256, 512, 1024, 2048, 4096]
SQUARES_QUICK = [64, 256, 1024]
# (m, k, n), i.e. (m×k)·(k×n), from typical networks:
NETWORK = [
    (64, 784, 128),  # MNIST MLP, first layer, batch 64
    (256, 784, 256),  # same, batch 256, wider
    (8, 512, 512),  # small-batch inference
    (128, 4096, 4096),  # large fully-connected layer
    (100000, 64, 64),  # tall-skinny: many samples through a narrow layer
]
TINY = [2, 8, 16, 32, 64]  # Python-call overhead table (square)


@dataclass(frozen=True)
class Shape:
    m: int
    k: int
    n: int

    @property
    def label(self) -> str:
        if self.m == self.k == self.n:
            return f"{self.m}^3"
        return f"{self.m}x{self.k}@{self.k}x{self.n}"

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n


def shapes(quick: bool) -> List[Shape]:
    squares = SQUARES_QUICK if quick else SQUARES_FULL
    return [Shape(s, s, s) for s in squares] + [Shape(*mkn) for mkn in NETWORK]


def make_op(peer: Peer, a: np.ndarray, b: np.ndarray) -> Optional[Callable[[], Any]]:
    """The zero-argument call timed for ``peer``; None if the peer cannot do this dtype."""
    name = peer.name
    if name == "nnmat" or name.startswith("nnmat["):
        import nnmat

        matmul = nnmat.matmul
        return lambda: matmul(a, b)
    if name == "numpy":
        return lambda: a @ b
    if name == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)  # shares memory: no copy timed
        mm = torch.mm
        return lambda: mm(ta, tb)
    if name == "blis":
        if a.dtype not in (np.float32, np.float64):
            return None
        from blis.py import gemm

        # beta=0: C is write-only, like numpy/torch (the default beta=1 reads a zeroed C).
        return lambda: gemm(a, b, beta=0.0)
    raise ValueError(f"unknown peer {name!r}")


def tolerance(a: np.ndarray, b: np.ndarray) -> float:
    """Absolute tolerance vs the float64 reference, scaled with k and the dtype.

    tol = 10 · √k · u · max(|A||B|), u = eps(dtype)/2: the probabilistic rounding-error bound
    of Higham & Mary (λ = 10, failure probability ~1e-22 per element) for any summation order
    (blocking, FMA, k-splitting). max(|A||B|) is bounded cheaply by
    min(max row-sum |A| · max|B|, max|A| · max column-sum |B|). Wrong kernels (dropped or
    duplicated blocks, bad edges, races) miss by O(1) relative to |C| and fail by orders of
    magnitude.
    """
    k = a.shape[1]
    if k == 0:
        return 1e-300
    u = float(np.finfo(a.dtype).eps) / 2
    abs_a, abs_b = np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))
    bound = min(abs_a.sum(axis=1).max() * abs_b.max(), abs_a.max() * abs_b.sum(axis=0).max())
    return 10.0 * np.sqrt(k) * u * float(bound) + 1e-300


def make_inputs(shape: Shape, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, (shape.m, shape.k)).astype(dtype)
    b = rng.uniform(-1.0, 1.0, (shape.k, shape.n)).astype(dtype)
    return a, b


def _to_numpy(result: Any) -> Any:
    return result.numpy() if hasattr(result, "numpy") and not isinstance(result, np.ndarray) else result


def measure(
    shape: Shape, dtype: str, threads: int, peers: List[Peer], opts: Options, kind: str, a, b, ref, tol
) -> List[Dict[str, Any]]:
    """Verify then time (interleaved) every peer on one (shape, dtype, threads)."""
    records: Dict[str, Dict[str, Any]] = {}
    contenders: List[Contender] = []
    by_name = {p.name: p for p in peers}
    for peer in peers:
        rec: Dict[str, Any] = {
            "kind": kind, "peer": peer.name, "shape": shape.label, "m": shape.m, "k": shape.k, "n": shape.n,
            "dtype": dtype, "threads": threads, "flops": shape.flops, "tolerance": tol,
        }
        records[peer.name] = rec
        try:
            fn = make_op(peer, a, b)
            if fn is None:
                rec["status"] = "unsupported"
                continue
            with peer.limit(threads):
                result, first = timed_first_call(fn)
            ok, err = check_close(_to_numpy(result), ref, tol)
            rec["max_abs_err"] = err
            if not ok:
                rec["status"] = "WRONG"
                continue
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
            rec["status"] = f"error: {type(exc).__name__}: {exc}"
            continue
        del result
        rec["status"] = "ok"
        contenders.append(Contender(peer.name, fn, first))
    if contenders:
        timings = time_interleaved(contenders, lambda n: by_name[n].limit(threads), opts.repeats, opts.target_s, opts.wait_idle)
        for name, t in timings.items():
            records[name].update(
                median_s=t.median, min_s=t.min, gflops=shape.flops / t.median / 1e9, gflops_best=shape.flops / t.min / 1e9,
                repeats=len(t.samples), inner=t.inner, samples_s=t.samples,
            )
    return list(records.values())


# --------------------------------------------------------------------------- tables


def _cell(rec: Optional[Dict[str, Any]], value: str) -> str:
    if rec is None:
        return "-"
    status = rec["status"]
    if status == "ok":
        return value
    if status == "WRONG":
        return "WRONG"
    if status == "unsupported":
        return "n/a"
    return "error"


def gflops_table(records, dtype: str, threads: int, peers: List[Peer], peaks) -> str:
    cols = [p for p in peers if p.runs_at(threads)]
    others = [p for p in cols if p.name != "nnmat"]
    peak = peaks.get(peers[0].isa, {}).get(dtype, {}).get(str(threads))
    header = ["shape"] + [f"{p.name} GFLOP/s" for p in cols] + [f"nnmat/{p.name}" for p in others] + ["nnmat % peak", "nnmat spread"]
    rows = []
    labels = list(dict.fromkeys(r["shape"] for r in records if r["dtype"] == dtype and r["threads"] == threads))
    for label in labels:
        by_peer = {r["peer"]: r for r in records if r["dtype"] == dtype and r["threads"] == threads and r["shape"] == label}
        nn = by_peer.get("nnmat")
        nn_ok = nn is not None and nn["status"] == "ok"
        row = [label]
        row += [_cell(by_peer.get(p.name), fmt_num(by_peer.get(p.name, {}).get("gflops"))) for p in cols]
        for p in others:
            r = by_peer.get(p.name)
            row.append(fmt_num(nn["gflops"] / r["gflops"], 2) + "x" if nn_ok and r and r["status"] == "ok" else "-")
        row.append(fmt_num(100.0 * nn["gflops"] / peak, 0) + "%" if nn_ok and peak else "-")
        row.append(f"{100.0 * (nn['median_s'] / nn['min_s'] - 1):.0f}%" if nn_ok else "-")
        rows.append(row)
    peak_txt = f"{peak:.1f} GFLOP/s" if peak else "not measured"
    title = f"### {dtype}, {threads} thread{'s' if threads > 1 else ''} (FMA peak {peak_txt})"
    return title + "\n\n" + md_table(header, rows)


def overhead_table(records, dtype: str, threads: int, peers: List[Peer]) -> str:
    others = [p for p in peers if p.name != "nnmat"]
    header = ["shape"] + [f"{p.name} us/call" for p in peers] + [f"nnmat/{p.name}" for p in others]
    rows = []
    labels = list(dict.fromkeys(r["shape"] for r in records if r["dtype"] == dtype))
    for label in labels:
        by_peer = {r["peer"]: r for r in records if r["dtype"] == dtype and r["shape"] == label}
        nn = by_peer.get("nnmat")
        nn_ok = nn is not None and nn["status"] == "ok"
        row = [label] + [_cell(by_peer.get(p.name), fmt_num(by_peer.get(p.name, {}).get("median_s", float("nan")) * 1e6, 2)) for p in peers]
        for p in others:
            r = by_peer.get(p.name)
            row.append(fmt_num(r["median_s"] / nn["median_s"], 2) + "x" if nn_ok and r and r["status"] == "ok" else "-")
        rows.append(row)
    return f"### Python-call overhead, {dtype}, {threads} thread{'s' if threads > 1 else ''}\n\n" + md_table(header, rows)


# --------------------------------------------------------------------------- entry point


def _progress(msg: str) -> None:
    print(f"[gemm] {msg}", file=sys.stderr, flush=True)


def run(opts: Options, env: Dict[str, Any]) -> FamilyResult:
    peers: List[Peer] = env["peers"]
    peaks = env["peaks"]
    records: List[Dict[str, Any]] = []

    cases = [s for s in shapes(opts.quick) if opts.wants(s.label)]
    for dtype in opts.dtypes:
        for shape in cases:
            a, b = make_inputs(shape, dtype)
            ref = a.astype(np.float64) @ b.astype(np.float64)
            tol = tolerance(a, b)
            for threads in opts.threads:
                _progress(f"{dtype} {shape.label} {threads} thr")
                records += measure(shape, dtype, threads, [p for p in peers if p.runs_at(threads)], opts, "gflops", a, b, ref, tol)
            del a, b, ref

    # Python-call overhead: tiny squares, per-call microseconds, on the fewest threads asked.
    tiny = [Shape(s, s, s) for s in TINY if opts.wants(f"{s}^3")]
    t_over = min(opts.threads)
    over_peers = [p for p in peers if not p.name.startswith("nnmat[") and p.runs_at(t_over)]
    over_records: List[Dict[str, Any]] = []
    if tiny:
        _progress(f"call overhead {', '.join(s.label for s in tiny)}")
        for dtype in opts.dtypes:
            for shape in tiny:
                a, b = make_inputs(shape, dtype)
                ref = a.astype(np.float64) @ b.astype(np.float64)
                over_records += measure(shape, dtype, t_over, over_peers, opts, "overhead", a, b, ref, tolerance(a, b))

    parts = [
        "GFLOP/s = 2·m·k·n / median time per call (higher is better). "
        "nnmat/peer = peer time / nnmat time (>1: nnmat faster). "
        "% peak = nnmat GFLOP/s / measured FMA peak at that thread count. "
        "spread = median/min - 1 of nnmat's samples (noise indicator). "
        "WRONG = failed the check against the float64 reference (not timed); n/a = dtype not supported; "
        "blis only in 1-thread tables (no thread control)."
    ]
    for dtype in opts.dtypes:
        for threads in opts.threads:
            if any(r["dtype"] == dtype and r["threads"] == threads for r in records):
                parts.append(gflops_table(records, dtype, threads, peers, peaks))
    for dtype in opts.dtypes:
        recs = [r for r in over_records if r["dtype"] == dtype]
        if recs:
            parts.append(overhead_table(recs, dtype, t_over, over_peers))
    return FamilyResult(markdown="\n\n".join(parts) + "\n", records=records + over_records)
