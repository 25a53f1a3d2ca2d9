"""Shared machinery of the element-wise families (``bench_activations``, ``bench_losses``):
cases made of several *variants* (one per peer) that are verified, then timed interleaved,
and tables of time, effective bandwidth and ratios next to the machine's copy bandwidth.

Not a family itself (no ``bench_`` prefix): ``run.py`` only discovers ``bench_*.py``.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from common import Contender, Options, Peer, fmt_num, md_table, time_interleaved, timed_first_call


@dataclass
class Variant:
    """One peer's way of computing a case.

    ``peer``: the Peer whose thread limit applies ('nnmat', 'torch', 'numpy');
    ``column``: the table column ('nnmat', 'torch', 'numpy', 'nnmat out=' ...);
    ``fn``: the timed call; ``check(result) -> (ok, err)`` verifies its first result.
    """

    peer: str
    column: str
    fn: Callable[[], Any]
    check: Optional[Callable[[Any], Tuple[bool, float]]] = None


@dataclass
class Case:
    """A row of a table: ``label`` (e.g. 'sigmoid 1e6'), ``kind`` (the table:
    'forward', 'backward', ...), elements moved per call for the GB/s column."""

    label: str
    kind: str
    n: int
    bytes_moved: int
    variants: List[Variant] = field(default_factory=list)


def rel_check(ref: Any, rtol: float, atol: float = 0.0) -> Callable[[Any], Tuple[bool, float]]:
    """Checker: result (array, tensor, scalar, or tuple of them) close to ``ref`` (float64)."""

    def to_np(v):
        if hasattr(v, "detach"):
            v = v.detach().numpy()
        return np.asarray(v, dtype=np.float64)

    refs = ref if isinstance(ref, tuple) else (ref,)

    def check(result: Any) -> Tuple[bool, float]:
        got = result if isinstance(result, tuple) else (result,)
        if len(got) != len(refs):
            return False, float("nan")
        worst = 0.0
        for g, r in zip(got, refs):
            g, r = to_np(g), to_np(r)
            if g.shape != r.shape:
                return False, float("nan")
            if g.size == 0:
                continue
            err = np.abs(g - r)
            # relative to each element, floored at 5 % of the largest magnitude: a result
            # is not WRONG for rounding noise near zero (torch's float32 gelu-tanh backward
            # returns 0 where the derivative is -2e-6, by cancellation in 1 + tanh)
            scale = rtol * np.maximum(np.abs(r), np.max(np.abs(r)) * 0.05) + atol
            if not np.all(err <= scale):
                return False, float(np.max(err))
            worst = max(worst, float(np.max(err)))
        return True, worst

    return check


def measure(cases: Sequence[Case], dtype: str, threads: int, peers: List[Peer], opts: Options,
            progress: Callable[[str], None]) -> List[Dict[str, Any]]:
    """Verify, then time every case's variants interleaved; one record per variant."""
    by_name = {p.name: p for p in peers}
    records: List[Dict[str, Any]] = []
    for case in cases:
        progress(f"{dtype} {threads} thr {case.kind}: {case.label}")
        contenders: List[Contender] = []
        limits: Dict[str, Callable[[int], Any]] = {}
        recs: Dict[str, Dict[str, Any]] = {}
        for v in case.variants:
            peer = by_name.get(v.peer)
            rec: Dict[str, Any] = {"case": case.label, "kind": case.kind, "n": case.n, "dtype": dtype,
                                   "threads": threads, "peer": v.column, "bytes": case.bytes_moved}
            recs[v.column] = rec
            records.append(rec)
            if peer is None:
                rec["status"] = "not installed"
                continue
            try:
                with peer.limit(threads):
                    result, first = timed_first_call(v.fn)
                if v.check is not None:
                    ok, err = v.check(result)
                    rec["max_abs_err"] = err
                    if not ok:
                        rec["status"] = "WRONG"
                        continue
                del result
            except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
                rec["status"] = f"error: {type(exc).__name__}: {exc}"
                continue
            rec["status"] = "ok"
            contenders.append(Contender(v.column, v.fn, first))
            limits[v.column] = peer.limit
        if contenders:
            t = time_interleaved(contenders, lambda name: limits[name](threads), opts.repeats, opts.target_s,
                                 opts.wait_idle)
            for name, timing in t.items():
                recs[name].update(median_s=timing.median, min_s=timing.min, inner=timing.inner,
                                  samples_s=timing.samples,
                                  gbps=case.bytes_moved / timing.median / 1e9)
    return records


def copy_bandwidth(sizes_bytes: Sequence[int], threads: int, opts: Options) -> Dict[int, float]:
    """GB/s of a plain copy (read + write) of each size on ``threads`` threads: numpy's
    ``copyto`` for 1 thread, nnmat's parallel identity kernel (a memmove per thread) above."""
    import nnmat

    out: Dict[int, float] = {}
    for nbytes in sizes_bytes:
        n = nbytes // 4
        src = np.ones(n, np.float32)
        dst = np.empty_like(src)
        if threads == 1:
            fn = lambda: np.copyto(dst, src)  # noqa: E731
        else:
            fn = lambda: nnmat._core.act_forward_f32(0, src, dst, 0.0, 0.0)  # noqa: E731
        fn()
        t = time_interleaved([Contender("copy", fn)], lambda _n: nnmat.threads(threads), opts.repeats,
                             opts.target_s, opts.wait_idle)["copy"]
        out[nbytes] = 2 * nbytes / t.median / 1e9
    return out


def _ms(rec: Optional[Dict[str, Any]]) -> str:
    if rec is None:
        return "-"
    st = rec.get("status")
    if st == "ok":
        return fmt_num(rec["median_s"] * 1e3, 3)
    if st == "WRONG":
        return "WRONG"
    if st == "not installed":
        return "n/a"
    return "error"


def table(records: List[Dict[str, Any]], kind: str, dtype: str, threads: int, columns: Sequence[str],
          copy_gbps: Dict[int, float], elem_bytes_key: Callable[[Dict[str, Any]], int]) -> str:
    """Rows: cases of this kind; columns: ms per peer, nnmat GB/s, copy GB/s, ratios."""
    recs = [r for r in records if r["kind"] == kind and r["dtype"] == dtype and r["threads"] == threads]
    cases = list(dict.fromkeys(r["case"] for r in recs))
    present = [c for c in columns if any(r["peer"] == c for r in recs)]
    others = [c for c in present if not c.startswith("nnmat")]
    header = ["case"] + [f"{c} ms" for c in present] + ["nnmat GB/s", "copy GB/s"] + [f"{c}/nnmat" for c in others]
    rows = []
    for case in cases:
        by = {r["peer"]: r for r in recs if r["case"] == case}
        nn = by.get("nnmat")
        nn_ok = nn is not None and nn.get("status") == "ok"
        row = [case] + [_ms(by.get(c)) for c in present]
        row.append(fmt_num(nn["gbps"], 1) if nn_ok else "-")
        cb = copy_gbps.get(elem_bytes_key(nn)) if nn is not None else None
        row.append(fmt_num(cb, 0) if cb else "-")
        for c in others:
            r = by.get(c)
            ok = nn_ok and r is not None and r.get("status") == "ok"
            row.append(fmt_num(r["median_s"] / nn["median_s"], 2) + "x" if ok else "-")
        rows.append(row)
    return md_table(header, rows)


@contextlib.contextmanager
def no_grad():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    with torch.no_grad():
        yield


def quick_dtypes(opts: Options) -> List[str]:
    """The dtypes an element-wise family measures: float32 only in quick mode (the
    targets are stated in float32; --full measures every requested dtype)."""
    if opts.quick and "float32" in opts.dtypes:
        return ["float32"]
    return list(opts.dtypes)


def progress_printer(family: str) -> Callable[[str], None]:
    def progress(msg: str) -> None:
        print(f"[{family}] {msg}", file=sys.stderr, flush=True)
    return progress
