// GEMM contract: C = alpha * op(A) * op(B) + beta * C (+ bias broadcast along rows).
//
// Every operand is a strided view: element (i, j) of a matrix X lives at
// x[i * rs + j * cs]. Strides are in elements, may be any value (negative,
// zero for broadcast inputs, or transposed layouts), and are never required to
// be contiguous: the kernels pack what they need. C must not overlap A or B.
//
//  * m, n, k >= 0.  op(A) is m x k, op(B) is k x n, C is m x n.
//  * beta == 0 means C is write-only: its old contents (NaN included) are ignored.
//  * alpha == 0 or k == 0 means C = beta * C (+ bias) without reading A or B.
//  * bias, when non-null, holds n values (stride bias_stride) added to every row
//    of C after alpha and beta have been applied (the linear layer's epilogue).
//  * epilogue, when non-null, is applied to each block of C (a row block of the
//    direct path, an mc x nc block of the packed path) right after its final
//    write, while it is in cache; C must then have unit column stride.
//  * Results are bitwise identical for every thread count on a given ISA: the
//    threads split rows and columns of C, never k, and the k-blocking depends on
//    the problem only.
#pragma once
#include <cstdint>

namespace nnmat {

template <class T>
struct GemmProblem {
    int64_t m = 0, n = 0, k = 0;
    T alpha = T(1), beta = T(0);
    const T* a = nullptr; int64_t rsa = 0, csa = 0;
    const T* b = nullptr; int64_t rsb = 0, csb = 0;
    T* c = nullptr;       int64_t rsc = 0, csc = 0;
    const T* bias = nullptr; int64_t bias_stride = 1;
    // Optional epilogue, applied in place to each block of C as soon as its final
    // value is written, while it is in cache (rows x cols at c, row stride ld;
    // requires csc == 1): nnmat.linear's fused activation. ctx is passed through.
    void (*epilogue)(T* c, int64_t rows, int64_t cols, int64_t ld, const void* ctx) = nullptr;
    const void* epilogue_ctx = nullptr;
};

// Blocking overrides for tuning (0 = the ISA's default). Changing kc changes
// the summation blocking and therefore the last bits of results.
struct GemmBlockingOverride { int64_t mc = 0, kc = 0, nc = 0; };
GemmBlockingOverride& gemm_blocking_override();

// Batched GEMM over precomputed element offsets (one per batch entry), used by
// matmul's broadcast batch dimensions. Chooses between running batch entries
// in parallel (small matrices) and threading inside each product.
template <class T>
void gemm_batched(const GemmProblem<T>& base, const int64_t* off_a, const int64_t* off_b,
                  const int64_t* off_c, int64_t batch, int nthreads);

}  // namespace nnmat
