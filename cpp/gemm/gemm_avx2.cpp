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
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

#include "gemm/gemm_driver.h"
