"""Matrix products: matmul (numpy semantics), gemm (BLAS semantics), linear (torch semantics)."""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import numpy as np

from . import _core

__all__ = ["matmul", "gemm", "linear"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_MATMUL2D = {_F32: _core.matmul2d_f32, _F64: _core.matmul2d_f64}
_MATMUL2D_OUT = {_F32: _core.matmul2d_out_f32, _F64: _core.matmul2d_out_f64}
_MATMUL_INTO = {_F32: _core.matmul_into_f32, _F64: _core.matmul_into_f64}
_GEMM_INTO = {_F32: _core.gemm_into_f32, _F64: _core.gemm_into_f64}
_SIGNATURE = "(n?,k),(k,m?)->(n?,m?)"


def _float_dtype(func: str, *arrays: Any) -> np.dtype:
    """The float dtype a kernel computes in: numpy's promotion, integers/bools -> float64."""
    try:
        dt = np.result_type(*arrays)
    except TypeError as e:
        raise TypeError(f"{func}: unsupported input dtypes ({e})") from None
    if dt == _F32 or dt == _F64:
        return _F32 if dt == _F32 else _F64
    if dt.kind in "biu":
        return _F64
    if dt.kind == "f" and dt.itemsize < 4:
        return _F32
    raise TypeError(f"{func}: expected real floating-point (or integer/bool) data, got dtype {dt}")


def _array(func: str, name: str, x: Any, kinds: str = "biuf") -> np.ndarray:
    """np.asarray(x), or TypeError naming func and name (ragged lists, None, other dtypes)."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:   # ragged nested lists and the like
        raise TypeError(f"{func}: {name} cannot be converted to an array: {e}") from None
    if a.dtype.kind not in kinds:
        raise TypeError(f"{func}: {name} must be a real numeric array, got dtype {a.dtype}")
    return a


def _as(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    """x as dtype dt, native byte order, aligned, strides a multiple of the item size
    (at most one copy). The kernels dereference T*: misaligned data (np.frombuffer at an
    odd offset) is undefined behaviour there (UBSan, tools/sanitize.sh), and
    np.ascontiguousarray keeps it misaligned, so such data is copied."""
    x = x.astype(dt, copy=False)
    if not x.flags.aligned:
        x = np.array(x, order="C", copy=True)
    elif any(s % dt.itemsize for s in x.strides):
        x = np.ascontiguousarray(x)
    return x


def _check_out(out: Any, func: str, name: str = "out") -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{func}: {name} must be a numpy.ndarray, got {type(out).__name__}")
    if not out.flags.writeable:
        raise ValueError(f"{func}: {name} is read-only")
    return out


def matmul(a: Any, b: Any, out: Optional[np.ndarray] = None) -> Any:
    """Matrix product with the semantics of :func:`numpy.matmul`.

    1-D operands are promoted to matrices (a row for ``a``, a column for ``b``) and the
    added dimension is removed from the result; N-D operands are stacks of matrices
    whose leading (batch) dimensions broadcast. float32 and float64 run in nnmat's
    kernels (mixed float32/float64 computes in float64, integers/bools are promoted
    as numpy promotes them); any other dtype (complex, float16, integers only) is
    handed to ``numpy.matmul`` so that the function is a safe drop-in. Object arrays
    are rejected with TypeError.

    Parameters
    ----------
    a, b : array_like
        Operands; not modified.
    out : ndarray, optional
        Where to write the result; must have the result's shape, be writeable and
        have a dtype the result can be cast to (``same_kind``). May overlap ``a`` or
        ``b`` (the result is then computed in a temporary first).

    Returns
    -------
    ndarray or scalar
        ``a @ b`` (a scalar for two 1-D operands, as numpy); ``out`` when given.
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        dt = a.dtype
        if dt is b.dtype and a.ndim == 2 and b.ndim == 2 and a.flags.aligned and b.flags.aligned:
            # Fast paths for the common case (2-D operands of one float dtype): the
            # kernel checks shapes and strides; anything unusual (mismatched shapes,
            # odd strides) goes on to the general path, which copies or explains.
            if out is None:
                f = _MATMUL2D.get(dt)
                if f is not None:
                    try:
                        return f(a, b)
                    except ValueError:
                        pass
            elif type(out) is np.ndarray and out.dtype is dt and out.ndim == 2 and out.flags.aligned:
                f = _MATMUL2D_OUT.get(dt)
                if f is not None:
                    try:
                        if f(a, b, out):   # False: out overlaps a or b (the general path copies)
                            return out
                    except ValueError:
                        pass
    return _matmul_general(a, b, out)


def _matmul_general(a: Any, b: Any, out: Optional[np.ndarray]) -> Any:
    a = _array("matmul", "a", a, "biufc")   # complex: numpy.matmul's job (below)
    b = _array("matmul", "b", b, "biufc")
    for i, x in enumerate((a, b)):
        if x.ndim == 0:
            raise ValueError(
                f"matmul: Input operand {i} does not have enough dimensions (has 0, gufunc core "
                f"with signature {_SIGNATURE} requires 1)"
            )
    if out is not None:
        out = _check_out(out, "matmul")
    try:
        dt = np.result_type(a, b)
    except TypeError:
        raise TypeError(f"matmul: unsupported operand dtypes {a.dtype} and {b.dtype}") from None
    if dt.kind in "biu" or dt not in (_F32, _F64):
        # Not a float32/float64 computation (integers, complex, float16, ...): numpy's job.
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    dt = _F32 if dt == _F32 else _F64
    a = _as(a, dt)
    b = _as(b, dt)
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    k = a2.shape[-1]
    if b2.shape[-2] != k:
        raise ValueError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc signature "
            f"{_SIGNATURE} (size {b2.shape[-2]} is different from {k})"
        )
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: operands could not be broadcast together: batch shapes {a2.shape[:-2]} "
            f"and {b2.shape[:-2]} (full shapes {a.shape} and {b.shape})"
        ) from None
    m, n = a2.shape[-2], b2.shape[-1]
    full_shape = batch + (m, n)
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())

    a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
    if out is None:
        c = np.empty(full_shape, dt)
        _MATMUL_INTO[dt](a3, b3, c)
        result = c.reshape(shape)
        return result[()] if result.ndim == 0 else result

    if out.shape != shape:
        raise ValueError(f"matmul: out has shape {out.shape}, but the result has shape {shape}")
    if out.dtype != dt and not np.can_cast(dt, out.dtype, "same_kind"):
        raise TypeError(
            f"matmul: cannot cast the result from dtype {dt} to out's dtype {out.dtype} "
            f"with casting rule 'same_kind'"
        )
    direct = (
        out.dtype == dt
        and out.dtype.isnative
        and not any(s % dt.itemsize for s in out.strides)
        and out.flags.aligned
        and not np.may_share_memory(out, a)
        and not np.may_share_memory(out, b)
    )
    if direct:
        if a.ndim == 1 and b.ndim == 1:
            c = out[np.newaxis, np.newaxis]
        elif a.ndim == 1:
            c = out[..., np.newaxis, :]
        elif b.ndim == 1:
            c = out[..., np.newaxis]
        else:
            c = out
        _MATMUL_INTO[dt](a3, b3, c)
    else:
        c = np.empty(full_shape, dt)
        _MATMUL_INTO[dt](a3, b3, c)
        np.copyto(out, c.reshape(shape), casting="same_kind")
    return out


def _real_scalar(x: Any, name: str) -> float:
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"gemm: {name} must be a real number, got {type(x).__name__} {x!r}")
    return float(x)


def gemm(
    a: Any,
    b: Any,
    c: Optional[np.ndarray] = None,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    trans_a: bool = False,
    trans_b: bool = False,
) -> np.ndarray:
    """General matrix multiply with BLAS semantics: ``c = alpha * op(a) @ op(b) + beta * c``.

    ``op(x)`` is ``x.T`` when ``trans_x`` is true, else ``x``; transposes are views and
    are never copied. As in BLAS, ``beta == 0`` means ``c`` is not read (NaN in it is
    overwritten) and ``alpha == 0`` means ``a`` and ``b`` are not read.

    Parameters
    ----------
    a, b : array_like, 2-D
        Operands (converted to ``c``'s dtype, or to their promoted float dtype).
    c : ndarray, 2-D, optional
        float32 or float64 output of shape ``(op(a).shape[0], op(b).shape[1])``, updated
        in place. When omitted a new array is returned and ``beta`` is ignored.
    alpha, beta : float
        Scalars of the update.
    trans_a, trans_b : bool
        Use the transpose of ``a`` / ``b``.

    Returns
    -------
    ndarray
        ``c``.
    """
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and type(c) is np.ndarray
        and type(alpha) is float
        and type(beta) is float
        and a.ndim == 2
        and b.ndim == 2
        and c.ndim == 2
        and a.dtype is c.dtype
        and b.dtype is c.dtype
        and c.flags.writeable
        and a.flags.aligned
        and b.flags.aligned
        and c.flags.aligned
        and not np.may_share_memory(c, a)
        and not np.may_share_memory(c, b)
    ):
        # The common case (2-D arrays of one float dtype, c given): straight to the
        # kernel, which checks shapes and strides; anything unusual goes on to the
        # general path, which copies or explains.
        f = _GEMM_INTO.get(c.dtype)
        if f is not None:
            try:
                f(a.T if trans_a else a, b.T if trans_b else b, c, alpha, beta)
                return c
            except ValueError:
                pass
    a = _array("gemm", "a", a)
    b = _array("gemm", "b", b)
    for name, x in (("a", a), ("b", b)):
        if x.ndim != 2:
            raise ValueError(f"gemm: {name} must be 2-D, got shape {x.shape}")
    alpha = _real_scalar(alpha, "alpha")
    beta = _real_scalar(beta, "beta")
    if c is None:
        dt = _float_dtype("gemm", a, b)
    else:
        c = _check_out(c, "gemm", "c")
        if c.dtype not in (_F32, _F64):
            raise TypeError(f"gemm: c must be float32 or float64, got dtype {c.dtype}")
        if c.ndim != 2:
            raise ValueError(f"gemm: c must be 2-D, got shape {c.shape}")
        dt = _F32 if c.dtype == _F32 else _F64
        _float_dtype("gemm", a, b)  # rejects complex/object inputs
    a = _as(a, dt)
    b = _as(b, dt)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    if opa.shape[1] != opb.shape[0]:
        raise ValueError(
            f"gemm: inner dimensions differ: op(a) has shape {opa.shape}, op(b) has shape {opb.shape}"
        )
    if c is None:
        c = np.empty((opa.shape[0], opb.shape[1]), dt)
        _GEMM_INTO[dt](opa, opb, c, alpha, 0.0)
        return c
    if c.shape != (opa.shape[0], opb.shape[1]):
        raise ValueError(
            f"gemm: c has shape {c.shape}, expected {(opa.shape[0], opb.shape[1])} for "
            f"op(a) {opa.shape} @ op(b) {opb.shape}"
        )
    if (
        not c.dtype.isnative
        or any(s % dt.itemsize for s in c.strides)
        or not c.flags.aligned
        or np.may_share_memory(c, a)
        or np.may_share_memory(c, b)
    ):
        tmp = np.array(c, dtype=dt, copy=True)
        _GEMM_INTO[dt](opa, opb, tmp, alpha, beta)
        c[...] = tmp
    else:
        _GEMM_INTO[dt](opa, opb, c, alpha, beta)
    return c


def linear(x: Any, weight: Any, bias: Any = None, activation: Any = None) -> np.ndarray:
    """Affine map of :func:`torch.nn.functional.linear`, ``x @ weight.T + bias``,
    optionally followed by an element-wise activation, all in one pass.

    The bias is added in the GEMM epilogue while each output tile is in
    registers, and the activation is applied to each tile right after it is
    written, while it is still in cache; ``weight.T`` is read in place, never
    materialised.

    Parameters
    ----------
    x : array_like, shape (..., in_features)
    weight : array_like, shape (out_features, in_features)
    bias : array_like, shape (out_features,), optional
    activation : str or nnmat.activations function, optional
        One of the element-wise activations of :mod:`nnmat.activations`
        ('relu', 'sigmoid', 'tanh', 'gelu', 'gelu_tanh', 'silu', 'mish', ...)
        with its default parameters (torch's).

    Returns
    -------
    ndarray, shape (..., out_features)
        In the promoted float dtype of the inputs (float32 when all are float32).
    """
    act = _activation_id(activation)
    if (
        type(x) is np.ndarray
        and type(weight) is np.ndarray
        and x.ndim == 2
        and weight.ndim == 2
        and x.shape[1] == weight.shape[1]
        and x.flags.aligned
        and weight.flags.aligned
        and (
            bias is None
            or (
                type(bias) is np.ndarray
                and bias.dtype is x.dtype
                and bias.shape == (weight.shape[0],)
                and bias.flags.aligned
            )
        )
    ):
        # The common case (2-D x, one float dtype): straight to the kernel, which
        # checks strides; anything unusual goes on to the general path.
        dt = x.dtype
        f = _GEMM_INTO.get(dt)
        if f is not None and weight.dtype is dt:
            out = np.empty((x.shape[0], weight.shape[0]), dt)
            try:
                f(x, weight.T, out, 1.0, 0.0, bias, *act)
                return out
            except ValueError:
                pass
    x = _array("linear", "x", x)
    weight = _array("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim < 1:
        raise ValueError("linear: x must have at least 1 dimension (..., in_features)")
    out_features, in_features = weight.shape
    if x.shape[-1] != in_features:
        raise ValueError(
            f"linear: x has {x.shape[-1]} features in its last dimension but weight expects "
            f"{in_features}: shapes {x.shape} and {weight.shape} cannot be multiplied"
        )
    arrays = (x, weight) if bias is None else (x, weight, _array("linear", "bias", bias))
    dt = _float_dtype("linear", *arrays)
    if bias is not None:
        bias = _as(np.asarray(bias), dt)
        if bias.shape != (out_features,):
            raise ValueError(f"linear: bias must have shape ({out_features},), got {bias.shape}")
    lead = x.shape[:-1]
    rows = math.prod(lead)
    x2 = _as(x, dt).reshape(rows, in_features)
    w = _as(weight, dt)
    out = np.empty((rows, out_features), dt)
    _GEMM_INTO[dt](x2, w.T, out, 1.0, 0.0, bias, *act)
    return out.reshape(lead + (out_features,))


# Activations the GEMM epilogue applies, with torch's default parameters (p0, p1).
_EPILOGUE_ACTIVATIONS = {
    "identity": (0.0, 0.0), "sigmoid": (0.0, 0.0), "tanh": (0.0, 0.0), "relu": (0.0, 0.0),
    "leaky_relu": (0.01, 0.0), "elu": (1.0, 0.0), "selu": (0.0, 0.0), "gelu": (0.0, 0.0),
    "gelu_tanh": (0.0, 0.0), "silu": (0.0, 0.0), "softplus": (1.0, 20.0), "mish": (0.0, 0.0),
    "hardtanh": (-1.0, 1.0), "hardsigmoid": (0.0, 0.0), "hardswish": (0.0, 0.0),
}


_NO_ACTIVATION = (0, 0.0, 0.0)
_ACTIVATION_IDS: dict = {}   # name -> (kernel id, p0, p1), filled on first use


def _activation_id(activation: Any):
    """(kernel id, p0, p1) of an epilogue activation; id 0 = none."""
    if activation is None:
        return _NO_ACTIVATION
    if type(activation) is str:
        known = _ACTIVATION_IDS.get(activation)
        if known is not None:
            return known
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    if name == "swish":
        name = "silu"
    if not isinstance(name, str) or name not in _EPILOGUE_ACTIVATIONS:
        names = ", ".join(repr(n) for n in _EPILOGUE_ACTIVATIONS)
        raise ValueError(f"linear: activation must be None or one of {names}; got {activation!r} "
                         "(softmax-like activations are not element-wise: apply them to the result)")
    from .activations._elementwise import ACT_IDS

    ids = (ACT_IDS[name],) + _EPILOGUE_ACTIVATIONS[name]
    if type(activation) is str:
        _ACTIVATION_IDS[activation] = ids
    return ids
