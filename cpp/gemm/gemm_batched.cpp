#include <exception>

#include "common/threading.h"
#include "dispatch/cpu.h"
#include "gemm/gemm.h"

namespace nnmat {

GemmBlockingOverride& gemm_blocking_override() {
    static GemmBlockingOverride o;
    return o;
}

namespace {
inline void call(const KernelTable& kt, const GemmProblem<float>& P, int nt) { kt.gemm_f32(P, nt); }
inline void call(const KernelTable& kt, const GemmProblem<double>& P, int nt) { kt.gemm_f64(P, nt); }
}  // namespace

template <class T>
void gemm_batched(const GemmProblem<T>& base, const int64_t* off_a, const int64_t* off_b,
                  const int64_t* off_c, int64_t batch, int nthreads) {
    const KernelTable& kt = kernels();
    auto entry = [&](int64_t i) {
        GemmProblem<T> P = base;
        P.a += off_a[i];
        P.b += off_b[i];
        P.c += off_c[i];
        return P;
    };
    const double flops = 2.0 * double(base.m) * double(base.n) * double(base.k);
    const int nt = threads_for_flops(flops * double(batch), nthreads);
    // A product big enough to split gets all threads; small ones run side by side.
    if (batch <= 1 || nt <= 1 || threads_for_flops(flops, nthreads) >= nt) {
        for (int64_t i = 0; i < batch; ++i) call(kt, entry(i), nthreads);
        return;
    }
    std::exception_ptr error;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < batch; ++i) {
        try {
            call(kt, entry(i), 1);
        } catch (...) {
#pragma omp critical(nnmat_batched_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
}

template void gemm_batched<float>(const GemmProblem<float>&, const int64_t*, const int64_t*,
                                  const int64_t*, int64_t, int);
template void gemm_batched<double>(const GemmProblem<double>&, const int64_t*, const int64_t*,
                                   const int64_t*, int64_t, int);

}  // namespace nnmat
