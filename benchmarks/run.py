#!/usr/bin/env python3
"""nnmat benchmarks: the one entry point.

    PYTHONPATH=src python3 benchmarks/run.py --quick            # ~1 minute on 2 cores
    PYTHONPATH=src python3 benchmarks/run.py --full             # everything
    PYTHONPATH=src python3 benchmarks/run.py --full --plot      # ... and PNG plots (matplotlib)
    PYTHONPATH=src python3 benchmarks/run.py --shapes 256 --repeats 3 --threads 1 --isa-compare

Families are modules ``benchmarks/bench_<family>.py`` exposing ``NAME`` and
``run(opts: common.Options, env: dict) -> common.FamilyResult``; dropping one in makes it
available to ``--family``. For each family, ``<out>/<family>.md`` and ``<out>/<family>.json``
are written and the Markdown is printed to stdout (progress goes to stderr); with ``--plot``,
``<out>/<family>-*.png`` too (``plot.py``, which also plots saved JSON reports).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import nnmat  # noqa: F401
except ImportError:  # development checkout without PYTHONPATH=src
    sys.path.insert(0, str(HERE.parent / "src"))
    import nnmat  # noqa: F401

from common import ISA_ORDER, Options, busy_warning, cpu_busy, discover_peers, machine_info, machine_markdown, measure_peaks  # noqa: E402


def available_families() -> List[str]:
    return sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))


def _int_list(text: str) -> List[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers, e.g. 1,2")
    return values


def _str_list(text: str) -> List[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    try:
        ncores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        ncores = os.cpu_count() or 1
    default_threads = "1" if ncores == 1 else f"1,{ncores}"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=True, help="subset of shapes, shorter samples (default)")
    mode.add_argument("--full", dest="quick", action="store_false", help="every shape, longer samples")
    p.add_argument("--family", type=_str_list, default=None, help=f"comma list of families (default: all = {','.join(available_families())})")
    p.add_argument("--threads", type=_int_list, default=_int_list(default_threads), help=f"comma list of thread counts (default {default_threads})")
    p.add_argument("--dtypes", type=_str_list, default=["float32", "float64"], help="comma list (default float32,float64)")
    p.add_argument("--shapes", type=_str_list, default=[], help="only shapes whose label contains one of these substrings, e.g. 256 or 1024^3,x784")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per peer and case (default 5 quick, 7 full)")
    p.add_argument("--min-sample", type=float, default=None, metavar="SECONDS", help="minimum duration of one sample (default 0.02 quick, 0.05 full)")
    p.add_argument("--isa-compare", action="store_true", help="also time nnmat forced to every lower ISA level (extra columns nnmat[avx2], ...)")
    p.add_argument("--no-settle", action="store_true", help="do not wait for spinning thread pools to sleep between samples")
    p.add_argument("--plot", action="store_true", help="also write PNG plots (<family>-*.png, needs matplotlib) next to the reports")
    p.add_argument("--out", type=Path, default=HERE / "results", help="output directory (default benchmarks/results/)")
    args = p.parse_args(argv)
    families = available_families()
    if args.family is None or args.family == ["all"]:
        args.family = families
    unknown = [f for f in args.family if f not in families]
    if unknown:
        p.error(f"unknown family {', '.join(unknown)}; available: {', '.join(families)}")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    for dt in args.dtypes:
        if dt not in ("float32", "float64"):
            p.error(f"unsupported dtype {dt!r} (float32, float64)")
    return args


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _plot(doc: Dict[str, Any], family: str, out: Path) -> None:
    import plot

    if not plot.have_matplotlib():
        print("[run] --plot: matplotlib is not installed (pip install matplotlib); no plots written", file=sys.stderr)
        return
    # Through JSON, as plot.py reads a saved report (default=str turned odd values into text).
    for path in plot.plot_report(json.loads(json.dumps(doc, default=str)), family, out):
        print(f"[run] wrote {path}", file=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    opts = Options(
        quick=args.quick,
        threads=args.threads,
        dtypes=args.dtypes,
        shapes=args.shapes,
        repeats=args.repeats or (5 if args.quick else 7),
        target_s=args.min_sample or (0.02 if args.quick else 0.05),
        isa_compare=args.isa_compare,
        wait_idle=not args.no_settle,
    )
    command = "python3 benchmarks/run.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    t_start = time.perf_counter()

    peers, missing = discover_peers(opts.isa_compare)
    info = machine_info(peers, missing)  # first: its idle-CPU probe must not see our own warm-up
    print(f"[run] machine: {busy_warning(info['cpu_busy_before'])}", file=sys.stderr)
    for name, reason in missing.items():
        print(f"[run] {name}: {reason}; skipped", file=sys.stderr)
    isas = list(dict.fromkeys(p.isa for p in peers if p.isa))
    isas.sort(key=ISA_ORDER.index, reverse=True)
    print(f"[run] measuring FMA peak ({', '.join(isas)}; {', '.join(opts.dtypes)}; threads {opts.threads})", file=sys.stderr, flush=True)
    peaks = measure_peaks(opts.dtypes, opts.threads, isas, seconds=0.05 if opts.quick else 0.2)
    env: Dict[str, Any] = {"peers": peers, "missing": missing, "peaks": peaks, "machine": info}

    args.out.mkdir(parents=True, exist_ok=True)
    for family in args.family:
        module = importlib.import_module(f"bench_{family}")
        t0 = time.perf_counter()
        result = module.run(opts, env)
        elapsed = time.perf_counter() - t0
        info["cpu_busy_after"] = cpu_busy()
        header = machine_markdown(info, peaks)
        md = (
            f"# nnmat benchmark: {family}\n\n"
            f"`{command}` ({'quick' if opts.quick else 'full'}, {opts.repeats} repeats, samples >= {opts.target_s * 1e3:.0f} ms, "
            f"{elapsed:.0f} s)\n\n## Machine\n\n{header}\n\n## Results\n\n{result.markdown}"
        )
        doc = {
            "family": family,
            "command": command,
            "options": {k: v for k, v in vars(opts).items()},
            "elapsed_s": elapsed,
            "machine": info,
            "fma_peak_gflops": peaks,
            "records": result.records,
            **({"extra": result.extra} if result.extra else {}),
        }
        _write(args.out / f"{family}.md", md)
        _write(args.out / f"{family}.json", json.dumps(doc, indent=1, default=str) + "\n")
        print(md)
        print(f"[run] wrote {args.out / (family + '.md')} and .json ({elapsed:.1f} s)", file=sys.stderr)
        if args.plot:
            _plot(doc, family, args.out)
    print(f"[run] total {time.perf_counter() - t_start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
