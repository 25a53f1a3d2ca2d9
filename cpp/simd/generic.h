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
    // The first n lanes (0 <= n <= lanes) from p, the others zero; reads nothing at or past p + n.
    static inline reg load_partial(const T* p, int64_t n) { reg r{}; for (int64_t i = 0; i < n; ++i) r[i] = p[i]; return r; }
    // Stores the first n lanes (0 <= n <= lanes) of a to p; writes nothing at or past p + n.
    static inline void store_partial(T* p, reg a, int64_t n) { for (int64_t i = 0; i < n; ++i) p[i] = a[i]; }
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

    // ---- Bit-level helpers for the elementary functions (cpp/simd/vmath.h) ----
    typedef typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type utype;
    typedef utype umask __attribute__((vector_size(16)));
    static constexpr int mant_bits = sizeof(T) == 4 ? 23 : 52;
    static constexpr int exp_bias = sizeof(T) == 4 ? 127 : 1023;
    static inline umask bits(reg a) { umask m; std::memcpy(&m, &a, 16); return m; }
    static inline reg from_bits(umask m) { reg r; std::memcpy(&r, &m, 16); return r; }
    // Magnitude of a with the sign of s.
    static inline reg copysign(reg a, reg s) {
        const utype sb = utype(1) << (8 * sizeof(T) - 1);
        return from_bits((bits(a) & ~sb) | (bits(s) & sb));
    }
    // Round to nearest integer, ties to even (any input; NaN stays NaN).
    static inline reg round(reg a) {
        const T big = sizeof(T) == 4 ? T(8388608.0) : T(4503599627370496.0);   // 2^mant_bits
        reg ax = abs(a);
        reg r = (ax + big) - big;
        return select(ax < big, copysign(r, a), a);
    }
    // 2^n for integer-valued n in [1 - bias, bias] (a normal power of two), built
    // from the bits of n + (1.5*2^mant_bits + bias).
    static inline reg pow2i(reg n) {
        const T magic = sizeof(T) == 4 ? T(12582912.0 + 127.0) : T(6755399441055744.0 + 1023.0);
        return from_bits(bits(n + magic) << mant_bits);
    }
    // a * 2^n, n integer-valued with 2^n normal (a product whose result may be
    // subnormal or overflow is still rounded once, as a multiplication).
    static inline reg ldexp_normal(reg a, reg n) { return a * pow2i(n); }
    // a * 2^n for integer-valued |n| <= 2*bias - 2: two steps, so results near
    // overflow become inf and tiny results are rounded once into the subnormals.
    static inline reg ldexp(reg a, reg n) {
        reg n1 = round(n * T(0.5));
        return (a * pow2i(n1)) * pow2i(n - n1);
    }
    // For positive normal finite x: returns m and sets e with x = m * 2^e,
    // m in [sqrt(1/2), sqrt(2)), e integer-valued.
    static inline reg frexp_sqrt2(reg x, reg& e) {
        const itype off = sizeof(T) == 4 ? itype(0x3f3504f3) : itype(0x3fe6a09e667f3bcdLL);
        mask ix; std::memcpy(&ix, &x, 16);
        mask t = ix - off;
        mask k = t >> mant_bits;                       // arithmetic shift
        e = __builtin_convertvector(k, reg);
        mask mb = ix - (t & ~((itype(1) << mant_bits) - 1));   // t with the mantissa bits cleared
        reg m; std::memcpy(&m, &mb, 16);
        return m;
    }
    // Approximate 1/a (within about 1 ulp) for finite normal a; here: a division.
    static inline reg recip(reg a) { return T(1) / a; }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
