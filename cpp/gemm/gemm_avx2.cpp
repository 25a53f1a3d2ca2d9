// GEMM kernels and driver for the avx2 path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS avx2
#define NNMAT_ISA_NAME "avx2"
#include "simd/avx2.h"

#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {
template <class T> struct GemmShape;
// 6 x 16 (float) / 6 x 8 (double): 12 accumulators + 2 B vectors + 1 broadcast of 16 ymm.
// 7 to 12 rows use 4 x 24 / 4 x 12 tiles (two blocks of 12 accumulators each).
template <> struct GemmShape<float>  { static constexpr int MR = 6, NV = 2, MR_PACKED = 6, NV_PACKED = 2, MR_FEW = 4, NV_FEW = 3; static constexpr int64_t MC = 480, KC = 256, NC = 4096, DIRECT_B_BYTES = 32768; };
template <> struct GemmShape<double> { static constexpr int MR = 6, NV = 2, MR_PACKED = 6, NV_PACKED = 2, MR_FEW = 4, NV_FEW = 3; static constexpr int64_t MC = 240, KC = 256, NC = 2048, DIRECT_B_BYTES = 32768; };

// L x L transposes for packing a column-major B (dst[q * ldd + c] = src[c * lds + q]):
// a 4 x 4 (float) or 2 x 2 (double) transpose inside each 128-bit half by unpacks,
// then the halves exchanged by permute2f128.
#define NNMAT_GEMM_HAS_TRANSPOSE 1
inline void transpose_block(const float* __restrict src, int64_t lds, float* __restrict dst, int64_t ldd) {
    __m256 r[8], u[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) r[c] = _mm256_loadu_ps(src + c * lds);
    // u[4g + i], half b: column 4b + i of rows 4g .. 4g + 3.
#pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {
        const __m256 t0 = _mm256_unpacklo_ps(r[4 * g], r[4 * g + 1]), t1 = _mm256_unpackhi_ps(r[4 * g], r[4 * g + 1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]), t3 = _mm256_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        u[4 * g + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
        u[4 * g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
        u[4 * g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
        u[4 * g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[4 + i], 0x20));
        _mm256_storeu_ps(dst + (4 + i) * ldd, _mm256_permute2f128_ps(u[i], u[4 + i], 0x31));
    }
}
inline void transpose_block(const double* __restrict src, int64_t lds, double* __restrict dst, int64_t ldd) {
    __m256d r[4], u[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) r[c] = _mm256_loadu_pd(src + c * lds);
    // u[2g + i], half b: column 2b + i of rows 2g, 2g + 1.
#pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {
        u[2 * g + 0] = _mm256_unpacklo_pd(r[2 * g], r[2 * g + 1]);
        u[2 * g + 1] = _mm256_unpackhi_pd(r[2 * g], r[2 * g + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i) {
        _mm256_storeu_pd(dst + i * ldd, _mm256_permute2f128_pd(u[i], u[2 + i], 0x20));
        _mm256_storeu_pd(dst + (2 + i) * ldd, _mm256_permute2f128_pd(u[i], u[2 + i], 0x31));
    }
}
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

#include "gemm/gemm_driver.h"
