// Per-ISA entry points that apply one VMath<T> function over an array: used by
// the test binding (nnmat._core.vmath_eval) and the timing script; kernels call
// VMath<T> directly on registers instead.
#pragma once
#include <cstdint>

namespace nnmat {

enum VmathFn : int { vm_exp, vm_expm1, vm_log, vm_log1p, vm_tanh, vm_erf, vm_erfc, vm_sigmoid, vm_count };
extern const char* const vmath_fn_names[vm_count];   // "exp", "expm1", ... in enum order

struct VmathTable {
    const char* isa;
    // out[i] = f(x[i]) for i < n; x and out may be the same array.
    void (*f32[vm_count])(const float* x, float* out, int64_t n);
    void (*f64[vm_count])(const double* x, double* out, int64_t n);
};

namespace generic { extern const VmathTable vmath_table; }
#ifdef NNMAT_BUILD_AVX2
namespace avx2 { extern const VmathTable vmath_table; }
#endif
#ifdef NNMAT_BUILD_AVX512
namespace avx512 { extern const VmathTable vmath_table; }
#endif

const VmathTable& vmath_kernels();   // table of the ISA in use

}  // namespace nnmat
