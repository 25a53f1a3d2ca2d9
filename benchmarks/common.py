"""Shared machinery for the nnmat benchmarks: peers, thread control, timing, machine info,
Markdown helpers.

Hard dependencies: numpy and threadpoolctl. Every peer other than numpy (torch, cython-blis)
is optional: a missing one is reported as "not installed" and skipped.

A *family* module (``bench_<family>.py``, e.g. ``bench_gemm.py``) uses these helpers and
exposes ``run(opts, env) -> FamilyResult``; ``run.py`` discovers and drives it.
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence

import numpy as np
import threadpoolctl

ISA_ORDER = ["generic", "avx2", "avx512"]


# --------------------------------------------------------------------------- options / result


@dataclass
class Options:
    """What ``run.py`` passes to a family's ``run``."""

    quick: bool = True
    threads: List[int] = field(default_factory=lambda: [1, 2])
    dtypes: List[str] = field(default_factory=lambda: ["float32", "float64"])
    shapes: List[str] = field(default_factory=list)  # substring filters, OR-ed; empty = all
    repeats: int = 5
    target_s: float = 0.02  # minimum duration of one timing sample
    isa_compare: bool = False
    wait_idle: bool = True  # let spinning thread pools sleep between samples (common.settle)

    def wants(self, label: str) -> bool:
        return not self.shapes or any(s in label for s in self.shapes)


@dataclass
class FamilyResult:
    """What a family's ``run`` returns: Markdown body plus raw records for the JSON."""

    markdown: str
    records: List[Dict[str, Any]]
    extra: Dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- peers


@dataclass
class Peer:
    """A library being measured, with its own thread control.

    ``limit(n)`` returns a context manager under which the library uses ``n`` threads (and,
    for ``nnmat[isa]`` peers, the forced instruction set). ``max_threads`` is set for
    libraries without thread control (cython-blis): they only appear in tables with at most
    that many threads.
    """

    name: str
    limit: Callable[[int], ContextManager]
    version: str = ""
    max_threads: Optional[int] = None
    isa: Optional[str] = None  # nnmat peers: the ISA this peer runs on

    def runs_at(self, threads: int) -> bool:
        return self.max_threads is None or threads <= self.max_threads


_TPC: Optional[threadpoolctl.ThreadpoolController] = None


def _controller() -> threadpoolctl.ThreadpoolController:
    global _TPC
    if _TPC is None:
        _TPC = threadpoolctl.ThreadpoolController()
    return _TPC


def _numpy_limit(n: int) -> ContextManager:
    # Limit numpy's BLAS only (OpenBLAS/MKL as seen by threadpoolctl); nnmat and torch have
    # their own controls. Same effect as threadpoolctl.threadpool_limits(n, user_api="blas").
    return _controller().limit(limits=n, user_api="blas")


@contextlib.contextmanager
def _torch_limit(n: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _nnmat_limit(isa: Optional[str]) -> Callable[[int], ContextManager]:
    @contextlib.contextmanager
    def limit(n: int):
        import nnmat

        previous = nnmat._core.get_isa()
        if isa is not None:
            nnmat._core.set_isa(isa)
        try:
            with nnmat.threads(n):
                yield
        finally:
            nnmat._core.set_isa(previous)

    return limit


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # pragma: no cover - metadata missing
        return "?"


def discover_peers(isa_compare: bool = False) -> tuple:
    """Return ``(peers, missing)``: the available peers in table order, and
    ``{name: reason}`` for the ones that are not installed.

    Order: nnmat, nnmat[lower ISAs] (with ``isa_compare``), numpy, torch, blis.
    """
    import nnmat

    peers: List[Peer] = []
    missing: Dict[str, str] = {}
    best = nnmat._core.get_isa()
    peers.append(Peer("nnmat", _nnmat_limit(None), nnmat.__version__, isa=best))
    if isa_compare:
        available = nnmat.config()["isa_available"]
        lower = [i for i in ISA_ORDER if i in available and ISA_ORDER.index(i) < ISA_ORDER.index(best)]
        for isa in reversed(lower):
            peers.append(Peer(f"nnmat[{isa}]", _nnmat_limit(isa), nnmat.__version__, isa=isa))
    peers.append(Peer("numpy", _numpy_limit, np.__version__))
    try:
        import torch

        peers.append(Peer("torch", _torch_limit, torch.__version__))
    except ImportError as exc:
        missing["torch"] = f"not installed ({exc})"
    try:
        import blis.py  # noqa: F401  (cython-blis)

        # cython-blis is built without threading and has no thread control: 1 thread only.
        peers.append(Peer("blis", lambda n: contextlib.nullcontext(), _dist_version("blis"), max_threads=1))
    except ImportError as exc:
        missing["blis"] = f"not installed ({exc})"
    return peers, missing


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Per-call times of one peer on one case, in seconds."""

    median: float
    min: float
    inner: int  # calls per sample
    samples: List[float]  # per-call time of each sample


def _sample(fn: Callable[[], Any], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return time.perf_counter() - t0


def calibrate(fn: Callable[[], Any], target_s: float, first_call_s: Optional[float] = None) -> int:
    """Number of calls per sample so that one sample lasts >= ``target_s``.

    ``fn`` must already be warmed up. If one call is longer than ``target_s``, a sample is
    one call. ``first_call_s`` (the warm-up call's time) only short-cuts this for calls over
    10·``target_s``: a first call also pays lazy set-up (thread pools, page faults), so for
    short calls it would wrongly suggest one call per sample.
    """
    if first_call_s is not None and first_call_s >= 10 * target_s:
        return 1
    inner = 1
    while True:
        # The fastest of three: one stalled call (a descheduled thread on a shared VM
        # can cost milliseconds) must not shrink every later sample to a few calls.
        t = min(_sample(fn, inner) for _ in range(3))
        if t >= target_s:
            return inner
        if t >= target_s / 10:  # close enough to extrapolate
            return max(inner + 1, math.ceil(inner * target_s * 1.1 / t))
        inner *= 10


@dataclass
class Contender:
    """One peer's prepared call on one case: ``fn()`` is what is timed.

    ``first_call_s``: duration of the warm-up call, if known (very long calls skip calibration).
    """

    name: str
    fn: Callable[[], Any]
    first_call_s: Optional[float] = None


def settle(max_s: float = 0.5, quantum_s: float = 0.005) -> float:
    """Wait until this process's worker threads stop burning CPU; return the seconds waited.

    Thread pools spin-wait after a call: libgomp for ~1 ms, OpenBLAS (pthreads) for
    ~0.1-0.2 s. On a machine with few cores a spinning pool of the peer just timed steals a
    core from the next one, so between samples we sleep in small quanta until one quantum
    passes with the process (nearly) idle, or ``max_s`` is spent.
    """
    start = time.perf_counter()
    while True:
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(quantum_s)
        if time.process_time() - c0 < 0.2 * (time.perf_counter() - t0) or time.perf_counter() - start > max_s:
            return time.perf_counter() - start


def time_interleaved(
    contenders: Sequence[Contender],
    make_limit: Callable[[str], ContextManager],
    repeats: int,
    target_s: float,
    wait_idle: bool = True,
) -> Dict[str, Timing]:
    """Time several contenders on the same case, interleaved.

    Each contender is calibrated (calls per sample) once; then ``repeats`` rounds follow, and
    in each round every contender takes one sample in turn, so machine noise hits all peers
    alike. The order rotates from round to round and every other round is reversed, so no
    peer always follows the same one (cache state, turbo); with ``wait_idle`` the thread
    pools of the previous peer are let to fall asleep (:func:`settle`) before each sample.
    ``make_limit(name)`` gives the context manager (threads, ISA) entered around each sample
    (outside the timed region).
    """
    inner: Dict[str, int] = {}
    for c in contenders:
        with make_limit(c.name):
            if wait_idle:
                settle()
            inner[c.name] = calibrate(c.fn, target_s, c.first_call_s)
    samples: Dict[str, List[float]] = {c.name: [] for c in contenders}
    n = len(contenders)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            order = [contenders[(i + r) % n] for i in range(n)]
            for c in order if r % 2 == 0 else order[::-1]:
                with make_limit(c.name):
                    if wait_idle:
                        settle()
                    k = inner[c.name]
                    if k > 1:
                        c.fn()  # untimed: wake the (settled) thread pool, time the steady state
                    samples[c.name].append(_sample(c.fn, k) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {}
    for name, s in samples.items():
        out[name] = Timing(float(np.median(s)), float(np.min(s)), inner[name], s)
    return out


def timed_first_call(fn: Callable[[], Any]) -> tuple:
    """Run ``fn`` once (warm-up / verification); return ``(result, seconds)``."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


# --------------------------------------------------------------------------- verification


def check_close(result: Any, reference: np.ndarray, tol: float) -> tuple:
    """``(ok, max_abs_err)``: result vs float64 reference, absolute tolerance ``tol``."""
    try:
        got = np.asarray(result, dtype=np.float64)
    except Exception:  # noqa: BLE001 - anything unconvertible is wrong
        return False, float("nan")
    if got.shape != reference.shape:
        return False, float("nan")
    err = float(np.max(np.abs(got - reference))) if got.size else 0.0
    return bool(np.isfinite(err) and err <= tol), err


# --------------------------------------------------------------------------- machine info


def _cpuinfo() -> tuple:
    """``(first processor's fields, number of distinct (physical id, core id) pairs)``."""
    first: Dict[str, str] = {}
    cores = set()
    current: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in list(f) + [""]:
                if not line.strip():
                    if current:
                        first = first or current
                        cores.add((current.get("physical id"), current.get("core id")))
                    current = {}
                    continue
                key, _, value = line.partition(":")
                current[key.strip()] = value.strip()
    except OSError:
        pass
    return first, len(cores) or None


def machine_info(peers: Sequence[Peer], missing: Dict[str, str]) -> Dict[str, Any]:
    """Everything needed to interpret the numbers: CPU, cores, nnmat build, peers' BLAS."""
    import nnmat

    cpu, physical = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile") if f in flags]
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count() or 1
    info: Dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(),
        "cpu_model": cpu.get("model name", platform.processor() or "?"),
        "cpu_family_model_stepping": "/".join(cpu.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "cpu_simd_flags": simd,
        "cores_logical": os.cpu_count(),
        "cores_physical": physical,
        "virtualized": "hypervisor" in flags,
        "cores_usable": usable,
        "loadavg": _loadavg(),
        "cpu_busy_before": cpu_busy(),
        "python": platform.python_version(),
        "nnmat": nnmat.config(),
        "numpy": {"version": np.__version__, "blas": _numpy_blas()},
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NNMAT_ISA", "OMP_WAIT_POLICY") if k in os.environ},
        "peers": {p.name: p.version for p in peers},
        "missing_peers": dict(missing),
    }
    if any(p.name == "torch" for p in peers):
        import torch

        info["torch"] = {
            "version": torch.__version__,
            "parallel_info": [l.strip() for l in torch.__config__.parallel_info().strip().splitlines()],
            "num_threads": torch.get_num_threads(),
        }
    if any(p.name == "blis" for p in peers):
        info["blis"] = {"version": _dist_version("blis"), "threads": "none (single-threaded build, no thread control)"}
    return info


def cpu_busy(seconds: float = 0.25) -> Optional[float]:
    """Fraction of all CPUs' time that was non-idle during a short probe in which this
    process sleeps: the load other processes put on the machine (from /proc/stat)."""
    def read():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]  # user..steal (guest is in user)
        return sum(vals), vals[3] + vals[4]  # total, idle + iowait

    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else None


def busy_warning(busy: Optional[float]) -> str:
    if busy is None:
        return "unknown"
    note = " -- other processes are running: numbers are noisy, multi-threaded ones most" if busy > 0.15 else ""
    return f"{100 * busy:.0f}% of all CPUs busy{note}"


def _loadavg() -> Optional[str]:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def _numpy_blas() -> List[Dict[str, Any]]:
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: lib.get(k) for k in keep if lib.get(k) is not None} for lib in threadpoolctl.threadpool_info()]


def measure_peaks(dtypes: Sequence[str], threads: Sequence[int], isas: Sequence[str], seconds: float) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Measured FMA peak (GFLOP/s): ``peaks[isa][dtype][str(threads)]``.

    ``nnmat._core.fma_peak`` already reports the best of three rounds of ``seconds`` each
    (noise from other processes only lowers it).
    """
    import nnmat

    peaks: Dict[str, Dict[str, Dict[str, float]]] = {}
    previous = nnmat._core.get_isa()
    try:
        for isa in isas:
            nnmat._core.set_isa(isa)
            peaks[isa] = {
                dt: {str(t): float(nnmat._core.fma_peak(dtype=dt, threads=t, seconds=seconds)) for t in threads}
                for dt in dtypes
            }
    finally:
        nnmat._core.set_isa(previous)
    return peaks


def machine_markdown(info: Dict[str, Any], peaks: Dict[str, Any]) -> str:
    """Machine-info header as a Markdown bullet list."""
    nn = info["nnmat"]
    lines = [
        f"- Date: {info['date']}, host `{info['host']}`, load average {info.get('loadavg')}",
        f"- Other load (probe while idle): before the run {busy_warning(info.get('cpu_busy_before'))}; "
        f"after it {busy_warning(info.get('cpu_busy_after'))}",
        f"- CPU: {info['cpu_model']} (family/model/stepping {info['cpu_family_model_stepping']}), "
        f"{info['cores_logical']} logical cores ({info['cores_physical']} physical as the OS sees them, {info['cores_usable']} usable)"
        f"{', virtual machine' if info.get('virtualized') else ''}, SIMD flags: {', '.join(info['cpu_simd_flags']) or '-'}",
        f"- nnmat {nn.get('version')}: ISA {nn.get('isa')} (detected {nn.get('isa_detected')}, available {', '.join(nn.get('isa_available', []))}), "
        f"kernels {nn.get('gemm_kernel')}, {nn.get('compiler')} {nn.get('build_type')}, {nn.get('openmp')}",
    ]
    for lib in info["numpy"]["blas"]:
        if lib.get("user_api") == "blas":
            lines.append(
                f"- numpy {info['numpy']['version']}: {lib.get('internal_api')} {lib.get('version')} "
                f"(architecture {lib.get('architecture', '?')}, {lib.get('threading_layer', '?')}, {lib.get('num_threads')} threads by default)"
            )
    other_pools = [f"{lib.get('internal_api')} ({lib.get('prefix')}, {lib.get('num_threads')} threads)" for lib in info["numpy"]["blas"] if lib.get("user_api") != "blas"]
    if other_pools:
        lines.append(f"- Other thread pools in the process: {', '.join(other_pools)}")
    if "torch" in info:
        # parallel_info()'s first line is just "ATen/Parallel:"; show the informative ones.
        keep = ("at::get_num_threads", "ATen parallel backend", "Math Kernel Library", "MKL-DNN", "OpenMP 2")
        pinfo = [s for s in info["torch"]["parallel_info"] if any(k in s for k in keep)]
        lines.append(f"- torch {info['torch']['version']}: {' / '.join(pinfo)}")
    if "blis" in info:
        lines.append(f"- cython-blis {info['blis']['version']}: {info['blis']['threads']}; shown in 1-thread tables only")
    for name, reason in info["missing_peers"].items():
        lines.append(f"- {name}: {reason}; skipped")
    env = info["env"]
    lines.append(f"- Environment: {', '.join(f'{k}={v}' for k, v in env.items()) if env else 'no OMP_NUM_THREADS / OPENBLAS_CORETYPE / NNMAT_ISA set'}")
    for isa, per_dtype in peaks.items():
        parts = [f"{dt}: " + ", ".join(f"{t} thr {v:.1f}" for t, v in per_t.items()) for dt, per_t in per_dtype.items()]
        lines.append(f"- Measured FMA peak, nnmat {isa} (GFLOP/s): {'; '.join(parts)}")
    for isa, per_dtype in list(peaks.items())[:1]:
        for dt, per_t in per_dtype.items():
            one = per_t.get("1")
            for t, v in per_t.items():
                if one and int(t) > 1 and v < 1.3 * one:
                    lines.append(
                        f"- Note: the {t}-thread {dt} FMA peak is only {v / one:.2f}x the 1-thread one: the cores share "
                        "FMA units (SMT siblings, or vCPUs on one host core) or were busy; expect little multi-thread scaling"
                    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- Markdown


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], align_left: int = 1) -> str:
    """A Markdown table; the first ``align_left`` columns left-aligned, the rest right."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    def fmt(cells):
        return "| " + " | ".join(str(c).ljust(w) if i < align_left else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join((":" + "-" * (w + 1)) if i < align_left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(header), sep] + [fmt(r) for r in rows])


def fmt_num(x: Optional[float], digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"
