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
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

#include "gemm/gemm_driver.h"
