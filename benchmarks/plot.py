#!/usr/bin/env python3
"""PNG plots of nnmat benchmark reports (the JSON files ``run.py`` writes).

    python benchmarks/plot.py benchmarks/reports/*.json --out benchmarks/reports/plots/
    python benchmarks/run.py --full --plot            # the same, right after a run

* GEMM reports: GFLOP/s against problem size, one line per peer, one plot per
  (dtype, threads): ``<stem>-<dtype>-<threads>thr.png``.
* Every other family (activations, losses, linear, train): speed-up bars, peer
  time / nnmat time (above 1: nnmat is faster, log scale), one bar per (case, peer,
  threads), one plot per (kind, dtype): ``<stem>-<kind>-<dtype>.png``.

The machine (CPU, ISA, threads, numpy's BLAS, torch version, date) is written under
each plot. matplotlib is optional: without it the script says so and does nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

DPI = 80
# Reference peer of the speed-up bars: nnmat's own default call.
NNMAT = "nnmat"
# Bars are drawn for peers that are other libraries (not nnmat variants such as "nnmat out=").
COLORS = {"nnmat": "#d62728", "numpy": "#1f77b4", "torch": "#ff7f0e", "blis": "#2ca02c", "sklearn": "#9467bd",
          "nnmat[avx2]": "#e377c2", "nnmat[generic]": "#8c564b"}


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def machine_caption(report: Dict[str, Any]) -> str:
    """One or two lines naming the machine and the libraries of a report."""
    m = report.get("machine", {})
    nn = m.get("nnmat", {})
    blas = next((b for b in m.get("numpy", {}).get("blas", []) if b.get("user_api") == "blas"), {})
    parts = [
        f"{m.get('cpu_model', '?')} ({m.get('cores_usable', '?')} cores"
        f"{', VM' if m.get('virtualized') else ''})",
        f"nnmat {nn.get('version', '?')} ISA {nn.get('isa', '?')}",
        f"threads {','.join(str(t) for t in report.get('options', {}).get('threads', []))}",
        f"numpy {m.get('numpy', {}).get('version', '?')} ({blas.get('internal_api', '?')} "
        f"{blas.get('version', '')} {blas.get('architecture', '')})".replace(" )", ")"),
    ]
    if "torch" in m:
        parts.append(f"torch {m['torch'].get('version')}")
    line1 = ", ".join(parts)
    line2 = f"{m.get('date', '')}; {report.get('command', '')}"
    return line1 + "\n" + line2


def _ok(r: Dict[str, Any]) -> bool:
    return r.get("status") == "ok" and isinstance(r.get("median_s"), (int, float)) and r["median_s"] > 0


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_gemm(report: Dict[str, Any], stem: str, out: Path) -> List[Path]:
    """GFLOP/s against size (flops per call, log scale), one line per peer."""
    import matplotlib.pyplot as plt

    groups: "OrderedDict[Tuple[str, int], Dict[str, List[Tuple[float, float, str]]]]" = OrderedDict()
    for r in report["records"]:
        if r.get("kind") != "gflops" or not _ok(r):
            continue
        peers = groups.setdefault((r["dtype"], r["threads"]), OrderedDict())
        peers.setdefault(r["peer"], []).append((float(r["flops"]), float(r["gflops"]), r["shape"]))
    written = []
    caption = machine_caption(report)
    for (dtype, threads), peers in groups.items():
        fig, ax = plt.subplots(figsize=(9, 5.2))
        # Shapes in order of size (flops, then label: 128^3 and 8x512@512x512 have equal flops),
        # evenly spaced, so that every shape is readable.
        order = sorted({(x, shape) for pts in peers.values() for x, _, shape in pts})
        pos = {shape: i for i, (_, shape) in enumerate(order)}
        for peer, pts in peers.items():
            pts.sort(key=lambda q: pos[q[2]])
            base = peer.split("[")[0]
            ax.plot([pos[q[2]] for q in pts], [q[1] for q in pts], marker="o", ms=4,
                    lw=2 if peer == NNMAT else 1.3, label=peer,
                    color=COLORS.get(peer) if peer in COLORS else None,
                    ls="-" if peer == base else "--")
        peak = report.get("fma_peak_gflops", {})
        isa = report.get("machine", {}).get("nnmat", {}).get("isa")
        p = peak.get(isa, {}).get(dtype, {}).get(str(threads)) if isa else None
        if p:
            ax.axhline(p, color="gray", ls=":", lw=1)
            ax.text(0, p, f" measured FMA peak {p:.0f}", va="bottom", ha="left", fontsize=8, color="gray")
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([shape for _, shape in order], rotation=35, ha="right", fontsize=7)
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_xlabel("problem (m×k @ k×n), in order of flops per call")
        ax.set_ylabel("GFLOP/s (median)")
        ax.set_title(f"GEMM {dtype}, {threads} thread{'s' if threads != 1 else ''}: GFLOP/s per peer")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.text(0.01, 0.01, caption, fontsize=6.5, color="dimgray", va="bottom")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        written.append(_save(fig, out / f"{stem}-{dtype}-{threads}thr.png"))
    return written


def _speedups(records: Sequence[Dict[str, Any]]):
    """{(kind, dtype): {case: {(peer, threads): peer_time / nnmat_time}}} in report order."""
    base: Dict[Tuple[Any, ...], float] = {}
    for r in records:
        if r.get("peer") == NNMAT and _ok(r):
            base[(r.get("case"), r.get("kind"), r.get("dtype"), r.get("threads"))] = r["median_s"]
    out: "OrderedDict[Tuple[str, str], OrderedDict[str, Dict[Tuple[str, int], float]]]" = OrderedDict()
    for r in records:
        peer = r.get("peer", "")
        if peer.startswith(NNMAT) or not _ok(r):
            continue
        key = (r.get("case"), r.get("kind"), r.get("dtype"), r.get("threads"))
        if key not in base:
            continue
        kind = r.get("kind") or "train"
        cases = out.setdefault((kind, r.get("dtype")), OrderedDict())
        cases.setdefault(r["case"], {})[(peer, r["threads"])] = r["median_s"] / base[key]
    return out


def plot_speedups(report: Dict[str, Any], stem: str, out: Path) -> List[Path]:
    """Horizontal bars: peer time / nnmat time per case, for every (peer, threads)."""
    import matplotlib.pyplot as plt

    family = report.get("family", stem)
    caption = machine_caption(report)
    written = []
    for (kind, dtype), cases in _speedups(report["records"]).items():
        series = sorted({k for v in cases.values() for k in v}, key=lambda k: (k[0] != "torch", k[0], k[1]))
        names = list(cases)
        n, s = len(names), len(series)
        height = 0.8 / s
        fig, ax = plt.subplots(figsize=(9, 1.6 + 0.22 * n * max(1, s / 2)))
        cmap = plt.get_cmap("tab20")
        for j, (peer, threads) in enumerate(series):
            ys = [i + (j - (s - 1) / 2) * height for i in range(n)]
            vals = [cases[c].get((peer, threads), float("nan")) for c in names]
            ax.barh(ys, vals, height=height, label=f"vs {peer}, {threads} thr",
                    color=cmap((2 * sorted({p for p, _ in series}).index(peer) + (threads > 1)) % 20))
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_yticks(range(n))
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_ylim(n - 0.5, -0.5)
        finite = [v for c in cases.values() for v in c.values() if v > 0 and math.isfinite(v)]
        if finite:
            ax.set_xlim(min(0.2, min(finite) / 1.5), max(5.0, max(finite) * 1.5))
        ax.set_xlabel("speed-up: peer time / nnmat time (log scale; > 1: nnmat faster)")
        what = f"{kind}" if kind != "train" else "whole training runs"
        ax.set_title(f"{family}: {what}, {dtype}")
        ax.grid(axis="x", alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
        fig.text(0.01, 0.005, caption, fontsize=6.5, color="dimgray", va="bottom")
        fig.tight_layout(rect=(0, 0.8 / (1.6 + 0.22 * n * max(1, s / 2)), 1, 1))
        slug = re.sub(r"[^A-Za-z0-9]+", "-", kind).strip("-")
        written.append(_save(fig, out / f"{stem}-{slug}-{dtype}.png"))
    return written


def plot_report(report: Dict[str, Any], stem: str, out: Path) -> List[Path]:
    """Every plot of one report; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    if report.get("family") == "gemm":
        return plot_gemm(report, stem, out)
    return plot_speedups(report, stem, out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", nargs="+", type=Path, help="JSON reports written by run.py")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: <report dir>/plots)")
    args = p.parse_args(argv)
    if not have_matplotlib():
        print("plot.py: matplotlib is not installed (pip install matplotlib); no plots written", file=sys.stderr)
        return 0
    for path in args.reports:
        report = json.loads(path.read_text())
        out = args.out or path.parent / "plots"
        for written in plot_report(report, path.stem, out):
            print(f"[plot] wrote {written} ({written.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
