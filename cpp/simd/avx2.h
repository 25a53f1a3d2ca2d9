// 256-bit vectors, AVX2 + FMA. Included only by translation units compiled with
// -mavx2 -mfma (namespace nnmat::avx2).
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T> struct Vec;

template <> struct Vec<float> {
    static constexpr int lanes = 8;
    using reg = __m256;
    static inline reg zero() { return _mm256_setzero_ps(); }
    static inline reg load(const float* p) { return _mm256_loadu_ps(p); }
    static inline void store(float* p, reg a) { _mm256_storeu_ps(p, a); }
    static inline reg bcast(float x) { return _mm256_set1_ps(x); }
    static inline reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static inline reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static inline reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static inline float fma1(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
    // Element-wise helpers for the activation and loss kernels.
    using mask = __m256;
    static inline reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static inline reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
    static inline reg fms(reg a, reg b, reg c) { return _mm256_fmsub_ps(a, b, c); }     // a*b - c
    static inline reg fnma(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }   // c - a*b
    // max/min return b when either operand is NaN (x86 semantics): max(0, x) keeps a NaN x.
    static inline reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static inline reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
    static inline reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static inline reg neg(reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
    static inline reg sqrt(reg a) { return _mm256_sqrt_ps(a); }
    static inline mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static inline mask le(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
    static inline mask gt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static inline mask ge(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    static inline mask eq(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    static inline mask isnan(reg a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
    static inline reg select(mask m, reg a, reg b) { return _mm256_blendv_ps(b, a, m); }   // m ? a : b
    static inline mask mand(mask a, mask b) { return _mm256_and_ps(a, b); }
    static inline mask mor(mask a, mask b) { return _mm256_or_ps(a, b); }
    static inline mask mnot(mask a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
    static inline bool any(mask a) { return _mm256_movemask_ps(a) != 0; }
};

template <> struct Vec<double> {
    static constexpr int lanes = 4;
    using reg = __m256d;
    static inline reg zero() { return _mm256_setzero_pd(); }
    static inline reg load(const double* p) { return _mm256_loadu_pd(p); }
    static inline void store(double* p, reg a) { _mm256_storeu_pd(p, a); }
    static inline reg bcast(double x) { return _mm256_set1_pd(x); }
    static inline reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
    static inline reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
    static inline reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
    static inline double fma1(double a, double b, double c) { return __builtin_fma(a, b, c); }
    // Element-wise helpers for the activation and loss kernels.
    using mask = __m256d;
    static inline reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
    static inline reg div(reg a, reg b) { return _mm256_div_pd(a, b); }
    static inline reg fms(reg a, reg b, reg c) { return _mm256_fmsub_pd(a, b, c); }     // a*b - c
    static inline reg fnma(reg a, reg b, reg c) { return _mm256_fnmadd_pd(a, b, c); }   // c - a*b
    // max/min return b when either operand is NaN (x86 semantics): max(0, x) keeps a NaN x.
    static inline reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
    static inline reg min(reg a, reg b) { return _mm256_min_pd(a, b); }
    static inline reg abs(reg a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
    static inline reg neg(reg a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
    static inline reg sqrt(reg a) { return _mm256_sqrt_pd(a); }
    static inline mask lt(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
    static inline mask le(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_LE_OQ); }
    static inline mask gt(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
    static inline mask ge(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_GE_OQ); }
    static inline mask eq(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
    static inline mask isnan(reg a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
    static inline reg select(mask m, reg a, reg b) { return _mm256_blendv_pd(b, a, m); }   // m ? a : b
    static inline mask mand(mask a, mask b) { return _mm256_and_pd(a, b); }
    static inline mask mor(mask a, mask b) { return _mm256_or_pd(a, b); }
    static inline mask mnot(mask a) { return _mm256_xor_pd(a, _mm256_castsi256_pd(_mm256_set1_epi32(-1))); }
    static inline bool any(mask a) { return _mm256_movemask_pd(a) != 0; }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
