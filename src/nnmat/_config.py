"""Configuration: instruction set, threads, and build facts."""
from __future__ import annotations

import contextlib
import operator
import platform
from typing import Any, Dict, Iterator

import numpy as np

from . import _core

__all__ = ["config", "set_num_threads", "get_num_threads", "threads"]


def _check_threads(n: Any, name: str = "n") -> int:
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return int(n)


def set_num_threads(n: int) -> None:
    """Set the number of threads nnmat kernels may use, process-wide.

    By default nnmat follows OpenMP: ``OMP_NUM_THREADS`` if set, else the number of
    cores, and a ``threadpoolctl.threadpool_limits`` cap. Small problems always
    run on one thread. Results do not depend on the thread count (bitwise).
    In the child of a ``fork()`` (``multiprocessing``'s default start method on
    Linux) nnmat always runs on one thread: GNU OpenMP's thread pool does not
    survive a fork, and a parallel region there would wait forever.
    The counterpart of ``torch.set_num_threads``.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.

    Raises
    ------
    TypeError
        ``n`` is not an integer.
    ValueError
        ``n < 1``.
    """
    _core.set_num_threads(_check_threads(n))


def get_num_threads() -> int:
    """Number of threads the calling thread's nnmat kernels may use.

    The counterpart of ``torch.get_num_threads``.

    Returns
    -------
    int
        The :func:`threads` override of this Python thread if one is active, else the
        process-wide setting (:func:`set_num_threads`, ``OMP_NUM_THREADS``, the cores).
    """
    return _core.get_num_threads()


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Context manager: run nnmat kernels in this (Python) thread on ``n`` threads.

    Other Python threads are not affected. Restores the previous setting on exit.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.

    Yields
    ------
    None

    Examples
    --------
    >>> with nnmat.threads(1):
    ...     c = nnmat.matmul(a, b)
    """
    n = _check_threads(n)
    previous = _core.get_thread_override()
    _core.set_thread_override(n)
    try:
        yield
    finally:
        _core.set_thread_override(previous)


def config() -> Dict[str, Any]:
    """Facts about this nnmat: version, instruction sets, threads, OpenMP, compiler.

    Returns a dict with keys ``version``, ``isa`` (in use), ``isa_detected`` (best this
    CPU supports), ``isa_available`` (levels usable here), ``isa_compiled``,
    ``cpu``, ``threads``, ``openmp``, ``compiler``, ``build_type``,
    ``gemm_kernel`` (micro-kernel rows x columns per dtype; two shapes where small and
    packed problems use different tiles), ``python``, ``numpy``.
    ``python -m nnmat info`` prints the same.

    Returns
    -------
    dict
        The facts above (strings, lists and dicts of strings, an int for ``threads``).
    """
    import numpy

    info = _core.build_info()
    order = ["generic", "avx2", "avx512"]
    detected = _core.detected_isa()
    shapes = _core.kernel_shapes()
    return {
        "version": _core.version(),
        "isa": _core.get_isa(),
        "isa_detected": detected,
        "isa_available": order[: order.index(detected) + 1],
        "isa_compiled": list(info["isa_compiled"]),
        "cpu": info["cpu"],
        "threads": _core.get_num_threads(),
        "forked_child": _core.in_forked_child(),
        "openmp": info["openmp"]
        + (f" (OpenMP {info['openmp_version']})" if info["openmp_version"] else ""),
        "compiler": info["compiler"],
        "build_type": info["build_type"],
        "gemm_kernel": {
            dt: f"{mr}x{nr}" if (mr, nr) == (pmr, pnr) else f"{mr}x{nr} (small), {pmr}x{pnr} (packed)"
            for dt, (mr, nr, pmr, pnr) in shapes.items()
        },
        "python": platform.python_version(),
        "numpy": numpy.__version__,
    }
