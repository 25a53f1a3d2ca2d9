// 512-bit vectors, AVX-512 F/DQ/BW/VL. Included only by translation units
// compiled with the AVX-512 flags (namespace nnmat::avx512).
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T> struct Vec;

template <> struct Vec<float> {
    static constexpr int lanes = 16;
    using reg = __m512;
    static inline reg zero() { return _mm512_setzero_ps(); }
    static inline reg load(const float* p) { return _mm512_loadu_ps(p); }
    // The first n lanes (0 <= n <= lanes) from p, the others zero; reads nothing at or past p + n.
    static inline reg load_partial(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p); }
    // Stores the first n lanes (0 <= n <= lanes) of a to p; writes nothing at or past p + n.
    static inline void store_partial(float* p, reg a, int64_t n) { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1u), a); }
    static inline void store(float* p, reg a) { _mm512_storeu_ps(p, a); }
    static inline reg bcast(float x) { return _mm512_set1_ps(x); }
    static inline reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static inline reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static inline reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static inline float fma1(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
    // Element-wise helpers for the activation and loss kernels.
    using mask = __mmask16;
    static inline reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
    static inline reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
    static inline reg fms(reg a, reg b, reg c) { return _mm512_fmsub_ps(a, b, c); }     // a*b - c
    static inline reg fnma(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }   // c - a*b
    // max/min return b when either operand is NaN (x86 semantics): max(0, x) keeps a NaN x.
    static inline reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
    static inline reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
    static inline reg abs(reg a) { return _mm512_abs_ps(a); }
    static inline reg neg(reg a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
    static inline reg sqrt(reg a) { return _mm512_sqrt_ps(a); }
    static inline mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static inline mask le(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
    static inline mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static inline mask ge(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    static inline mask eq(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    static inline mask isnan(reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
    static inline reg select(mask m, reg a, reg b) { return _mm512_mask_blend_ps(m, b, a); }   // m ? a : b
    static inline mask mand(mask a, mask b) { return mask(a & b); }
    static inline mask mor(mask a, mask b) { return mask(a | b); }
    static inline mask mnot(mask a) { return mask(~a); }
    static inline bool any(mask a) { return a != 0; }

    // ---- Bit-level helpers for the elementary functions (cpp/simd/vmath.h) ----
    // Magnitude of a with the sign of s (one ternary-logic op).
    static inline reg copysign(reg a, reg s) {
        return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(a), _mm512_castps_si512(s),
                                                             _mm512_set1_epi32(int32_t(0x80000000u)), 0xd8));
    }
    // Round to nearest integer, ties to even.
    static inline reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // 2^n for integer-valued n in [-126, 127].
    static inline reg pow2i(reg n) { return _mm512_scalef_ps(_mm512_set1_ps(1.0f), n); }
    // a * 2^n, n integer-valued: vscalefps handles every range (overflow, subnormal
    // results rounded once), so both forms are one instruction.
    static inline reg ldexp_normal(reg a, reg n) { return _mm512_scalef_ps(a, n); }
    static inline reg ldexp(reg a, reg n) { return _mm512_scalef_ps(a, n); }
    // Positive normal finite x = m * 2^e, m in [sqrt(1/2), sqrt(2)), e integer-valued.
    static inline reg frexp_sqrt2(reg x, reg& e) {
        __m512i ix = _mm512_castps_si512(x);
        __m512i t = _mm512_sub_epi32(ix, _mm512_set1_epi32(0x3f3504f3));
        e = _mm512_cvtepi32_ps(_mm512_srai_epi32(t, 23));
        return _mm512_castsi512_ps(_mm512_sub_epi32(ix, _mm512_and_si512(t, _mm512_set1_epi32(int32_t(0xff800000u)))));
    }
    // Approximate 1/a (within about 1 ulp) for finite normal a: 14-bit estimate
    // and one Newton step.
    static inline reg recip(reg a) {
        reg y = _mm512_rcp14_ps(a);
        return _mm512_fmadd_ps(y, _mm512_fnmadd_ps(a, y, _mm512_set1_ps(1.0f)), y);
    }
};

template <> struct Vec<double> {
    static constexpr int lanes = 8;
    using reg = __m512d;
    static inline reg zero() { return _mm512_setzero_pd(); }
    static inline reg load(const double* p) { return _mm512_loadu_pd(p); }
    // The first n lanes (0 <= n <= lanes) from p, the others zero; reads nothing at or past p + n.
    static inline reg load_partial(const double* p, int64_t n) { return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1u), p); }
    // Stores the first n lanes (0 <= n <= lanes) of a to p; writes nothing at or past p + n.
    static inline void store_partial(double* p, reg a, int64_t n) { _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1u), a); }
    static inline void store(double* p, reg a) { _mm512_storeu_pd(p, a); }
    static inline reg bcast(double x) { return _mm512_set1_pd(x); }
    static inline reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
    static inline reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
    static inline reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
    static inline double fma1(double a, double b, double c) { return __builtin_fma(a, b, c); }
    // Element-wise helpers for the activation and loss kernels.
    using mask = __mmask8;
    static inline reg sub(reg a, reg b) { return _mm512_sub_pd(a, b); }
    static inline reg div(reg a, reg b) { return _mm512_div_pd(a, b); }
    static inline reg fms(reg a, reg b, reg c) { return _mm512_fmsub_pd(a, b, c); }     // a*b - c
    static inline reg fnma(reg a, reg b, reg c) { return _mm512_fnmadd_pd(a, b, c); }   // c - a*b
    // max/min return b when either operand is NaN (x86 semantics): max(0, x) keeps a NaN x.
    static inline reg max(reg a, reg b) { return _mm512_max_pd(a, b); }
    static inline reg min(reg a, reg b) { return _mm512_min_pd(a, b); }
    static inline reg abs(reg a) { return _mm512_abs_pd(a); }
    static inline reg neg(reg a) { return _mm512_xor_pd(a, _mm512_set1_pd(-0.0)); }
    static inline reg sqrt(reg a) { return _mm512_sqrt_pd(a); }
    static inline mask lt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
    static inline mask le(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LE_OQ); }
    static inline mask gt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
    static inline mask ge(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_GE_OQ); }
    static inline mask eq(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
    static inline mask isnan(reg a) { return _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q); }
    static inline reg select(mask m, reg a, reg b) { return _mm512_mask_blend_pd(m, b, a); }   // m ? a : b
    static inline mask mand(mask a, mask b) { return mask(a & b); }
    static inline mask mor(mask a, mask b) { return mask(a | b); }
    static inline mask mnot(mask a) { return mask(~a); }
    static inline bool any(mask a) { return a != 0; }

    // ---- Bit-level helpers for the elementary functions (cpp/simd/vmath.h) ----
    static inline reg copysign(reg a, reg s) {
        return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(a), _mm512_castpd_si512(s),
                                                             _mm512_set1_epi64(int64_t(0x8000000000000000ull)), 0xd8));
    }
    static inline reg round(reg a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static inline reg pow2i(reg n) { return _mm512_scalef_pd(_mm512_set1_pd(1.0), n); }
    static inline reg ldexp_normal(reg a, reg n) { return _mm512_scalef_pd(a, n); }
    static inline reg ldexp(reg a, reg n) { return _mm512_scalef_pd(a, n); }
    static inline reg frexp_sqrt2(reg x, reg& e) {
        __m512i ix = _mm512_castpd_si512(x);
        __m512i t = _mm512_sub_epi64(ix, _mm512_set1_epi64(0x3fe6a09e667f3bcdLL));
        e = _mm512_cvtepi64_pd(_mm512_srai_epi64(t, 52));
        return _mm512_castsi512_pd(_mm512_sub_epi64(ix, _mm512_and_si512(t, _mm512_set1_epi64(int64_t(0xfff0000000000000ull)))));
    }
    // 14-bit estimate and two Newton steps.
    static inline reg recip(reg a) {
        const reg one = _mm512_set1_pd(1.0);
        reg y = _mm512_rcp14_pd(a);
        y = _mm512_fmadd_pd(y, _mm512_fnmadd_pd(a, y, one), y);
        return _mm512_fmadd_pd(y, _mm512_fnmadd_pd(a, y, one), y);
    }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
