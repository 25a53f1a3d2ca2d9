// The one place that owns threading: how many threads a call may use, when a
// problem is too small to split, and per-thread scratch memory.
#pragma once
#include <cstddef>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nnmat {

// Threads a call may use: the calling thread's override (nnmat.threads(n)),
// else the process-wide setting (nnmat.set_num_threads), else OpenMP's
// default for the caller (OMP_NUM_THREADS, threadpoolctl's limit, or cores).
int get_num_threads();
// True in the child of a fork() (pthread_atfork): OpenMP's pool is gone there,
// so get_num_threads() is 1 and no kernel opens a parallel region.
bool in_forked_child();
void set_num_threads(int n);        // n <= 0 restores the OpenMP default
int thread_override();
void set_thread_override(int n);    // n <= 0 clears; affects the calling thread only

// Threads worth using for `flops` floating-point operations (1 below the
// fork-join break-even point), capped at max_threads.
int threads_for_flops(double flops, int max_threads);

// Reusable 64-byte aligned scratch owned by the calling thread; grows on
// demand (and shrinks again after a request over 32 MiB once smaller ones
// come), throws std::bad_alloc when the request cannot be met. The pointer is
// valid until the calling thread's next request.
void* thread_workspace(std::size_t bytes);

inline int omp_thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
inline int omp_team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

const char* openmp_runtime();   // "libgomp (OpenMP 201511)" or "none"

}  // namespace nnmat
