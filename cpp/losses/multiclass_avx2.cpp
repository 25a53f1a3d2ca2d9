// Multi-class kernels for the avx2 path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS avx2
#include "simd/avx2.h"
#include "simd/vmath.h"
#include "losses/multiclass_kernels.h"

namespace nnmat {
namespace NNMAT_ISA_NS {

extern const MulticlassTable multiclass_table;
const MulticlassTable multiclass_table = {"avx2", NNMAT_MULTICLASS_FNS(float), NNMAT_MULTICLASS_FNS(double)};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
