// Portable 16-byte vectors for the generic path (GCC/Clang vector extensions:
// SSE2 on x86-64, the baseline every x86-64 CPU has; NEON on aarch64).
// Only +, * and loads/stores: no FMA, so the generic path rounds every product
// and every sum separately.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T>
struct Vec {
    static constexpr int lanes = 16 / sizeof(T);
    typedef T reg __attribute__((vector_size(16)));
    static inline reg zero() { return reg{} ; }
    static inline reg load(const T* p) { reg r; std::memcpy(&r, p, sizeof(r)); return r; }
    static inline void store(T* p, reg a) { std::memcpy(p, &a, sizeof(a)); }
    static inline reg bcast(T x) { return reg{} + x; }
    static inline reg add(reg a, reg b) { return a + b; }
    static inline reg mul(reg a, reg b) { return a * b; }
    // a*b + c, rounded twice (this path has no fused multiply-add; -ffp-contract=off).
    static inline reg fma(reg a, reg b, reg c) { return a * b + c; }
    // Scalar twin of fma(), used where a tile edge is written element by element.
    static inline T fma1(T a, T b, T c) { return a * b + c; }
    // Element-wise helpers for the activation and loss kernels. Masks are
    // integer vectors of all-ones / all-zeros lanes (GCC vector comparisons).
    typedef typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type itype;
    typedef itype mask __attribute__((vector_size(16)));
    static inline reg sub(reg a, reg b) { return a - b; }
    static inline reg div(reg a, reg b) { return a / b; }
    static inline reg fms(reg a, reg b, reg c) { return a * b - c; }
    static inline reg fnma(reg a, reg b, reg c) { return c - a * b; }
    // max/min return b when either operand is NaN (as x86 maxps/minps do).
    static inline reg max(reg a, reg b) { return a > b ? a : b; }
    static inline reg min(reg a, reg b) { return a < b ? a : b; }
    static inline reg abs(reg a) { mask m; std::memcpy(&m, &a, 16); m &= ~(itype(1) << (8 * sizeof(T) - 1)); reg r; std::memcpy(&r, &m, 16); return r; }
    static inline reg neg(reg a) { return -a; }
    static inline reg sqrt(reg a) { reg r; for (int i = 0; i < lanes; ++i) r[i] = __builtin_sqrt(a[i]); return r; }
    static inline mask lt(reg a, reg b) { return a < b; }
    static inline mask le(reg a, reg b) { return a <= b; }
    static inline mask gt(reg a, reg b) { return a > b; }
    static inline mask ge(reg a, reg b) { return a >= b; }
    static inline mask eq(reg a, reg b) { return a == b; }
    static inline mask isnan(reg a) { return a != a; }
    static inline reg select(mask m, reg a, reg b) { return m ? a : b; }
    static inline mask mand(mask a, mask b) { return a & b; }
    static inline mask mor(mask a, mask b) { return a | b; }
    static inline mask mnot(mask a) { return ~a; }
    static inline bool any(mask a) { for (int i = 0; i < lanes; ++i) if (a[i]) return true; return false; }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
