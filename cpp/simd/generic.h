// Portable 16-byte vectors for the generic path (GCC/Clang vector extensions:
// SSE2 on x86-64, the baseline every x86-64 CPU has; NEON on aarch64).
// Only +, * and loads/stores: no FMA, so the generic path rounds every product
// and every sum separately.
#pragma once
#include <cstdint>
#include <cstring>

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
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
