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
    // The first n lanes (0 <= n <= lanes) from p, the others zero; reads nothing at or past p + n.
    static inline reg load_partial(const float* p, int64_t n) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        return _mm256_maskload_ps(p, m);
    }
    // Stores the first n lanes (0 <= n <= lanes) of a to p; writes nothing at or past p + n.
    static inline void store_partial(float* p, reg a, int64_t n) {
        _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), a);
    }
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

    // ---- Bit-level helpers for the elementary functions (cpp/simd/vmath.h) ----
    // Magnitude of a with the sign of s.
    static inline reg copysign(reg a, reg s) {
        const __m256 sb = _mm256_set1_ps(-0.0f);
        return _mm256_or_ps(_mm256_andnot_ps(sb, a), _mm256_and_ps(sb, s));
    }
    // Round to nearest integer, ties to even.
    static inline reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // 2^n for integer-valued n in [-126, 127].
    static inline reg pow2i(reg n) {
        __m256i k = _mm256_castps_si256(_mm256_add_ps(n, _mm256_set1_ps(12582912.0f + 127.0f)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(k, 23));
    }
    // a * 2^n, n integer-valued with 2^n normal (rounded once, like a product).
    static inline reg ldexp_normal(reg a, reg n) { return _mm256_mul_ps(a, pow2i(n)); }
    // a * 2^n for integer-valued |n| <= 252 (overflow -> inf, gradual underflow).
    static inline reg ldexp(reg a, reg n) {
        reg n1 = round(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)));
        return _mm256_mul_ps(_mm256_mul_ps(a, pow2i(n1)), pow2i(_mm256_sub_ps(n, n1)));
    }
    // Positive normal finite x = m * 2^e, m in [sqrt(1/2), sqrt(2)), e integer-valued.
    static inline reg frexp_sqrt2(reg x, reg& e) {
        __m256i ix = _mm256_castps_si256(x);
        __m256i t = _mm256_sub_epi32(ix, _mm256_set1_epi32(0x3f3504f3));
        e = _mm256_cvtepi32_ps(_mm256_srai_epi32(t, 23));
        return _mm256_castsi256_ps(_mm256_sub_epi32(ix, _mm256_and_si256(t, _mm256_set1_epi32(int32_t(0xff800000u)))));
    }
    // Approximate 1/a (within about 1 ulp) for finite normal a.
    static inline reg recip(reg a) { return _mm256_div_ps(_mm256_set1_ps(1.0f), a); }
};

template <> struct Vec<double> {
    static constexpr int lanes = 4;
    using reg = __m256d;
    static inline reg zero() { return _mm256_setzero_pd(); }
    static inline reg load(const double* p) { return _mm256_loadu_pd(p); }
    // The first n lanes (0 <= n <= lanes) from p, the others zero; reads nothing at or past p + n.
    static inline reg load_partial(const double* p, int64_t n) {
        const __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
        return _mm256_maskload_pd(p, m);
    }
    // Stores the first n lanes (0 <= n <= lanes) of a to p; writes nothing at or past p + n.
    static inline void store_partial(double* p, reg a, int64_t n) {
        _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)), a);
    }
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

    // ---- Bit-level helpers for the elementary functions (cpp/simd/vmath.h) ----
    static inline reg copysign(reg a, reg s) {
        const __m256d sb = _mm256_set1_pd(-0.0);
        return _mm256_or_pd(_mm256_andnot_pd(sb, a), _mm256_and_pd(sb, s));
    }
    static inline reg round(reg a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // 2^n for integer-valued n in [-1022, 1023] (no int64 conversion in AVX2: the
    // low bits of n + 1.5*2^52 + 1023 are the biased exponent).
    static inline reg pow2i(reg n) {
        __m256i k = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(6755399441055744.0 + 1023.0)));
        return _mm256_castsi256_pd(_mm256_slli_epi64(k, 52));
    }
    static inline reg ldexp_normal(reg a, reg n) { return _mm256_mul_pd(a, pow2i(n)); }
    // a * 2^n for integer-valued |n| <= 2044.
    static inline reg ldexp(reg a, reg n) {
        reg n1 = round(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
        return _mm256_mul_pd(_mm256_mul_pd(a, pow2i(n1)), pow2i(_mm256_sub_pd(n, n1)));
    }
    // Positive normal finite x = m * 2^e, m in [sqrt(1/2), sqrt(2)), e integer-valued.
    // (No 64-bit arithmetic shift in AVX2: the exponent field of t + 1024*2^52 is
    // read with a logical shift and turned into a double through 2^52.)
    static inline reg frexp_sqrt2(reg x, reg& e) {
        __m256i ix = _mm256_castpd_si256(x);
        __m256i t = _mm256_sub_epi64(ix, _mm256_set1_epi64x(0x3fe6a09e667f3bcdLL));
        __m256i k = _mm256_srli_epi64(_mm256_add_epi64(t, _mm256_set1_epi64x(int64_t(1024) << 52)), 52);
        reg kd = _mm256_castsi256_pd(_mm256_or_si256(k, _mm256_set1_epi64x(0x4330000000000000LL)));
        e = _mm256_sub_pd(kd, _mm256_set1_pd(4503599627370496.0 + 1024.0));
        return _mm256_castsi256_pd(_mm256_sub_epi64(ix, _mm256_and_si256(t, _mm256_set1_epi64x(int64_t(0xfff0000000000000ull)))));
    }
    static inline reg recip(reg a) { return _mm256_div_pd(_mm256_set1_pd(1.0), a); }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
