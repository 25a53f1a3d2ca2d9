"""Condense a GEMM report (benchmarks/results/gemm.json) into the README's summary table.

    python benchmarks/summary.py benchmarks/results/gemm.json

One row per shape; for each (dtype, threads): nnmat's GFLOP/s and its speed-up over numpy
(peer time / nnmat time, medians measured in the same interleaved run).
"""
import json
import sys
from collections import defaultdict


def summarize(report: dict) -> str:
    rows = defaultdict(dict)
    order = []
    for r in report["records"]:
        if r.get("kind") != "gflops" or r.get("status") != "ok":
            continue
        key = (r["dtype"], r["threads"])
        if r["shape"] not in order:
            order.append(r["shape"])
        rows[r["shape"]].setdefault(key, {})[r["peer"]] = r["median_s"], r["gflops"]
    keys = sorted({k for cells in rows.values() for k in cells})
    head = "| shape | " + " | ".join(f"{dt} {t} thr: nnmat GFLOP/s (× numpy)" for dt, t in keys) + " |"
    lines = [head, "|:--" + "|--:" * len(keys) + "|"]
    for shape in order:
        cells = []
        for k in keys:
            peers = rows[shape].get(k, {})
            if "nnmat" not in peers:
                cells.append("")
                continue
            t, g = peers["nnmat"]
            ratio = f" ({peers['numpy'][0] / t:.2f}×)" if "numpy" in peers else ""
            cells.append(f"{g:.1f}{ratio}")
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    m = report["machine"]
    peaks = [
        f"{isa} {dt} {t} thr {g:.1f}"
        for isa, by_dt in report.get("fma_peak_gflops", {}).items()
        for dt, by_t in by_dt.items()
        for t, g in by_t.items()
    ]
    lines.append("")
    lines.append(
        f"{m.get('date')}, {m.get('cpu_model')} ({m.get('cores_usable')} cores"
        f"{', virtual machine' if m.get('virtualized') else ''}), `{report.get('command')}`; "
        f"measured FMA peak (GFLOP/s): {', '.join(peaks)}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/gemm.json") as f:
        print(summarize(json.load(f)))
