// Parallel loops and deterministic reductions for the element-wise, activation
// and loss kernels. Threading decisions live here and in threading.h only.
//
// * parallel_for splits [0, n) into one contiguous range per thread (boundaries
//   rounded to 64 elements); below `grain` elements per thread it runs serially.
// * An exception thrown by fn on a worker thread (std::bad_alloc from a
//   workspace) is caught there and rethrown on the calling thread after the
//   parallel region: it never escapes an OpenMP region (that would terminate).
// * blocked_sum sums per-block partials over FIXED blocks of kReduceBlock
//   elements (independent of the thread count), then adds the partials in
//   block order in double: the result is bitwise identical for any number of
//   threads, and float32 data keeps about double accuracy across blocks.
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

#include "common/threading.h"

namespace nnmat {

constexpr int64_t kReduceBlock = 4096;

// Threads worth using for n elements when each thread should get >= grain.
inline int threads_for_elements(int64_t n, int64_t grain, int max_threads) {
#ifdef _OPENMP
    if (max_threads <= 1 || grain <= 0) return 1;
    const int64_t t = n / grain;
    if (t < 2) return 1;
    return t >= max_threads ? max_threads : int(t);
#else
    (void)n; (void)grain; (void)max_threads;
    return 1;
#endif
}

// Runs body(t) for t in [0, nt) on nt OpenMP threads; the first exception a
// body throws is rethrown here, after the region.
template <class B>
void run_team(int nt, B&& body) {
    if (nt <= 1) {   // no parallel region at all (also what keeps a forked child safe)
        body(0);
        return;
    }
    std::exception_ptr error = nullptr;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; ++t) {
        try {
            body(t);
        } catch (...) {
#pragma omp critical(nnmat_parallel_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
}

// fn(begin, end) over contiguous ranges covering [0, n).
template <class F>
void parallel_for(int64_t n, int64_t grain, int max_threads, F&& fn) {
    if (n <= 0) return;
    const int nt = threads_for_elements(n, grain, max_threads);
    if (nt <= 1) { fn(int64_t(0), n); return; }
    auto bound = [&](int t) { return t == nt ? n : std::min(n, (n * t / nt + 63) / 64 * 64); };
    run_team(nt, [&](int t) {
        const int64_t b = bound(t), e = bound(t + 1);
        if (b < e) fn(b, e);
    });
}

// Sums block_fn(begin, end) -> double over the fixed blocks of [0, n).
// block_fn may also write outputs for its range (fused value-and-gradient).
template <class F>
double blocked_sum(int64_t n, int64_t grain, int max_threads, F&& block_fn) {
    if (n <= 0) return 0.0;
    const int64_t nb = (n + kReduceBlock - 1) / kReduceBlock;
    if (nb == 1) return block_fn(int64_t(0), n);
    std::vector<double> part(std::size_t(nb), 0.0);
    const int nt = threads_for_elements(n, grain, max_threads);
    auto run = [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
            part[std::size_t(b)] = block_fn(b * kReduceBlock, std::min(n, (b + 1) * kReduceBlock));
    };
    if (nt <= 1) run(0, nb);
    else run_team(nt, [&](int t) { run(nb * t / nt, nb * (t + 1) / nt); });
    // Pairwise over the partials: fixed order, error growing with log(nb).
    int64_t m = nb;
    while (m > 1) {
        const int64_t h = m / 2;
        for (int64_t i = 0; i < h; ++i) part[std::size_t(i)] = part[std::size_t(2 * i)] + part[std::size_t(2 * i + 1)];
        if (m % 2) part[std::size_t(h)] = part[std::size_t(m - 1)];
        m = h + (m % 2);
    }
    return part[0];
}

}  // namespace nnmat
