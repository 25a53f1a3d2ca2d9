// Optimizer update kernels written once against Vec<T>; included by the per-ISA
// translation units optim_{generic,avx2,avx512}.cpp inside nnmat::NNMAT_ISA_NS.
// Contract: optim_table.h (scalars) and optim.h. No threads here.
//
// Every (kind x options) variant is its own loop (template parameters), picked
// once per call, so the element loop has no option branches. The order of the
// operations follows torch.optim's single-tensor implementations (torch 2.x,
// _single_tensor_sgd / _single_tensor_adam), in the parameter type T:
//
//   SGD:   g = maximize ? -g : g;  g = g + wd * p            (weight_decay != 0)
//          buf = g (first step) | buf = momentum * buf + (1 - dampening) * g
//          d = nesterov ? g + momentum * buf : buf          (d = g without momentum)
//          p = p + (-lr) * d
//   Adam:  g = maximize ? -g : g;  g = g + wd * p  (Adam, L2) | p = p * (1 - lr * wd)  (AdamW)
//          m = lerp(m, g, 1 - beta1)   (torch's lerp: m + w (g - m) for w < 0.5, else g - (g - m)(1 - w))
//          v = beta2 * v + ((1 - beta2) * g) * g   (torch's addcmul: one fma)
//          vmax = max(vmax, v) (amsgrad; the denominator then uses vmax)
//          denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//          p = p + ((-lr / (1 - beta1^t)) * m) / denom
//
// Products followed by a sum use Vec::fma where torch's vectorized CPU kernels do
// (add with alpha, lerp); the generic path has no fused multiply-add (it rounds
// twice), so results agree with torch to rounding, not bitwise.
// Tail elements (n not a multiple of the vector length) go through the same
// vector body on small local copies.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "optim/optim_table.h"

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T>
struct OptimK {
    using V = Vec<T>;
    using R = typename V::reg;
    static constexpr int L = V::lanes;

    // ------------------------------------------------------------------ SGD
    template <bool WD, bool MX, int MOM, bool NE>
    static inline void sgd_body(const SgdArgs<T>& a, T* p, const T* g, T* buf) {
        R gv = V::load(g);
        if constexpr (MX) gv = V::neg(gv);
        R pv = V::load(p);
        if constexpr (WD) gv = V::fma(pv, V::bcast(a.weight_decay), gv);
        R d = gv;
        if constexpr (MOM == 1) {
            V::store(buf, gv);
            if constexpr (NE) d = V::fma(gv, V::bcast(a.momentum), gv);
        } else if constexpr (MOM == 2) {
            R b = V::mul(V::load(buf), V::bcast(a.momentum));
            b = V::fma(gv, V::bcast(a.one_minus_dampening), b);
            V::store(buf, b);
            d = NE ? V::fma(b, V::bcast(a.momentum), gv) : b;
        }
        V::store(p, V::fma(d, V::bcast(a.neg_lr), pv));
    }

    template <bool WD, bool MX, int MOM, bool NE>
    __attribute__((noinline)) static void sgd_loop(const SgdArgs<T>& a, T* p, const T* g, T* buf, int64_t n) {
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            sgd_body<WD, MX, MOM, NE>(a, p + i, g + i, MOM ? buf + i : nullptr);
            sgd_body<WD, MX, MOM, NE>(a, p + i + L, g + i + L, MOM ? buf + i + L : nullptr);
        }
        for (; i + L <= n; i += L) sgd_body<WD, MX, MOM, NE>(a, p + i, g + i, MOM ? buf + i : nullptr);
        if (i < n) {
            const std::size_t r = std::size_t(n - i) * sizeof(T);
            alignas(64) T pb[L] = {}, gb[L] = {}, bb[L] = {};
            std::memcpy(pb, p + i, r);
            std::memcpy(gb, g + i, r);
            if constexpr (MOM == 2) std::memcpy(bb, buf + i, r);
            sgd_body<WD, MX, MOM, NE>(a, pb, gb, bb);
            std::memcpy(p + i, pb, r);
            if constexpr (MOM != 0) std::memcpy(buf + i, bb, r);
        }
    }

    using SgdFn = void (*)(const SgdArgs<T>&, T*, const T*, T*, int64_t);
    // index = wd + 2 maximize + 4 momentum_mode + 12 nesterov
    template <std::size_t... I>
    static constexpr std::array<SgdFn, sizeof...(I)> sgd_fns(std::index_sequence<I...>) {
        return {{&sgd_loop<bool(I & 1), bool(I & 2), int((I >> 2) % 3), bool(I / 12)>...}};
    }
    static void sgd(const SgdArgs<T>& a, T* p, const T* g, T* buf, int64_t n) {
        static constexpr auto fns = sgd_fns(std::make_index_sequence<24>{});
        const int mom = a.momentum_mode < 0 ? 0 : (a.momentum_mode > 2 ? 2 : a.momentum_mode);
        const std::size_t idx = std::size_t(int(a.use_weight_decay) + 2 * int(a.maximize) + 4 * mom +
                                            12 * int(a.nesterov && mom != 0));
        fns[idx](a, p, g, buf, n);
    }

    // ----------------------------------------------------------------- Adam
    template <bool MX, int WD, bool AMS, bool SMALL>
    static inline void adam_body(const AdamArgs<T>& a, T* p, const T* g, T* m, T* v, T* vmax) {
        R gv = V::load(g);
        if constexpr (MX) gv = V::neg(gv);
        R pv = V::load(p);
        if constexpr (WD == 1) gv = V::fma(pv, V::bcast(a.weight_decay), gv);
        if constexpr (WD == 2) pv = V::mul(pv, V::bcast(a.decay_factor));
        R mv = V::load(m);
        const R dm = V::sub(gv, mv);
        mv = SMALL ? V::fma(V::bcast(a.w1), dm, mv) : V::fnma(dm, V::bcast(a.one_minus_w1), gv);
        V::store(m, mv);
        R vv = V::fma(V::mul(V::bcast(a.one_minus_beta2), gv), gv, V::mul(V::load(v), V::bcast(a.beta2)));
        V::store(v, vv);
        if constexpr (AMS) {
            vv = V::max(V::load(vmax), vv);   // a NaN v propagates (max returns its second operand)
            V::store(vmax, vv);
        }
        const R den = V::add(V::div(V::sqrt(vv), V::bcast(a.bc2_sqrt)), V::bcast(a.eps));
        V::store(p, V::add(pv, V::div(V::mul(V::bcast(a.neg_step_size), mv), den)));
    }

    template <bool MX, int WD, bool AMS, bool SMALL>
    __attribute__((noinline)) static void adam_loop(const AdamArgs<T>& a, T* p, const T* g, T* m, T* v, T* vmax,
                                                    int64_t n) {
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            adam_body<MX, WD, AMS, SMALL>(a, p + i, g + i, m + i, v + i, AMS ? vmax + i : nullptr);
            adam_body<MX, WD, AMS, SMALL>(a, p + i + L, g + i + L, m + i + L, v + i + L,
                                          AMS ? vmax + i + L : nullptr);
        }
        for (; i + L <= n; i += L)
            adam_body<MX, WD, AMS, SMALL>(a, p + i, g + i, m + i, v + i, AMS ? vmax + i : nullptr);
        if (i < n) {
            const std::size_t r = std::size_t(n - i) * sizeof(T);
            alignas(64) T pb[L] = {}, gb[L] = {}, mb[L] = {}, vb[L] = {}, xb[L] = {};
            std::memcpy(pb, p + i, r);
            std::memcpy(gb, g + i, r);
            std::memcpy(mb, m + i, r);
            std::memcpy(vb, v + i, r);
            if constexpr (AMS) std::memcpy(xb, vmax + i, r);
            adam_body<MX, WD, AMS, SMALL>(a, pb, gb, mb, vb, xb);
            std::memcpy(p + i, pb, r);
            std::memcpy(m + i, mb, r);
            std::memcpy(v + i, vb, r);
            if constexpr (AMS) std::memcpy(vmax + i, xb, r);
        }
    }

    using AdamFn = void (*)(const AdamArgs<T>&, T*, const T*, T*, T*, T*, int64_t);
    // index = maximize + 2 wd_mode + 6 amsgrad + 12 small_weight
    template <std::size_t... I>
    static constexpr std::array<AdamFn, sizeof...(I)> adam_fns(std::index_sequence<I...>) {
        return {{&adam_loop<bool(I & 1), int((I >> 1) % 3), bool((I / 6) & 1), bool(I / 12)>...}};
    }
    static void adam(const AdamArgs<T>& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n) {
        static constexpr auto fns = adam_fns(std::make_index_sequence<24>{});
        const int wd = a.wd_mode < 0 ? 0 : (a.wd_mode > 2 ? 2 : a.wd_mode);
        // torch's lerp: the m + w (g - m) form for |w| < 0.5, the other one otherwise
        const bool small = (a.w1 < T(0) ? -a.w1 : a.w1) < T(0.5);
        const std::size_t idx =
            std::size_t(int(a.maximize) + 2 * wd + 6 * int(a.amsgrad) + 12 * int(small));
        fns[idx](a, p, g, m, v, vmax, n);
    }
};

template <class T>
void sgd_serial(const SgdArgs<T>& a, T* p, const T* g, T* buf, int64_t n) { OptimK<T>::sgd(a, p, g, buf, n); }
template <class T>
void adam_serial(const AdamArgs<T>& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n) {
    OptimK<T>::adam(a, p, g, m, v, vmax, n);
}

extern const OptimTable optim_table;
const OptimTable optim_table = {
    &sgd_serial<float>, &sgd_serial<double>,
    &adam_serial<float>, &adam_serial<double>,
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
