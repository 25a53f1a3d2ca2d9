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
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
