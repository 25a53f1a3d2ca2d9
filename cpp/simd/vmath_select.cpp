// Portable accessor for the per-ISA VMath entry points.
#include "dispatch/select.h"
#include "simd/vmath_table.h"

namespace nnmat {

const char* const vmath_fn_names[vm_count] = {"exp", "expm1", "log", "log1p", "tanh", "erf", "erfc", "sigmoid"};

const VmathTable& vmath_kernels() { NNMAT_SELECT_TABLE(vmath_table) }

}  // namespace nnmat
