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
};

template <> struct Vec<double> {
    static constexpr int lanes = 8;
    using reg = __m512d;
    static inline reg zero() { return _mm512_setzero_pd(); }
    static inline reg load(const double* p) { return _mm512_loadu_pd(p); }
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
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
