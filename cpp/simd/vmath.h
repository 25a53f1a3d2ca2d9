// Vectorised elementary functions over Vec<T> (cpp/simd/<isa>.h), compiled per ISA
// inside namespace nnmat::NNMAT_ISA_NS. Include after the ISA's vector header.
//
// Contract (both float and double, every lane independent; cpp/simd/VMATH.md):
//   exp, expm1, log, log1p, tanh, erf, erfc, sigmoid
//   * IEEE special values as the C library: NaN in -> NaN out, exp(-inf) = 0,
//     exp(+inf) = inf, exp overflow -> inf, log(0) = -inf, log(x < 0) = NaN,
//     log1p(-1) = -inf, expm1(-inf) = -1, tanh(+-inf) = +-1, tanh(-0) = -0,
//     erf(+-inf) = +-1, erfc(+inf) = 0, erfc(-inf) = 2; subnormal results are
//     produced (not flushed), subnormal inputs handled.
//   * accuracy: a few ulp in float32, about 1e-15 relative in float64, over the
//     whole range (tests/test_vmath.py measures it; VMATH.md has the table).
//
// Structure: a branch-free main path for the usual range and, behind
// V::any(mask), a rarely taken path for lanes outside it (overflow, subnormal
// results or inputs, special values). Polynomial coefficients are fitted by
// cpp/simd/tools/fit_vmath.py (weighted minimax in 50-digit arithmetic, then
// rounded); the script prints the tables below.
#pragma once
#include <cmath>

// The main paths are forced inline: a call in a kernel's loop makes every
// polynomial constant live across it, and GCC then spills them all to the
// stack (measured: softplus 2.4x slower). Rare paths stay out of line.
#ifndef NNMAT_VINLINE
#define NNMAT_VINLINE inline __attribute__((always_inline))
#define NNMAT_VCOLD __attribute__((noinline, cold))
#endif

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T> struct VMathConst;

template <> struct VMathConst<float> {
    // n*LN2_HI is exact for |n| < 2^8 (LN2_HI has 16 significant bits).
    static constexpr float LN2_HI = 0x1.62e4p-1f, LN2_LO = 1.4286068203094173e-06f;
    static constexpr float LOG2E = 0x1.715476p+0f;
    // |x| below this: exp's 2^n is a normal number (n in [-126, 126]).
    static constexpr float EXP_MAIN = 87.0f;
    // exp clamps its argument here before the wide scaling (results 0 / inf).
    static constexpr float EXP_LO = -104.0f, EXP_HI = 89.0f;
    static constexpr float MIN_NORMAL = 0x1p-126f, MAX_FINITE = 0x1.fffffep127f;
    static constexpr float SUBNORMAL_SCALE = 0x1p24f, SUBNORMAL_EXP = 24.0f;
    static constexpr float TANH_SAT = 9.1f;      // tanh(x) rounds to 1 beyond
    // expm1(r) ~= r + r^2 * P(r) on |r| <= ln2/2, relative error 0.28 ulp (fit_vmath.py exp_f32)
    static constexpr int EXP_N = 5;
    static constexpr float EXP_P[EXP_N] = {0x1.fffffep-2f, 0x1.5554bp-3f, 0x1.555682p-5f, 0x1.122748p-7f,
                                           0x1.6be08ep-10f};
    // log1p(f) ~= f + f^2 * Q(f) on [sqrt(1/2)-1, sqrt(2)-1], relative 0.56 ulp (log1p_f32)
    static constexpr int LOG_N = 8;
    static constexpr float LOG_Q[LOG_N] = {-0x1.fffffap-2f, 0x1.5556f6p-2f, -0x1.0004aap-2f, 0x1.98d25cp-3f,
                                           -0x1.535ad0p-3f, 0x1.31869p-3f, -0x1.25123ep-3f, 0x1.65dcb8p-4f};
    // erf(x) ~= x * H(x^2) on |x| <= 0.5, relative 0.95 ulp (erf_f32)
    static constexpr int ERF_N = 5;
    static constexpr float ERF_H[ERF_N] = {0x1.20dd74p+0f, -0x1.812732p-2f, 0x1.ce24f6p-4f, -0x1.b663a0p-6f, 0x1.3531fap-8f};
    // erfc(x) ~= exp(-x^2) * t * Q(t), t = 1/(1 + x), on [0.5, 10.1], relative 0.14 ulp (erfc_f32)
    static constexpr float ERFC_C = 1.0f, ERFC_XMAX = 10.1f, VELTKAMP = 4097.0f;
    static constexpr int ERFC_N = 13;
    static constexpr float ERFC_Q[ERFC_N] = {0x1.20dda8p-1f, 0x1.20d37ep-1f, 0x1.228ad8p-2f, -0x1.3509f6p-2f, -0x1.203316p-1f,
                                             -0x1.78037ep-1f, 0x1.46b32ep+1f, 0x1.763218p+2f, -0x1.da4d9ep+4f, 0x1.9acc7cp+5f,
                                             -0x1.7ee41ap+5f, 0x1.82d856p+4f, -0x1.4f5a58p+2f};
};

template <> struct VMathConst<double> {
    // n*LN2_HI is exact for |n| < 2^11 (LN2_HI has 32 significant bits).
    static constexpr double LN2_HI = 0x1.62e42feep-1, LN2_LO = 0x1.a39ef35793c76p-33;
    static constexpr double LOG2E = 0x1.71547652b82fep+0;
    static constexpr double EXP_MAIN = 708.0;
    static constexpr double EXP_LO = -746.0, EXP_HI = 710.0;
    static constexpr double MIN_NORMAL = 0x1p-1022, MAX_FINITE = 0x1.fffffffffffffp1023;
    static constexpr double SUBNORMAL_SCALE = 0x1p54, SUBNORMAL_EXP = 54.0;
    static constexpr double TANH_SAT = 19.1;
    // expm1(r) ~= r + r^2 * P(r) on |r| <= ln2/2, relative error 0.27 ulp (exp_f64)
    static constexpr int EXP_N = 10;
    static constexpr double EXP_P[EXP_N] = {0x1.0000000000005p-1, 0x1.555555555553ap-3, 0x1.555555555227ep-5,
                                            0x1.111111111900cp-7, 0x1.6c16c17ee38bcp-10, 0x1.a01a01744354fp-13,
                                            0x1.a019a76492cdcp-16, 0x1.71de8b0a527a7p-19, 0x1.28a1e208e63c2p-22,
                                            0x1.ae656e96ea7d7p-26};
    // log1p(f) = f - f^2/2 + s*(f^2/2 + z*T(z)), s = f/(2+f), z = s^2; T fitted on
    // z <= ((sqrt2-1)/(sqrt2+1))^2, relative error 0.012 ulp (log1p_f64)
    static constexpr int LOG_N = 7;
    static constexpr double LOG_Q[LOG_N] = {0x1.5555555555592p-1, 0x1.9999999980011p-2, 0x1.24924941cf1c0p-2,
                                            0x1.c71c5224bbfbdp-3, 0x1.74663968e09e2p-3, 0x1.39a24522546aep-3,
                                            0x1.2f0013fd6ff12p-3};
    // erf(x) ~= x * H(x^2) on |x| <= 0.5, relative 0.12 ulp (erf_f64)
    static constexpr int ERF_N = 10;
    static constexpr double ERF_H[ERF_N] = {0x1.20dd750429b6dp+0, -0x1.812746b0379e6p-2, 0x1.ce2f21a042b24p-4, -0x1.b82ce3127f4bfp-6, 0x1.565bcd0a9a0fep-8, -0x1.c02db238f5aecp-11, 0x1.f9a2a57c20738p-14, -0x1.f4bb82f61e493p-17, 0x1.b7745f10c803bp-20, -0x1.39ede16bbc33bp-23};
    // erfc(x) ~= exp(-x^2) * t * Q(t), t = 1/(1 + 0.3x), on [0.5, 27.25], relative 0.46 ulp (erfc_f64)
    static constexpr double ERFC_C = 0.3, ERFC_XMAX = 27.25, VELTKAMP = 134217729.0;
    static constexpr int ERFC_N = 23;
    static constexpr double ERFC_Q[ERFC_N] = {0x1.5aa359383b9b1p-3, 0x1.5aa3593561bbdp-3, 0x1.4b0a144f7583cp-3, 0x1.2bd780f497194p-3, 0x1.fe4e9ea82aa54p-4, 0x1.92512e9c8e742p-4, 0x1.1fe90cbda1b3ap-4, 0x1.60d8160eb6eebp-5, 0x1.96e1b6913fe70p-6, -0x1.147db897c2256p-7, 0x1.88e44b1d576e4p-5, -0x1.3ae97caff1693p-3, 0x1.6627688e249bap-2, -0x1.619222016fb55p-1, 0x1.1716e5c3b87a1p+0, -0x1.6012bb6488425p+0, 0x1.5ebba6d7ed217p+0, -0x1.0a1c0b86850bbp+0, 0x1.2731e9bbe0b39p-1, -0x1.c8fdb778faeadp-3, 0x1.cc5630412a138p-5, -0x1.081411b6a8151p-7, 0x1.ed46c4f214236p-12};
};

template <class T>
struct VMath {
    using V = Vec<T>;
    using R = typename V::reg;
    using M = typename V::mask;
    using C = VMathConst<T>;

    static NNMAT_VINLINE R k(T c) { return V::bcast(c); }

    // Horner evaluation of c[0] + c[1] x + ... + c[N-1] x^(N-1).
    template <int N>
    static NNMAT_VINLINE R horner(R x, const T (&c)[N]) {
        R p = k(c[N - 1]);
        for (int i = N - 2; i >= 0; --i) p = V::fma(p, x, k(c[i]));
        return p;
    }

    // ---------------------------------------------------------------- exp family
    // x = n*ln2 + r, |r| <= ln2/2 (plus rounding); returns expm1(r), sets n.
    static NNMAT_VINLINE R expm1_reduced(R x, R& n) {
        n = V::round(V::mul(x, k(C::LOG2E)));
        R r = V::fnma(n, k(C::LN2_HI), x);
        r = V::fnma(n, k(C::LN2_LO), r);
        R r2 = V::mul(r, r);
        return V::fma(r2, horner(r, C::EXP_P), r);
    }
    // exp for any x (NaN and infinities included), gradual underflow.
    NNMAT_VCOLD static R exp_wide(R x) {
        // max(lo, x) / min(hi, .) keep a NaN x (x86 semantics: b is returned).
        R xc = V::min(k(C::EXP_HI), V::max(k(C::EXP_LO), x));
        R n;
        R q = expm1_reduced(xc, n);
        return V::ldexp(V::add(q, k(T(1))), n);
    }
    static NNMAT_VINLINE R exp(R x) {
        M out = V::mnot(V::lt(V::abs(x), k(C::EXP_MAIN)));   // also NaN lanes
        if (V::any(out)) return exp_wide(x);
        R n;
        R q = expm1_reduced(x, n);
        return V::ldexp_normal(V::add(q, k(T(1))), n);
    }
    // expm1 for x in [-EXP_MAIN, EXP_MAIN] (or NaN): 2^n*expm1(r) + (2^n - 1).
    static NNMAT_VINLINE R expm1_main(R x) {
        R n;
        R q = expm1_reduced(x, n);
        R s = V::pow2i(n);
        R y = V::fma(s, q, V::sub(s, k(T(1))));
        return V::copysign(y, x);   // expm1 keeps the sign of x (and of -0)
    }
    static NNMAT_VINLINE R expm1(R x) {
        // Below -EXP_MAIN the result is -1 in both precisions: clamp (NaN kept).
        R xc = V::max(k(-C::EXP_MAIN), x);
        M big = V::ge(x, k(C::EXP_MAIN));
        R y = expm1_main(V::min(k(C::EXP_MAIN), xc));
        if (V::any(big)) y = V::select(big, exp_wide(x), y);   // e^x - 1 == e^x there
        return y;
    }

    // ---------------------------------------------------------------- log family
    // log(2^e * (1 + f)) for f in [sqrt(1/2)-1, sqrt(2)-1] (slightly beyond is fine).
    static NNMAT_VINLINE R log_reduced(R f, R e) {
        if (sizeof(T) == 4) {
            R f2 = V::mul(f, f);
            R y = V::fma(f2, horner(f, C::LOG_Q), f);
            y = V::fma(e, k(C::LN2_LO), y);
            return V::fma(e, k(C::LN2_HI), y);
        } else {
            R s = V::div(f, V::add(f, k(T(2))));
            R z = V::mul(s, s);
            R hfsq = V::mul(k(T(0.5)), V::mul(f, f));
            R t = V::fma(s, V::fma(z, horner(z, C::LOG_Q), hfsq), V::mul(e, k(C::LN2_LO)));
            R y = V::add(V::sub(t, hfsq), f);
            return V::fma(e, k(C::LN2_HI), y);
        }
    }
    static NNMAT_VINLINE R log_positive_normal(R x) {
        R e;
        R m = V::frexp_sqrt2(x, e);
        return log_reduced(V::sub(m, k(T(1))), e);
    }
    NNMAT_VCOLD static R log_special(R x) {
        M sub = V::mand(V::gt(x, V::zero()), V::lt(x, k(C::MIN_NORMAL)));
        R xs = V::select(sub, V::mul(x, k(C::SUBNORMAL_SCALE)), x);
        M ok = V::mand(V::ge(xs, k(C::MIN_NORMAL)), V::le(xs, k(C::MAX_FINITE)));
        R e;
        R m = V::frexp_sqrt2(V::select(ok, xs, k(T(1))), e);
        e = V::select(sub, V::sub(e, k(C::SUBNORMAL_EXP)), e);
        R y = log_reduced(V::sub(m, k(T(1))), e);
        const T inf = T(INFINITY);
        y = V::select(V::eq(x, V::zero()), k(-inf), y);
        y = V::select(V::eq(x, k(inf)), k(inf), y);
        y = V::select(V::lt(x, V::zero()), k(T(NAN)), y);
        return V::select(V::isnan(x), x, y);
    }
    static NNMAT_VINLINE R log(R x) {
        M ok = V::mand(V::ge(x, k(C::MIN_NORMAL)), V::le(x, k(C::MAX_FINITE)));
        if (V::any(V::mnot(ok))) return log_special(x);
        return log_positive_normal(x);
    }
    // log1p for x in (-1, MAX_FINITE]: u = 1 + x = m*2^e, and the rounding error
    // c = x - (u - 1) of u is folded into f = m - 1 + c*2^-e.
    static NNMAT_VINLINE R log1p_main(R x) {
        R u = V::add(x, k(T(1)));
        R c = V::sub(x, V::sub(u, k(T(1))));
        R e;
        R m = V::frexp_sqrt2(u, e);
        const T lim = sizeof(T) == 4 ? T(-100) : T(-1000);
        R f = V::fma(c, V::pow2i(V::max(V::neg(e), k(lim))), V::sub(m, k(T(1))));
        return V::copysign(log_reduced(f, e), x);   // log1p keeps the sign of x (and of -0)
    }
    // log1p(e) for e in [0, 1] (or NaN), without the special-value handling of
    // log1p: the softplus family's log1p(exp(-|x|)). Same method and accuracy.
    static NNMAT_VINLINE R log1p_unit(R e) {
        R u = V::add(e, k(T(1)));
        R c = V::sub(e, V::sub(u, k(T(1))));                // rounding error of u
        M big = V::gt(u, k(T(1.41421356237309504880)));
        R half = V::select(big, k(T(0.5)), k(T(1)));
        R f = V::fma(c, half, V::fms(u, half, k(T(1))));   // u*half - 1 is exact
        return log_reduced(f, V::select(big, k(T(1)), V::zero()));
    }
    static NNMAT_VINLINE R log1p(R x) {
        M ok = V::mand(V::gt(x, k(T(-1))), V::le(x, k(C::MAX_FINITE)));
        if (!V::any(V::mnot(ok))) return log1p_main(x);
        R y = log1p_main(V::select(ok, x, V::zero()));
        const T inf = T(INFINITY);
        y = V::select(V::eq(x, k(T(-1))), k(-inf), y);
        y = V::select(V::lt(x, k(T(-1))), k(T(NAN)), y);
        y = V::select(V::eq(x, k(inf)), k(inf), y);
        return V::select(V::isnan(x), x, y);
    }

    // ---------------------------------------------------------------- sigmoid, tanh
    // 1/(1 + e^-x): e = exp(-|x|) <= 1, r = 1/(1+e); x >= 0 -> r, x < 0 -> e*r.
    static NNMAT_VINLINE R sigmoid(R x) {
        R e = exp(V::neg(V::abs(x)));
        R r = V::recip(V::add(k(T(1)), e));
        return V::select(V::lt(x, V::zero()), V::mul(e, r), r);
    }
    // tanh|x| = -em/(2 + em), em = expm1(-2|x|) (relative accuracy near 0), sign of x.
    static NNMAT_VINLINE R tanh(R x) {
        R a = V::min(k(C::TANH_SAT), V::abs(x));   // NaN kept
        R em = expm1_main(V::mul(a, k(T(-2))));
        R t = V::mul(V::neg(em), V::recip(V::add(em, k(T(2)))));
        return V::copysign(t, x);
    }

    // ---------------------------------------------------------------- erf, erfc
    // |x| <= 0.5: erf = x*H(x^2). a = |x| in [0.5, ERFC_XMAX] (or NaN): erfc(a) =
    // e^(-a^2) * t*Q(t). a^2 = hi + lo (Veltkamp split of a: hi = ah^2 exact
    // without FMA, lo = al*(a + ah)); e^(-hi-lo) = 2^n * p with the Cody-Waite
    // reduction taking hi exactly, and p * tQ is scaled by 2^n last, so only that
    // final step rounds into the subnormals.
    static NNMAT_VINLINE R erfc_large(R a) {
        R cs = V::mul(a, k(C::VELTKAMP));
        R ah = V::sub(cs, V::sub(cs, a));
        R al = V::sub(a, ah);
        R hi = V::mul(ah, ah);
        R lo = V::mul(al, V::add(a, ah));
        // -a^2 = -hi - lo = n*ln2 + r: -hi - n*LN2_HI is exact, lo joins r.
        R n = V::round(V::mul(V::neg(V::add(hi, lo)), k(C::LOG2E)));
        R r = V::sub(V::fnma(n, k(C::LN2_HI), V::neg(hi)), lo);
        r = V::fnma(n, k(C::LN2_LO), r);
        R p = V::add(V::fma(V::mul(r, r), horner(r, C::EXP_P), r), k(T(1)));
        R t = V::recip(V::fma(a, k(C::ERFC_C), k(T(1))));
        R g = V::mul(t, horner(t, C::ERFC_Q));
        return V::ldexp(V::mul(p, g), n);
    }
    static NNMAT_VINLINE R erf(R x) {
        R a = V::abs(x);
        R small = V::mul(x, horner(V::mul(x, x), C::ERF_H));
        M is_small = V::le(a, k(T(0.5)));
        // erf reaches 1 (rounded) long before ERFC_XMAX: clamp there (NaN kept).
        R c = erfc_large(V::min(k(T(sizeof(T) == 4 ? 6 : 7)), V::max(k(T(0.5)), a)));
        return V::select(is_small, small, V::copysign(V::sub(k(T(1)), c), x));
    }
    static NNMAT_VINLINE R erfc(R x) {
        R a = V::abs(x);
        R small = V::mul(x, horner(V::mul(x, x), C::ERF_H));
        M is_small = V::le(a, k(T(0.5)));
        R c = erfc_large(V::min(k(C::ERFC_XMAX), V::max(k(T(0.5)), a)));
        R large = V::select(V::lt(x, V::zero()), V::sub(k(T(2)), c), c);
        return V::select(is_small, V::sub(k(T(1)), small), large);
    }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
