// Array loops over VMath<T> for one ISA (included by cpp/simd/vmath_<isa>.cpp
// after that ISA's vector header, NNMAT_ISA_NS defined).
#pragma once
#include <cstdint>
#include <cstring>

#include "simd/vmath.h"
#include "simd/vmath_table.h"

namespace nnmat {
namespace NNMAT_ISA_NS {
namespace vmath_detail {

template <class T, int F>
inline typename Vec<T>::reg call(typename Vec<T>::reg x) {
    using VM = VMath<T>;
    switch (F) {
        case vm_exp: return VM::exp(x);
        case vm_expm1: return VM::expm1(x);
        case vm_log: return VM::log(x);
        case vm_log1p: return VM::log1p(x);
        case vm_tanh: return VM::tanh(x);
        case vm_erf: return VM::erf(x);
        case vm_erfc: return VM::erfc(x);
        default: return VM::sigmoid(x);
    }
}

// out[i] = f(x[i]); the tail shorter than a vector goes through a padded buffer.
template <class T, int F>
void apply(const T* x, T* out, int64_t n) {
    using V = Vec<T>;
    constexpr int L = V::lanes;
    int64_t i = 0;
    for (; i + L <= n; i += L) V::store(out + i, call<T, F>(V::load(x + i)));
    if (i < n) {
        alignas(64) T buf[L];
        for (int j = 0; j < L; ++j) buf[j] = T(0.5);
        std::memcpy(buf, x + i, size_t(n - i) * sizeof(T));
        V::store(buf, call<T, F>(V::load(buf)));
        std::memcpy(out + i, buf, size_t(n - i) * sizeof(T));
    }
}

}  // namespace vmath_detail

#define NNMAT_VMATH_ROW(T) \
    {&vmath_detail::apply<T, vm_exp>, &vmath_detail::apply<T, vm_expm1>, &vmath_detail::apply<T, vm_log>, \
     &vmath_detail::apply<T, vm_log1p>, &vmath_detail::apply<T, vm_tanh>, &vmath_detail::apply<T, vm_erf>, \
     &vmath_detail::apply<T, vm_erfc>, &vmath_detail::apply<T, vm_sigmoid>}

extern const VmathTable vmath_table;
const VmathTable vmath_table = {NNMAT_ISA_NAME, NNMAT_VMATH_ROW(float), NNMAT_VMATH_ROW(double)};

#undef NNMAT_VMATH_ROW

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
