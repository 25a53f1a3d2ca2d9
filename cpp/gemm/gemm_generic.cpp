// GEMM kernels and driver for the generic path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS generic
#define NNMAT_ISA_NAME "generic"
#include "simd/generic.h"

#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {
template <class T> struct GemmShape;
template <> struct GemmShape<float>  { static constexpr int MR = 4, NV = 2, MR_PACKED = 4, NV_PACKED = 2, MR_FEW = MR, NV_FEW = NV; static constexpr int64_t MC = 256, KC = 256, NC = 2048, DIRECT_B_BYTES = 24576; };
template <> struct GemmShape<double> { static constexpr int MR = 4, NV = 2, MR_PACKED = 4, NV_PACKED = 2, MR_FEW = MR, NV_FEW = NV; static constexpr int64_t MC = 128, KC = 256, NC = 2048, DIRECT_B_BYTES = 24576; };
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

#include "gemm/gemm_driver.h"
