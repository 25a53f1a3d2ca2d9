// Vectorised elementary functions over Vec<T> (cpp/simd/<isa>.h), compiled per ISA
// inside namespace nnmat::NNMAT_ISA_NS. Include after the ISA's vector header.
//
// Contract (both float and double, every lane independent):
//   exp, expm1, log, log1p, tanh, erf, erfc
//   * IEEE special values as the C library: NaN in -> NaN out, exp(-inf) = 0,
//     exp(+inf) = inf, log(0) = -inf, log(x < 0) = NaN, tanh(+-inf) = +-1, ...
//   * accuracy: a few ulp in float32, about 1e-15 relative in float64, over the
//     whole range (tests/test_vmath.py measures it).
//
// This first version evaluates each lane with the C library (correct, slow);
// the vectorised approximations replace the bodies without changing the API.
#pragma once
#include <cmath>

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T>
struct VMath {
    using V = Vec<T>;
    using R = typename V::reg;

    template <class F>
    static inline R each(R x, F f) {
        alignas(64) T b[V::lanes];
        V::store(b, x);
        for (int i = 0; i < V::lanes; ++i) b[i] = f(b[i]);
        return V::load(b);
    }
    static inline R exp(R x) { return each(x, [](T v) { return std::exp(v); }); }
    static inline R expm1(R x) { return each(x, [](T v) { return std::expm1(v); }); }
    static inline R log(R x) { return each(x, [](T v) { return std::log(v); }); }
    static inline R log1p(R x) { return each(x, [](T v) { return std::log1p(v); }); }
    static inline R tanh(R x) { return each(x, [](T v) { return std::tanh(v); }); }
    static inline R erf(R x) { return each(x, [](T v) { return std::erf(v); }); }
    static inline R erfc(R x) { return each(x, [](T v) { return std::erfc(v); }); }
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
