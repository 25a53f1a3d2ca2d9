// GEMM kernels and driver for the avx512 path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS avx512
#define NNMAT_ISA_NAME "avx512"
#include "simd/avx512.h"

#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {
template <class T> struct GemmShape;
// 12 x 32 (float) / 12 x 16 (double): 24 accumulators + 2 B vectors of 32 zmm.
// Large float64 problems use 8 x 24 (24 accumulators, 3 B vectors): a third fewer
// broadcasts per FMA, measured 5-8% faster there; small ones keep 12 x 16, whose
// 16 columns waste less at the edges of 64-wide matrices.
template <> struct GemmShape<float>  { static constexpr int MR = 12, NV = 2, MR_PACKED = 12, NV_PACKED = 2, MR_FEW = MR, NV_FEW = NV; static constexpr int64_t MC = 192, KC = 1024, NC = 4096, DIRECT_B_BYTES = 393216; };
template <> struct GemmShape<double> { static constexpr int MR = 12, NV = 2, MR_PACKED = 8, NV_PACKED = 3, MR_FEW = MR, NV_FEW = NV; static constexpr int64_t MC = 144, KC = 384, NC = 2048, DIRECT_B_BYTES = 393216; };

// L x L transposes for packing a column-major B (dst[q * ldd + c] = src[c * lds + q]):
// a 4 x 4 (float) or 2 x 2 (double) transpose inside each 128-bit block by unpacks,
// then a 4 x 4 transpose of the 128-bit blocks by two rounds of shuffle_x4.
#define NNMAT_GEMM_HAS_TRANSPOSE 1
inline void transpose_block(const float* __restrict src, int64_t lds, float* __restrict dst, int64_t ldd) {
    __m512 r[16], u[16];
#pragma GCC unroll 16
    for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(src + c * lds);
    // u[4g + i], 128-bit block b: column 4b + i of rows 4g .. 4g + 3.
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
        const __m512 t0 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]), t1 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
        const __m512 t2 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]), t3 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    }
    // Output row 4b + i: block b of u[i], u[4 + i], u[8 + i], u[12 + i].
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88), v1 = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xdd);
        _mm512_storeu_ps(dst + (0 + i) * ldd, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_storeu_ps(dst + (4 + i) * ldd, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_storeu_ps(dst + (8 + i) * ldd, _mm512_shuffle_f32x4(v0, v2, 0xdd));
        _mm512_storeu_ps(dst + (12 + i) * ldd, _mm512_shuffle_f32x4(v1, v3, 0xdd));
    }
}
inline void transpose_block(const double* __restrict src, int64_t lds, double* __restrict dst, int64_t ldd) {
    __m512d r[8], u[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) r[c] = _mm512_loadu_pd(src + c * lds);
    // u[2g + i], 128-bit block b: column 2b + i of rows 2g, 2g + 1.
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
        u[2 * g + 0] = _mm512_unpacklo_pd(r[2 * g], r[2 * g + 1]);
        u[2 * g + 1] = _mm512_unpackhi_pd(r[2 * g], r[2 * g + 1]);
    }
    // Output row 2b + i: block b of u[i], u[2 + i], u[4 + i], u[6 + i].
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i) {
        const __m512d v0 = _mm512_shuffle_f64x2(u[i], u[2 + i], 0x88), v1 = _mm512_shuffle_f64x2(u[i], u[2 + i], 0xdd);
        const __m512d v2 = _mm512_shuffle_f64x2(u[4 + i], u[6 + i], 0x88), v3 = _mm512_shuffle_f64x2(u[4 + i], u[6 + i], 0xdd);
        _mm512_storeu_pd(dst + (0 + i) * ldd, _mm512_shuffle_f64x2(v0, v2, 0x88));
        _mm512_storeu_pd(dst + (2 + i) * ldd, _mm512_shuffle_f64x2(v1, v3, 0x88));
        _mm512_storeu_pd(dst + (4 + i) * ldd, _mm512_shuffle_f64x2(v0, v2, 0xdd));
        _mm512_storeu_pd(dst + (6 + i) * ldd, _mm512_shuffle_f64x2(v1, v3, 0xdd));
    }
}
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

#include "gemm/gemm_driver.h"
