#include "common/threading.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace nnmat {
namespace {

std::atomic<int> g_num_threads{0};
thread_local int t_override = 0;

// GNU libgomp's thread pool does not survive fork(): a child that enters a
// parallel region after its parent did waits forever for threads that were
// not copied. A child of a fork therefore runs every kernel on one thread.
std::atomic<bool> g_forked_child{false};
void mark_forked_child() { g_forked_child.store(true, std::memory_order_relaxed); }
const int g_fork_hook = pthread_atfork(nullptr, nullptr, &mark_forked_child);

// Below this much work per thread the fork-join (a few microseconds with a warm
// libgomp pool) costs more than it saves.
constexpr double kMinFlopsPerThread = 1.5e6;

struct Workspace {
    void* ptr = nullptr;
    std::size_t cap = 0;
    ~Workspace() { std::free(ptr); }
};
thread_local Workspace t_ws;

}  // namespace

bool in_forked_child() { return g_forked_child.load(std::memory_order_relaxed); }

int get_num_threads() {
    (void)g_fork_hook;
    if (in_forked_child()) return 1;
    if (t_override > 0) return t_override;
    const int g = g_num_threads.load(std::memory_order_relaxed);
    if (g > 0) return g;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void set_num_threads(int n) { g_num_threads.store(n > 0 ? n : 0, std::memory_order_relaxed); }
int thread_override() { return t_override; }
void set_thread_override(int n) { t_override = n > 0 ? n : 0; }

int threads_for_flops(double flops, int max_threads) {
#ifdef _OPENMP
    if (max_threads <= 1) return 1;
    const double useful = flops / kMinFlopsPerThread;
    if (useful < 2.0) return 1;
    return useful >= double(max_threads) ? max_threads : int(useful);
#else
    (void)flops; (void)max_threads;
    return 1;
#endif
}

void* thread_workspace(std::size_t bytes) {
    // Reuse the buffer; but do not keep a large one (left by one huge product)
    // for the thread's lifetime: above 32 MiB, a request under a quarter of it
    // gets a buffer of its own size and the big one is freed.
    constexpr std::size_t kKeep = std::size_t(32) << 20;
    if (bytes <= t_ws.cap && (t_ws.cap <= kKeep || bytes >= t_ws.cap / 4)) return t_ws.ptr;
    constexpr std::size_t kAlign = 64;
    if (bytes > (std::size_t(1) << 62)) throw std::bad_alloc();
    std::size_t size = (bytes + kAlign - 1) / kAlign * kAlign;
    std::free(t_ws.ptr);
    t_ws.ptr = nullptr;
    t_ws.cap = 0;
    void* p = std::aligned_alloc(kAlign, size);
    if (p == nullptr) throw std::bad_alloc();
    t_ws.ptr = p;
    t_ws.cap = size;
    return p;
}

const char* openmp_runtime() {
#if defined(_OPENMP) && defined(__GNUC__) && !defined(__clang__)
    return "libgomp";
#elif defined(_OPENMP)
    return "openmp";
#else
    return "none";
#endif
}

}  // namespace nnmat
