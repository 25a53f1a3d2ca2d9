#!/usr/bin/env python3
"""Fits the polynomial coefficients used by cpp/simd/vmath.h.

Every approximation is  target(v) ~= sum_j c_j * basis_j(v)  on an interval,
minimising the maximum *weighted* error (the weight turns it into the relative
error of the final function). Method: least squares on Chebyshev nodes in
50-digit arithmetic (mpmath), refined by Lawson's iteratively reweighted least
squares towards the minimax solution, then the coefficients are rounded to the
working precision (float32 / float64) and the weighted error of the *rounded*
polynomial is measured on a dense grid. Nothing here is copied from a libm: the
targets are the defining functions, evaluated by mpmath.

    python3 cpp/simd/tools/fit_vmath.py            # prints every table
    python3 cpp/simd/tools/fit_vmath.py exp_f32    # one table

The printed C++ initialisers are pasted into vmath.h (section "coefficients").
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def cheb_nodes(a, b, n):
    return [mp.mpf(a) + (mp.mpf(b) - a) * (1 + mp.cos(mp.pi * (2 * k + 1) / (2 * n))) / 2 for k in range(n)]


def lawson(nodes, target, basis, weight, iters=60):
    """Weighted minimax fit: returns coefficients (mpf) for the basis."""
    rows = [[b(v) * weight(v) for b in basis] for v in nodes]
    rhs = [target(v) * weight(v) for v in nodes]
    A = mp.matrix(rows)
    y = mp.matrix(rhs)
    m = len(nodes)
    lw = [mp.mpf(1) / m] * m
    c = None
    for _ in range(iters):
        sq = [mp.sqrt(w) for w in lw]
        Aw = mp.matrix(m, len(basis))
        yw = mp.matrix(m, 1)
        for i in range(m):
            for j in range(len(basis)):
                Aw[i, j] = A[i, j] * sq[i]
            yw[i] = y[i] * sq[i]
        c, _ = mp.qr_solve(Aw, yw)
        err = [abs(sum(A[i, j] * c[j] for j in range(len(basis))) - y[i]) for i in range(m)]
        s = sum(lw[i] * err[i] for i in range(m))
        if s == 0:
            break
        lw = [lw[i] * err[i] / s for i in range(m)]
    return [c[j] for j in range(len(basis))]


def rounded(cs, dtype):
    return [mp.mpf(float(np.dtype(dtype).type(float(c)))) for c in cs]


def max_err(a, b, target, basis, weight, cs, n=3000):
    worst = mp.mpf(0)
    for k in range(n + 1):
        v = mp.mpf(a) + (mp.mpf(b) - a) * k / n
        if v == 0:
            continue
        e = abs((sum(c * bf(v) for c, bf in zip(cs, basis)) - target(v)) * weight(v))
        worst = max(worst, e)
    return worst


def powers(ks, var=lambda v: v):
    return [(lambda v, k=k: var(v) ** k) for k in ks]


def fmt(cs, dtype):
    if dtype == "float32":
        return ", ".join(float(np.float32(float(c))).hex().replace("0000000p", "p") + "f" for c in cs)
    return ", ".join(float(c).hex() for c in cs)


FITS = {}


def fit(name):
    def deco(fn):
        FITS[name] = fn
        return fn
    return deco


LN2H = mp.log(2) / 2


def exp_poly(deg, dtype, a=-0.3466, b=0.3466):
    # expm1(r) ~= r + r^2 * P(r),  P = sum_{j=0..deg-2} c_j r^j; relative to expm1(r).
    # The same P gives exp(r) = 1 + (r + r^2 P(r)) (an even smaller relative error).
    target = lambda r: mp.expm1(r) - r
    basis = powers(range(2, deg + 1))
    weight = lambda r: 1 / abs(mp.expm1(r)) if r != 0 else mp.mpf(1)
    cs = lawson(cheb_nodes(a, b, 4 * deg + 20), target, basis, weight)
    cr = rounded(cs, dtype)
    return cr, max_err(a, b, target, basis, weight, cr)


@fit("exp_f32")
def _():
    return exp_poly(6, "float32"), "float32"


@fit("exp_f64")
def _():
    return exp_poly(11, "float64"), "float64"


def log1p_f32(deg):
    # log1p(f) ~= f + f^2 * Q(f), f in [sqrt(1/2)-1, sqrt(2)-1]; relative to log1p(f).
    a, b = mp.sqrt(0.5) - 1 - 1e-4, mp.sqrt(2) - 1 + 1e-4
    target = lambda f: mp.log1p(f) - f
    basis = powers(range(2, deg + 1))
    weight = lambda f: 1 / abs(mp.log1p(f))
    cs = lawson(cheb_nodes(a, b, 4 * deg + 20), target, basis, weight)
    cr = rounded(cs, "float32")
    return cr, max_err(a, b, target, basis, weight, cr)


@fit("log1p_f32")
def _():
    return log1p_f32(9), "float32"


def log1p_f64(deg):
    # log1p(f) = f - f^2/2 + s*(f^2/2 + z*T(z)),  s = f/(2+f), z = s^2 (exact identity
    # with 2*atanh(s) = 2s + s^3*T(s^2)); fit T on z in [0, smax^2], weighted by the
    # size of s^3*T relative to log1p(f).
    smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1) + mp.mpf(1e-6)
    target = lambda z: (2 * mp.atanh(mp.sqrt(z)) - 2 * mp.sqrt(z)) / mp.sqrt(z) ** 3
    basis = powers(range(0, deg + 1))
    def weight(z):
        s = mp.sqrt(z)
        f = 2 * s / (1 - s)
        return s ** 3 / abs(mp.log1p(f))
    a = mp.mpf(1e-12)
    cs = lawson(cheb_nodes(a, smax ** 2, 4 * deg + 20), target, basis, weight)
    cr = rounded(cs, "float64")
    return cr, max_err(a, smax ** 2, target, basis, weight, cr)


@fit("log1p_f64")
def _():
    return log1p_f64(6), "float64"


ERF_SPLIT = mp.mpf("0.5")


def erf_small(deg, dtype):
    # erf(x) ~= x * H(x^2) on |x| <= ERF_SPLIT, relative to erf(x).
    target = lambda z: mp.erf(mp.sqrt(z)) / mp.sqrt(z) if z > 0 else 2 / mp.sqrt(mp.pi)
    basis = powers(range(0, deg + 1))
    weight = lambda z: 1 / target(z)
    b = ERF_SPLIT ** 2
    cs = lawson(cheb_nodes(0, b, 3 * deg + 15), target, basis, weight, iters=30)
    cr = rounded(cs, dtype)
    return cr, max_err(0, b, target, basis, weight, cr, n=1000)


@fit("erf_f32")
def _():
    return erf_small(4, "float32"), "float32"


@fit("erf_f64")
def _():
    return erf_small(9, "float64"), "float64"


def erfc_large(c, xmax, deg, dtype):
    # erfc(x) = exp(-x^2) * G(x) on [ERF_SPLIT, xmax] with G(x) = t * Q(t),
    # t = 1/(1 + c x); Q fitted relative to G/t.
    G = lambda x: mp.erfc(x) * mp.exp(x * x)
    ta, tb = 1 / (1 + c * mp.mpf(xmax)), 1 / (1 + c * ERF_SPLIT)
    xt = lambda t: (1 / t - 1) / c
    target = lambda t: G(xt(t)) / t
    basis = powers(range(0, deg + 1))
    weight = lambda t: 1 / target(t)
    cs = lawson(cheb_nodes(ta, tb, 3 * deg + 15), target, basis, weight, iters=30)
    cr = rounded(cs, dtype)
    return cr, max_err(ta, tb, target, basis, weight, cr, n=800)


@fit("erfc_f32")
def _():
    return erfc_large(mp.mpf("1"), 10.1, 12, "float32"), "float32"


@fit("erfc_f64")
def _():
    return erfc_large(mp.mpf("0.3"), 27.25, 22, "float64"), "float64"


def main(names):
    for name in names:
        (cs, err), dtype = FITS[name]()
        print(f"// {name}: max weighted (relative) error of the rounded fit {mp.nstr(err, 3)}"
              f" = {mp.nstr(err / (2.0 ** (-24 if dtype == 'float32' else -53)), 3)} ulp-units")
        print("{" + fmt(cs, dtype) + "}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(FITS))
