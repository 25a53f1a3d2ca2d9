// The dispatch table: one per instruction set, each defined in that ISA's own
// translation units (namespaces nnmat::generic, nnmat::avx2, nnmat::avx512).
// The tables are plain data, so reading one never executes ISA-specific code.
#pragma once
#include <cstdint>
#include "gemm/gemm.h"

namespace nnmat {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

struct KernelTable {
    const char* name;
    // C = alpha*op(A)*op(B) + beta*C (+bias), using up to nthreads OpenMP threads.
    void (*gemm_f32)(const GemmProblem<float>&, int nthreads);
    void (*gemm_f64)(const GemmProblem<double>&, int nthreads);
    // Runs `iters` rounds of independent FMA chains and returns a checksum;
    // floating-point operations performed = iters * fma_probe_flops_per_iter.
    double (*fma_probe_f32)(int64_t iters);
    double (*fma_probe_f64)(int64_t iters);
    int64_t fma_probe_flops_f32, fma_probe_flops_f64;
    // Micro-kernel shapes (rows x columns of C), for nnmat.config(): the direct
    // (small/skinny problems) and the packed (large problems) paths.
    int mr_f32, nr_f32, mr_f64, nr_f64;
    int mr_packed_f32, nr_packed_f32, mr_packed_f64, nr_packed_f64;
};

namespace generic { extern const KernelTable kernel_table; }
#ifdef NNMAT_BUILD_AVX2
namespace avx2 { extern const KernelTable kernel_table; }
#endif
#ifdef NNMAT_BUILD_AVX512
namespace avx512 { extern const KernelTable kernel_table; }
#endif

}  // namespace nnmat
