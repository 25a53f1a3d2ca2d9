"""nnmat: the mathematics of neural networks, fast, on the CPU.

C++ kernels (blocked GEMM with per-ISA SIMD micro-kernels, chosen at run time)
behind drop-in Python functions:

* :func:`matmul` -- ``numpy.matmul`` semantics
* :func:`gemm` -- BLAS ``c = alpha op(a) op(b) + beta c``
* :func:`linear` -- ``torch.nn.functional.linear`` with the bias and activation fused
* :mod:`nnmat.activations` -- activations, forward and backward
* :mod:`nnmat.losses` -- every loss of the spec, with ``.grad`` and ``.value_and_grad``

Threads: :func:`set_num_threads`, :func:`get_num_threads`, :func:`threads`
(``OMP_NUM_THREADS`` is honoured). Instruction set: ``NNMAT_ISA=generic|avx2|avx512``
forces a lower level. :func:`config` reports what is in use.
"""
from . import _core, activations, losses, nn
from ._config import config, get_num_threads, set_num_threads, threads
from ._matmul import gemm, linear, matmul

__version__ = _core.version()

__all__ = [
    "matmul",
    "gemm",
    "linear",
    "config",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "activations",
    "losses",
    "nn",
    "__version__",
]
