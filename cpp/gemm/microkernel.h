// GEMM micro-kernel, written once against Vec<T> (cpp/simd/) and compiled per ISA.
// The contract is in cpp/gemm/KERNELS.md. No threads, no CPU detection here.
#pragma once
#include <cstdint>

namespace nnmat {
namespace NNMAT_ISA_NS {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// Where and how a micro-tile of C is written.
template <class T>
struct Tile {
    T* c; int64_t rsc, csc;
    int64_t m, n;                 // valid rows / columns of the tile (<= MROWS, <= NR)
    T alpha, beta;                // beta == 0: C is not read
    const T* bias; int64_t bias_stride;   // per column, may be null
    bool prefetch_c;              // C is large (not cache-resident): fetch the tile early
    // Packed path: part of the next B micro-panel (packed, or its source rows
    // when it is still to be packed) to fetch during this call, one 64-byte line
    // per k step: `pf_count` lines starting at line `pf_col` of the row at `pf`;
    // rows have `pf_row_lines` lines and are `pf_stride` bytes apart.
    const char* pf = nullptr;
    int64_t pf_stride = 0;
    int64_t pf_row_lines = 1;
    int64_t pf_col = 0;
    int64_t pf_count = 0;
};

// C tile = alpha * acc + beta * C (+ bias). The vector path and the element path
// perform the same operations in the same order, so an element's value does not
// depend on whether it sits in a full or an edge tile.
// Always inlined: passing the accumulators by reference to an out-of-line copy
// makes them addressable, and the compiler then keeps them in memory for the
// whole k loop (measured: AVX2 packed GEMM at half speed).
template <class T, int MROWS, int NV>
__attribute__((always_inline)) inline void write_tile(typename Vec<T>::reg (&acc)[MROWS][NV], const Tile<T>& t) {
    using V = Vec<T>;
    constexpr int L = V::lanes, NR = NV * L;
    const bool full = t.m == MROWS && t.n == NR && t.csc == 1 && (t.bias == nullptr || t.bias_stride == 1);
    if (full) {
        const auto al = V::bcast(t.alpha);
        const auto be = V::bcast(t.beta);
#pragma GCC unroll 16
        for (int r = 0; r < MROWS; ++r) {
            T* cr = t.c + r * t.rsc;
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) {
                auto x = V::mul(al, acc[r][v]);
                if (t.beta != T(0)) x = V::fma(be, V::load(cr + v * L), x);
                if (t.bias != nullptr) x = V::add(x, V::load(t.bias + v * L));
                V::store(cr + v * L, x);
            }
        }
        return;
    }
    alignas(64) T buf[MROWS][NR];
#pragma GCC unroll 16
    for (int r = 0; r < MROWS; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::store(&buf[r][v * L], acc[r][v]);
    for (int64_t r = 0; r < t.m; ++r) {
        T* cr = t.c + r * t.rsc;
        for (int64_t j = 0; j < t.n; ++j) {
            T x = t.alpha * buf[r][j];
            if (t.beta != T(0)) x = V::fma1(t.beta, cr[j * t.csc], x);
            if (t.bias != nullptr) x = x + t.bias[j * t.bias_stride];
            cr[j * t.csc] = x;
        }
    }
}

// acc(r, :) = sum_p A(r, p) * B(p, 0:NR) for r < MROWS, then write_tile.
//   A packed (APACKED): a[p * MR + r]   (a micro-panel, zero-padded to MR rows)
//   A direct:           a[r * lda + p]  (rows of a row-major matrix, unit column stride)
//   B:                  b[p * ldb + j]  (ldb = NR for a packed panel, the row stride otherwise)
// Never inlined into the driver: one self-contained loop per instantiation keeps
// its register allocation independent of how much driver code surrounds it.
template <class T, int MR, int MROWS, int NV, bool APACKED>
__attribute__((noinline)) void ukernel(int64_t k, const T* __restrict a, int64_t lda, const T* __restrict b, int64_t ldb,
             const Tile<T>& t) {
    using V = Vec<T>;
    using R = typename V::reg;
    constexpr int L = V::lanes;
    R acc[MROWS][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MROWS; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();

    // One k step: NV vector loads of B, MROWS broadcasts of A, MROWS * NV FMAs.
    // Packed A is read sequentially; asking for it a few steps ahead keeps the
    // loads of the broadcasts off the critical path when a panel starts cold.
    constexpr int kPrefetchA = 8;
    auto step = [&]() __attribute__((always_inline)) {
        if (APACKED) __builtin_prefetch(a + kPrefetchA * MR, 0, 3);
        R bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * L);
#pragma GCC unroll 16
        for (int r = 0; r < MROWS; ++r) {
            const R ar = V::bcast(APACKED ? a[r] : a[r * lda]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bv[v], acc[r][v]);
        }
        a += APACKED ? MR : 1;
        b += ldb;
    };

    // Prefetches, one per k step over the first steps, so that they never take
    // all of L1's miss buffers at once (a burst of them stalls the A and B loads
    // behind misses to memory): the C tile (needed only after the loop; skipped
    // for a cache-resident C, where prefetches only cost issue slots) and the
    // driver's slice of the next B panel (into L2).
    constexpr int kLinesC = (NV * L * int(sizeof(T)) + 63) / 64;
    constexpr int kPerRow = 64 / int(sizeof(T));
    const int64_t c_lines = t.prefetch_c && t.csc == 1 ? MROWS * kLinesC : 0;
    if (c_lines > k) {
        // Too few steps to spread them over: all at once.
        for (int64_t l = 0; l < c_lines; ++l) __builtin_prefetch(t.c + (l / kLinesC) * t.rsc + (l % kLinesC) * kPerRow, 1, 3);
    }
    const int64_t c_spread = c_lines > k ? 0 : c_lines;
    const int64_t head = imax(c_spread, imin(k, t.pf_count));
    const char* pf_row = t.pf;
    int64_t pf_col = t.pf_col;
    int64_t p = 0;
    for (; p < head; ++p) {
        if (p < c_spread) __builtin_prefetch(t.c + (p / kLinesC) * t.rsc + (p % kLinesC) * kPerRow, 1, 3);
        if (p < t.pf_count) {
            __builtin_prefetch(pf_row + pf_col * 64, 0, 2);
            if (++pf_col == t.pf_row_lines) { pf_col = 0; pf_row += t.pf_stride; }
        }
        step();
    }
    for (; p < k; ++p) step();
    write_tile<T, MROWS, NV>(acc, t);
}

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
