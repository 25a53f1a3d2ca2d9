// Element-wise kernels written once against Vec<T> / VMath<T>; included by the
// per-ISA translation units eltwise_{generic,avx2,avx512}.cpp inside
// nnmat::NNMAT_ISA_NS. Contract: eltwise.h. No threads here.
//
// Formulas follow ../shared/spec/losses.md section 8 (activations) and sections
// 1-2 (losses), including PyTorch's values at the kinks:
//   relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, hardtanh' = 0 at the
//   bounds, hardsigmoid' = 0 at +-3, hardswish'(-3) = 0, hardswish'(3) = 1,
//   softplus uses the smooth branch at beta*x == threshold,
//   sign(0) = 0 for l1 (and sign(NaN) = 0, as torch), huber/smooth_l1 gradients
//   saturate at r <= -delta and r >= delta.
// NaN inputs give NaN values (x86 max/min return their SECOND operand when one
// is NaN, so every max/min below keeps x in that position).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "elementwise/eltwise.h"

namespace nnmat {
namespace NNMAT_ISA_NS {

template <class T>
struct Ew {
    using V = Vec<T>;
    using R = typename V::reg;
    using M = VMath<T>;
    static constexpr int L = V::lanes;

    static inline R k(double v) { return V::bcast(T(v)); }

    static inline R sigmoid(R x) { return M::sigmoid(x); }

    // ---------------------------------------------------------------- maps
    // y[i] = f(x[i]); y may alias x (each vector is loaded before it is stored).
    template <class F>
    __attribute__((noinline)) static void map1(const T* x, T* y, int64_t n, F f) {
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            const R a = V::load(x + i), b = V::load(x + i + L);
            V::store(y + i, f(a));
            V::store(y + i + L, f(b));
        }
        for (; i + L <= n; i += L) V::store(y + i, f(V::load(x + i)));
        if (i < n) {
            alignas(64) T buf[L] = {};
            std::memcpy(buf, x + i, std::size_t(n - i) * sizeof(T));
            V::store(buf, f(V::load(buf)));
            std::memcpy(y + i, buf, std::size_t(n - i) * sizeof(T));
        }
    }
    // dx[i] = f(x[i], g[i]); dx may alias g or x.
    template <class F>
    __attribute__((noinline)) static void map2(const T* x, const T* g, T* dx, int64_t n, F f) {
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            const R a = V::load(x + i), b = V::load(x + i + L);
            const R ga = V::load(g + i), gb = V::load(g + i + L);
            V::store(dx + i, f(a, ga));
            V::store(dx + i + L, f(b, gb));
        }
        for (; i + L <= n; i += L) V::store(dx + i, f(V::load(x + i), V::load(g + i)));
        if (i < n) {
            alignas(64) T bx[L] = {}, bg[L] = {};
            std::memcpy(bx, x + i, std::size_t(n - i) * sizeof(T));
            std::memcpy(bg, g + i, std::size_t(n - i) * sizeof(T));
            V::store(bx, f(V::load(bx), V::load(bg)));
            std::memcpy(dx + i, bx, std::size_t(n - i) * sizeof(T));
        }
    }

    // ---------------------------------------------------------- activations
    // mish helpers: with e = e^x, tanh(softplus(x)) = n / (n + 2), n = e (e + 2),
    // and 1 - tanh(softplus(x)) = 2 / (n + 2) (no cancellation near 1). x is
    // capped at 40 for e (tanh(softplus(40)) == 1 in both precisions).
    static inline void mish_parts(R x, R& e, R& ts, R& om) {
        e = M::exp(V::min(k(40), x));
        const R nn = V::mul(e, V::add(e, k(2)));
        const R inv = V::div(k(1), V::add(nn, k(2)));
        ts = V::mul(nn, inv);
        om = V::add(inv, inv);
    }

    // elu / selu as  x > 0 ? pos x : neg expm1(x):  elu (pos 1, neg alpha),
    // selu (pos lambda, neg lambda alpha) with the self-normalising constants.
    static inline void elu_scales(int act, const ActParams& p, R& neg, R& pos) {
        const bool selu = Act(act) == Act::selu;
        const double lambda = 1.0507009873554804934193349852946;
        const double alpha = selu ? 1.6732632423543772848170429916717 : p.p0;
        neg = k(selu ? alpha * lambda : alpha);
        pos = k(selu ? lambda : 1.0);
    }

    static void forward(int act, const T* x, T* y, int64_t n, const ActParams& p) {
        const R zero = V::zero();
        switch (Act(act)) {
            case Act::identity:
                if (x != y) std::memmove(y, x, std::size_t(n) * sizeof(T));
                return;
            case Act::sigmoid: map1(x, y, n, [&](R v) { return sigmoid(v); }); return;
            case Act::tanh: map1(x, y, n, [&](R v) { return M::tanh(v); }); return;
            case Act::relu: map1(x, y, n, [&](R v) { return V::max(zero, v); }); return;
            case Act::leaky_relu: {
                const R s = k(p.p0);
                map1(x, y, n, [&](R v) { return V::select(V::gt(v, zero), v, V::mul(v, s)); });
                return;
            }
            case Act::elu:
            case Act::selu: {
                // elu: x > 0 ? x : alpha expm1(x); selu: lambda * (the same with alpha_selu).
                R neg, pos;
                elu_scales(act, p, neg, pos);
                map1(x, y, n, [&](R v) {
                    return V::select(V::le(v, zero), V::mul(M::expm1(v), neg), V::mul(v, pos));
                });
                return;
            }
            case Act::gelu: {
                // x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for x << 0.
                const R r2 = k(-0.70710678118654752440), half = k(0.5);
                map1(x, y, n, [&](R v) { return V::mul(v, V::mul(half, M::erfc(V::mul(v, r2)))); });
                return;
            }
            case Act::gelu_tanh: {
                // 0.5 x (1 + tanh u) = x sigma(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
                const R c2 = k(2 * 0.79788456080286535588), c3 = k(0.044715);
                map1(x, y, n, [&](R v) {
                    const R u2 = V::mul(c2, V::fma(V::mul(c3, v), V::mul(v, v), v));
                    return V::mul(v, sigmoid(u2));
                });
                return;
            }
            case Act::silu: map1(x, y, n, [&](R v) { return V::mul(v, sigmoid(v)); }); return;
            case Act::softplus: {
                const R beta = k(p.p0), thr = k(p.p1), rbeta = k(1.0 / p.p0);
                const bool unit = p.p0 == 1.0;
                // log1p(exp(bx)) = max(bx, 0) + log1p(exp(-|bx|)), no overflow
                map1(x, y, n, [&](R v) {
                    const R bx = unit ? v : V::mul(v, beta);
                    R s = V::add(V::max(V::zero(), bx), M::log1p_unit(M::exp(V::neg(V::abs(bx)))));
                    if (!unit) s = V::mul(s, rbeta);
                    return V::select(V::gt(bx, thr), v, s);
                });
                return;
            }
            case Act::mish:
                map1(x, y, n, [&](R v) {
                    R e, ts, om;
                    mish_parts(v, e, ts, om);
                    return V::mul(v, ts);
                });
                return;
            case Act::hardtanh: {
                const R lo = k(p.p0), hi = k(p.p1);
                map1(x, y, n, [&](R v) { return V::select(V::lt(v, lo), lo, V::select(V::gt(v, hi), hi, v)); });
                return;
            }
            case Act::hardsigmoid: {
                const R three = k(3), six = k(6);
                map1(x, y, n, [&](R v) { return V::div(V::min(six, V::max(zero, V::add(v, three))), six); });
                return;
            }
            case Act::hardswish: {
                const R three = k(3), six = k(6);
                map1(x, y, n, [&](R v) {
                    return V::div(V::mul(v, V::min(six, V::max(zero, V::add(v, three)))), six);
                });
                return;
            }
            default: return;
        }
    }

    static void backward(int act, const T* x, const T* g, T* dx, int64_t n, const ActParams& p) {
        const R zero = V::zero(), one = k(1);
        switch (Act(act)) {
            case Act::identity:
                if (g != dx) std::memmove(dx, g, std::size_t(n) * sizeof(T));
                return;
            // From x, not as s (1 - s) / 1 - t^2: those cancel once s or |t| rounds near 1
            // (float32: 100% error, then 0, from |x| ~ 9 on). With e = exp(-|x|):
            // sigmoid' = e / (1 + e)^2; tanh' = 4 e2 / (1 + e2)^2, e2 = exp(-2|x|).
            case Act::sigmoid:
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R e = M::exp(V::neg(V::abs(v)));
                    const R d = V::add(one, e);
                    return V::mul(gv, V::div(e, V::mul(d, d)));
                });
                return;
            case Act::tanh: {
                const R m2 = k(-2), four = k(4);
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R e = M::exp(V::mul(m2, V::abs(v)));
                    const R d = V::add(one, e);
                    return V::mul(gv, V::div(V::mul(four, e), V::mul(d, d)));
                });
                return;
            }
            case Act::relu:   // torch: x <= 0 ? 0 : g (a NaN x passes g)
                map2(x, g, dx, n, [&](R v, R gv) { return V::select(V::le(v, zero), zero, gv); });
                return;
            case Act::leaky_relu: {
                const R s = k(p.p0);
                map2(x, g, dx, n, [&](R v, R gv) { return V::select(V::gt(v, zero), gv, V::mul(gv, s)); });
                return;
            }
            case Act::elu:
            case Act::selu: {
                R neg, pos;
                elu_scales(act, p, neg, pos);
                map2(x, g, dx, n, [&](R v, R gv) {
                    return V::select(V::le(v, zero), V::mul(gv, V::mul(neg, M::exp(v))), V::mul(gv, pos));
                });
                return;
            }
            case Act::gelu: {
                // Phi(x) + x phi(x)
                const R r2 = k(-0.70710678118654752440), half = k(0.5), mhalf = k(-0.5);
                const R rs2pi = k(0.39894228040143267794);
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R cdf = V::mul(half, M::erfc(V::mul(v, r2)));
                    const R pdf = V::mul(rs2pi, M::exp(V::mul(mhalf, V::mul(v, v))));
                    return V::mul(gv, V::fma(v, pdf, cdf));
                });
                return;
            }
            case Act::gelu_tanh: {
                // s = sigma(2u): f' = s + 2 x s (1 - s) u',  u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
                const R c = k(0.79788456080286535588), c2 = k(2 * 0.79788456080286535588);
                const R c3 = k(0.044715), c33 = k(3 * 0.044715), two = k(2);
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R v2 = V::mul(v, v);
                    const R s = sigmoid(V::mul(c2, V::fma(V::mul(c3, v), v2, v)));
                    const R du = V::mul(c, V::fma(c33, v2, one));
                    // s (1 - s) == 0 far out (x^2 may overflow to inf there): the term is 0, not 0 * inf
                    const R ss = V::mul(s, V::sub(one, s));
                    const R t = V::select(V::eq(ss, zero), zero, V::mul(V::mul(two, v), V::mul(ss, du)));
                    return V::mul(gv, V::add(s, t));
                });
                return;
            }
            case Act::silu:
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R s = sigmoid(v);
                    return V::mul(V::mul(gv, s), V::fma(v, V::sub(one, s), one));
                });
                return;
            case Act::softplus: {
                const R beta = k(p.p0), thr = k(p.p1);
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R bx = V::mul(v, beta);
                    return V::select(V::gt(bx, thr), gv, V::mul(gv, sigmoid(bx)));
                });
                return;
            }
            case Act::mish:
                // tanh(sp) + x sigma(x) (1 - tanh(sp)^2), sigma(x) = e / (1 + e)
                map2(x, g, dx, n, [&](R v, R gv) {
                    R e, ts, om;
                    mish_parts(v, e, ts, om);
                    const R s = V::div(e, V::add(e, one));
                    const R sech2 = V::mul(om, V::sub(k(2), om));
                    // beyond the cap, f'(x) = 1 + x e^{-2x} O(1) == 1
                    return V::mul(gv, V::select(V::gt(v, k(40)), one, V::fma(V::mul(v, s), sech2, ts)));
                });
                return;
            case Act::hardtanh: {   // torch: x <= min || x >= max ? 0 : g
                const R lo = k(p.p0), hi = k(p.p1);
                map2(x, g, dx, n, [&](R v, R gv) {
                    return V::select(V::mor(V::le(v, lo), V::ge(v, hi)), zero, gv);
                });
                return;
            }
            case Act::hardsigmoid: {
                const R m3 = k(-3), p3 = k(3), sixth = k(1.0 / 6.0);
                map2(x, g, dx, n, [&](R v, R gv) {
                    return V::select(V::mand(V::gt(v, m3), V::lt(v, p3)), V::mul(gv, sixth), zero);
                });
                return;
            }
            case Act::hardswish: {
                const R m3 = k(-3), p3 = k(3), third = k(1.0 / 3.0), half = k(0.5);
                map2(x, g, dx, n, [&](R v, R gv) {
                    const R mid = V::mul(gv, V::fma(v, third, half));
                    return V::select(V::le(v, m3), zero, V::select(V::lt(v, p3), mid, gv));
                });
                return;
            }
            default: return;
        }
    }

    // sigmoid: g y (1 - y); tanh: g (1 - y^2) -- from the forward output, as torch.
    static void backward_y(int act, const T* y, const T* g, T* dx, int64_t n) {
        const R one = k(1);
        if (Act(act) == Act::sigmoid)
            map2(y, g, dx, n, [&](R v, R gv) { return V::mul(V::mul(gv, V::sub(one, v)), v); });
        else if (Act(act) == Act::tanh)
            map2(y, g, dx, n, [&](R v, R gv) { return V::mul(gv, V::fnma(v, v, one)); });
    }

    // Row reductions in a fixed order: 4 vector accumulators, then lanes, then the tail.
    static inline T row_dot(const T* a, const T* b, int64_t C) {
        R s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
        int64_t c = 0;
        for (; c + 4 * L <= C; c += 4 * L) {
            s0 = V::fma(V::load(a + c), V::load(b + c), s0);
            s1 = V::fma(V::load(a + c + L), V::load(b + c + L), s1);
            s2 = V::fma(V::load(a + c + 2 * L), V::load(b + c + 2 * L), s2);
            s3 = V::fma(V::load(a + c + 3 * L), V::load(b + c + 3 * L), s3);
        }
        for (; c + L <= C; c += L) s0 = V::fma(V::load(a + c), V::load(b + c), s0);
        s0 = V::add(V::add(s0, s1), V::add(s2, s3));
        alignas(64) T lanes[L];
        V::store(lanes, s0);
        T s = T(0);
        for (int j = 0; j < L; ++j) s += lanes[j];
        for (; c < C; ++c) s += a[c] * b[c];
        return s;
    }
    static void softmax_backward_y(const T* y, const T* g, T* dx, int64_t rows, int64_t C, bool log) {
        for (int64_t r = 0; r < rows; ++r) {
            const T* yr = y + r * C;
            const T* gr = g + r * C;
            T* dr = dx + r * C;
            if (!log) {
                const R d = k(double(row_dot(gr, yr, C)));
                map2(yr, gr, dr, C, [&](R yv, R gv) { return V::mul(yv, V::sub(gv, d)); });
            } else {
                // sum(g) in a fixed order: one vector accumulator, lanes, then the tail
                R s0 = V::zero();
                int64_t c = 0;
                for (; c + L <= C; c += L) s0 = V::add(s0, V::load(gr + c));
                alignas(64) T lanes[L];
                V::store(lanes, s0);
                T sg = T(0);
                for (int j = 0; j < L; ++j) sg += lanes[j];
                for (; c < C; ++c) sg += gr[c];
                const R sv = k(double(sg));
                map2(yr, gr, dr, C, [&](R yv, R gv) { return V::fnma(M::exp(yv), sv, gv); });
            }
        }
    }

    // ------------------------------------------------------------- losses
    // Each op computes the element loss l and its derivative d = dl/dx.
    struct Prm { R p0, p1; T s0, s1; };

    struct Mse {
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm&) {
            const R r = V::sub(x, y);
            if (VAL) l = V::mul(r, r);
            if (GRAD) d = V::add(r, r);
        }
    };
    struct L1 {
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm&) {
            const R r = V::sub(x, y);
            if (VAL) l = V::abs(r);
            // sign(r) with sign(0) = sign(NaN) = 0 (torch)
            if (GRAD) d = V::select(V::gt(r, V::zero()), k(1), V::select(V::lt(r, V::zero()), k(-1), V::zero()));
        }
    };
    struct Huber {   // p0 = delta
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm& q) {
            const R r = V::sub(x, y);
            if (VAL) {
                const R z = V::abs(r);
                l = V::select(V::lt(z, q.p0), V::mul(k(0.5), V::mul(z, z)),
                              V::mul(q.p0, V::sub(z, V::mul(k(0.5), q.p0))));
            }
            if (GRAD) d = V::select(V::le(r, V::neg(q.p0)), V::neg(q.p0), V::select(V::ge(r, q.p0), q.p0, r));
        }
    };
    struct SmoothL1 {   // p0 = beta > 0
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm& q) {
            const R r = V::sub(x, y);
            if (VAL) {
                const R z = V::abs(r);
                l = V::select(V::lt(z, q.p0), V::div(V::mul(k(0.5), V::mul(z, z)), q.p0),
                              V::sub(z, V::mul(k(0.5), q.p0)));
            }
            if (GRAD)
                d = V::select(V::le(r, V::neg(q.p0)), k(-1), V::select(V::ge(r, q.p0), k(1), V::div(r, q.p0)));
        }
    };
    struct LogCosh {
        // log cosh r = |r| + log1p(e^{-2|r|}) - log 2; for small |r| the series
        // r^2/2 - r^4/12 + r^6/45 - 17 r^8/2520 + 31 r^10/14175 avoids the cancellation.
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm&) {
            const R r = V::sub(x, y);
            if (VAL) {
                const R a = V::abs(r);
                const R big = V::sub(V::add(a, M::log1p_unit(M::exp(V::mul(k(-2), a)))), k(0.69314718055994530942));
                const R a2 = V::mul(a, a);
                R s = V::fma(a2, k(31.0 / 14175.0), k(-17.0 / 2520.0));
                s = V::fma(a2, s, k(1.0 / 45.0));
                s = V::fma(a2, s, k(-1.0 / 12.0));
                s = V::fma(a2, s, k(0.5));
                s = V::mul(a2, s);
                l = V::select(V::lt(a, k(sizeof(T) == 4 ? 0.25 : 0.01)), s, big);
            }
            if (GRAD) d = M::tanh(r);
        }
    };
    struct Bce {   // probabilities; log clamped at -100; grad (p - y) / max(p (1 - p), 1e-12)
        template <bool VAL, bool GRAD>
        static inline void eval(R p, R y, R, R& l, R& d, const Prm&) {
            const R one = k(1);
            if (VAL) {
                const R lp = V::max(k(-100), M::log(p));
                const R lq = V::max(k(-100), M::log1p(V::neg(p)));
                // (y - 1) * log(1 - p) - y * log p, as torch
                l = V::fnma(y, lp, V::mul(V::sub(y, one), lq));
            }
            if (GRAD) d = V::div(V::sub(p, y), V::max(k(1e-12), V::mul(p, V::sub(one, p))));
        }
        static inline bool invalid(R p) { return V::any(V::mor(V::lt(p, V::zero()), V::gt(p, k(1)))); }
    };
    // Shared by the logits losses: e = exp(-|x|), lp = log1p(e) (softplus(-x) =
    // max(-x, 0) + lp), s = sigma(x), sn = sigma(-x) = 1 - s (without cancellation).
    static inline void logit_parts(R x, R& lp, R& s, R& sn, bool want_lp, bool want_s) {
        const R e = M::exp(V::neg(V::abs(x)));
        if (want_lp) lp = M::log1p_unit(e);
        if (want_s) {
            const R inv = V::recip(V::add(k(1), e));
            const R ei = V::mul(e, inv);
            const auto pos = V::ge(x, V::zero());
            s = V::select(pos, inv, ei);
            sn = V::select(pos, ei, inv);
        }
    }
    // l = (1 - y) x + c softplus(-x), c = 1 + (pw - 1) y, evaluated as
    // c log1p(e^-|x|) + ((1 - y) x if x >= 0 else -pw y x): two non-negative terms
    // (for y in [0, 1], pw >= 0), so none of the cancellation of torch's form
    // (1 - y) x + c softplus(-x) when y = 0, x << 0 (or y = 1, x >> 0).
    // d = c s - pw y, evaluated as (1 - y) s - pw y sigma(-x) (accurate at saturation).
    struct BceLogits {
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R pw, R& l, R& d, const Prm&) {
            R lp, s, sn;
            logit_parts(x, lp, s, sn, VAL, GRAD);
            const R one = k(1);
            const R pwy = V::mul(pw, y);
            const R c = V::add(one, V::sub(pwy, y));
            if (VAL) {
                const R lin = V::select(V::ge(x, V::zero()), V::mul(V::sub(one, y), x), V::neg(V::mul(pwy, x)));
                l = V::fma(c, lp, lin);
            }
            if (GRAD) d = V::fms(V::sub(one, y), s, V::mul(pwy, sn));   // (1 - y) s - pw y (1 - s)
        }
    };
    struct Focal {   // torchvision sigmoid_focal_loss; p0 = alpha (< 0: none), p1 = gamma
        static inline R powg(R b, T g) {   // b^g for b >= 0; 0^g = 0 (g > 0), b^0 = 1
            if (g == T(2)) return V::mul(b, b);
            if (g == T(1)) return b;
            if (g == T(0)) return k(1);
            const R r = M::exp(V::mul(k(g), M::log(b)));
            return V::select(V::gt(b, V::zero()), r, V::zero());
        }
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm& q) {
            R lp, s, sn;
            logit_parts(x, lp, s, sn, true, true);
            const R one = k(1);
            // as BceLogits with pw = 1
            const R ce = V::add(lp, V::select(V::ge(x, V::zero()), V::mul(V::sub(one, y), x), V::neg(V::mul(y, x))));
            const R omp = V::fma(s, V::sub(one, y), V::mul(sn, y));   // 1 - p_t
            const R mod = powg(omp, q.s1);
            const bool alpha = q.s0 >= T(0);
            const R at = V::fma(q.p0, y, V::mul(V::sub(one, q.p0), V::sub(one, y)));
            if (VAL) {
                l = V::mul(ce, mod);
                if (alpha) l = V::mul(at, l);
            }
            if (GRAD) {
                // d = (1-p_t)^g (p - y) - g (1-p_t)^(g-1) p (1-p) (2y - 1) ce
                R t1 = V::mul(mod, V::fms(V::sub(one, y), s, V::mul(y, sn)));   // p - y, accurately
                if (q.s1 != T(0)) {
                    const R pm1 = powg(omp, q.s1 - T(1));
                    const R t2 = V::mul(V::mul(k(q.s1), pm1),
                                        V::mul(V::mul(s, sn), V::mul(V::fms(k(2), y, one), ce)));
                    // (1-p_t) == 0 exactly: the limit of the second term is 0 (torch gives NaN for g < 1)
                    t1 = V::sub(t1, V::select(V::gt(omp, V::zero()), t2, V::zero()));
                }
                d = alpha ? V::mul(at, t1) : t1;
            }
        }
    };
    struct Hinge {   // labels already in {-1, +1}
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm&) {
            const R h = V::fnma(y, x, k(1));
            if (VAL) l = V::max(V::zero(), h);
            if (GRAD) d = V::select(V::gt(h, V::zero()), V::neg(y), V::zero());
        }
    };
    struct SquaredHinge {
        template <bool VAL, bool GRAD>
        static inline void eval(R x, R y, R, R& l, R& d, const Prm&) {
            const R h = V::max(V::zero(), V::fnma(y, x, k(1)));
            if (VAL) l = V::mul(h, h);
            if (GRAD) d = V::mul(k(-2), V::mul(y, h));
        }
    };

    template <class Op, bool VAL, bool GRAD>
    static inline void step(int64_t i, R x, R y, R pw, R w, R go, const Prm& q,
                            R& acc, T* lout, T* gout_ptr, bool has_w, bool has_go, R gs) {
        R l, d;
        Op::template eval<VAL, GRAD>(x, y, pw, l, d, q);
        if (has_w) {
            if (VAL) l = V::mul(l, w);
            if (GRAD) d = V::mul(d, w);
        }
        if (VAL) {
            if (lout) V::store(lout + i, l);
            acc = V::add(acc, l);
        }
        if (GRAD) {
            d = V::mul(d, gs);
            if (has_go) d = V::mul(d, go);
            V::store(gout_ptr + i, d);
        }
    }

    // Sums: vector accumulators in T are drained into a double every kFlush
    // steps, so a lane adds at most 2 kFlush values in T whatever the vector
    // width (the generic path has 4 lanes, AVX-512 16): float32 sums keep about
    // the same accuracy on every ISA, in a fixed order.
    static constexpr int kFlush = 16;
    static inline double drain(R& a0, R& a1) {
        alignas(64) T lanes[L];
        V::store(lanes, V::add(a0, a1));
        double s = 0.0;
        for (int j = 0; j < L; ++j) s += double(lanes[j]);
        a0 = a1 = V::zero();
        return s;
    }

    // The common case (target array; no weight, pos_weight, upstream array or
    // per-element loss output): a tight loop over local restrict pointers, two
    // vectors per step. Same operations as loss_range, so the same results.
    template <class Op, bool VAL, bool GRAD>
    __attribute__((noinline)) static double plain_range(const EwLossArgs<T>& a, int64_t b, int64_t e,
                                                        const Prm& q, bool& bad) {
        const T* __restrict X = a.x;
        const T* __restrict Y = a.y;
        T* __restrict G = a.grad;
        const R gs = k(a.gscale), one = k(1);
        constexpr bool kCheck = std::is_same<Op, Bce>::value;
        R acc0 = V::zero(), acc1 = V::zero();
        double s = 0.0;
        int steps = 0;
        int64_t i = b;
        for (; i + 2 * L <= e; i += 2 * L) {
            const R x0 = V::load(X + i), x1 = V::load(X + i + L);
            const R y0 = V::load(Y + i), y1 = V::load(Y + i + L);
            if (kCheck) bad |= Bce::invalid(x0) | Bce::invalid(x1);
            R l0, d0, l1, d1;
            Op::template eval<VAL, GRAD>(x0, y0, one, l0, d0, q);
            Op::template eval<VAL, GRAD>(x1, y1, one, l1, d1, q);
            if (VAL) {
                acc0 = V::add(acc0, l0);
                acc1 = V::add(acc1, l1);
                if (++steps == kFlush) { s += drain(acc0, acc1); steps = 0; }
            }
            if (GRAD) {
                V::store(G + i, V::mul(d0, gs));
                V::store(G + i + L, V::mul(d1, gs));
            }
        }
        s += drain(acc0, acc1);
        // the rest (one vector, then the tail) through the general loop
        if (i < e) s += loss_range<Op, VAL, GRAD>(a, i, e, q);
        return s;
    }

    template <class Op, bool VAL, bool GRAD>
    __attribute__((noinline)) static double loss_range(const EwLossArgs<T>& a, int64_t b, int64_t e, const Prm& q) {
        const bool has_w = a.w != nullptr, has_pw = a.pw != nullptr, has_go = a.gout != nullptr;
        const R gs = k(a.gscale), one = k(1), yc = k(a.y_const);
        R acc0 = V::zero(), acc1 = V::zero();
        double s = 0.0;
        int steps = 0;
        bool bad = false;
        constexpr bool kCheck = std::is_same<Op, Bce>::value;
        int64_t i = b;
        auto at = [&](const T* p, int64_t j, R dflt) { return p ? V::load(p + j) : dflt; };
        for (; i + 2 * L <= e; i += 2 * L) {
            const R x0 = V::load(a.x + i), x1 = V::load(a.x + i + L);
            const R y0 = at(a.y, i, yc), y1 = at(a.y, i + L, yc);
            if (kCheck) bad |= Bce::invalid(x0) | Bce::invalid(x1);
            step<Op, VAL, GRAD>(i, x0, y0, has_pw ? V::load(a.pw + i) : one, at(a.w, i, one),
                                at(a.gout, i, one), q, acc0, a.loss, a.grad, has_w, has_go, gs);
            step<Op, VAL, GRAD>(i + L, x1, y1, has_pw ? V::load(a.pw + i + L) : one, at(a.w, i + L, one),
                                at(a.gout, i + L, one), q, acc1, a.loss, a.grad, has_w, has_go, gs);
            if (VAL && ++steps == kFlush) { s += drain(acc0, acc1); steps = 0; }
        }
        for (; i + L <= e; i += L) {
            const R x0 = V::load(a.x + i), y0 = at(a.y, i, yc);
            if (kCheck) bad |= Bce::invalid(x0);
            step<Op, VAL, GRAD>(i, x0, y0, has_pw ? V::load(a.pw + i) : one, at(a.w, i, one),
                                at(a.gout, i, one), q, acc0, a.loss, a.grad, has_w, has_go, gs);
        }
        s += drain(acc0, acc1);
        if (i < e) {
            // Tail through padded buffers; only the valid lanes are stored and summed.
            const int64_t r = e - i;
            alignas(64) T bx[L] = {}, by[L] = {}, bpw[L], bw[L], bgo[L], bl[L], bg[L];
            for (int j = 0; j < L; ++j) { bx[j] = T(0.5); by[j] = T(a.y_const); bpw[j] = bw[j] = bgo[j] = T(1); }
            auto cp = [&](T* dst, const T* src) { if (src) std::memcpy(dst, src + i, std::size_t(r) * sizeof(T)); };
            cp(bx, a.x); cp(by, a.y); cp(bpw, a.pw); cp(bw, a.w); cp(bgo, a.gout);
            if (kCheck) {
                for (int64_t j = 0; j < r; ++j) bad |= !(bx[j] >= T(0) && bx[j] <= T(1)) && bx[j] == bx[j];
            }
            R acc = V::zero();
            step<Op, VAL, GRAD>(0, V::load(bx), V::load(by), V::load(bpw), V::load(bw), V::load(bgo), q, acc,
                                VAL ? bl : nullptr, bg, has_w, has_go, gs);
            if (VAL) {
                for (int64_t j = 0; j < r; ++j) s += double(bl[j]);
                if (a.loss) std::memcpy(a.loss + i, bl, std::size_t(r) * sizeof(T));
            }
            if (GRAD) std::memcpy(a.grad + i, bg, std::size_t(r) * sizeof(T));
        }
        if (kCheck && bad && a.bad) *a.bad = 1;
        return s;
    }

    template <class Op>
    static double loss_dispatch(const EwLossArgs<T>& a, int64_t b, int64_t e, const Prm& q) {
        const bool val = a.want_value, grad = a.grad != nullptr;
        if (a.y && !a.w && !a.pw && !a.gout && !a.loss) {
            bool bad = false;
            double s;
            if (val && grad) s = plain_range<Op, true, true>(a, b, e, q, bad);
            else if (grad) s = plain_range<Op, false, true>(a, b, e, q, bad);
            else s = plain_range<Op, true, false>(a, b, e, q, bad);
            if (bad && a.bad) *a.bad = 1;
            return grad && !val ? 0.0 : s;
        }
        if (val && grad) return loss_range<Op, true, true>(a, b, e, q);
        if (grad) { loss_range<Op, false, true>(a, b, e, q); return 0.0; }
        return loss_range<Op, true, false>(a, b, e, q);
    }

    static double loss(int which, const EwLossArgs<T>& a, int64_t b, int64_t e) {
        Prm q{k(a.p0), k(a.p1), T(a.p0), T(a.p1)};
        switch (EwLoss(which)) {
            case EwLoss::mse: return loss_dispatch<Mse>(a, b, e, q);
            case EwLoss::l1: return loss_dispatch<L1>(a, b, e, q);
            case EwLoss::huber: return loss_dispatch<Huber>(a, b, e, q);
            case EwLoss::smooth_l1: return loss_dispatch<SmoothL1>(a, b, e, q);
            case EwLoss::log_cosh: return loss_dispatch<LogCosh>(a, b, e, q);
            case EwLoss::bce: return loss_dispatch<Bce>(a, b, e, q);
            case EwLoss::bce_logits: return loss_dispatch<BceLogits>(a, b, e, q);
            case EwLoss::focal: return loss_dispatch<Focal>(a, b, e, q);
            case EwLoss::hinge: return loss_dispatch<Hinge>(a, b, e, q);
            case EwLoss::squared_hinge: return loss_dispatch<SquaredHinge>(a, b, e, q);
            default: return 0.0;
        }
    }

    // Sum of x[b:e] with 4 vector accumulators drained into a double every
    // kFlush steps (see drain), lanes added in order.
    static double sum(const T* x, int64_t b, int64_t e) {
        R a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
        double s = 0.0;
        int steps = 0;
        int64_t i = b;
        for (; i + 4 * L <= e; i += 4 * L) {
            a0 = V::add(a0, V::load(x + i));
            a1 = V::add(a1, V::load(x + i + L));
            a2 = V::add(a2, V::load(x + i + 2 * L));
            a3 = V::add(a3, V::load(x + i + 3 * L));
            if (++steps == kFlush) { s += drain(a0, a1) + drain(a2, a3); steps = 0; }
        }
        for (; i + L <= e; i += L) a0 = V::add(a0, V::load(x + i));
        s += drain(a0, a1) + drain(a2, a3);
        for (; i < e; ++i) s += double(x[i]);
        return s;
    }
};

template <class T>
void act_forward_serial(int act, const T* x, T* y, int64_t n, const ActParams& p) { Ew<T>::forward(act, x, y, n, p); }
template <class T>
void act_backward_serial(int act, const T* x, const T* g, T* dx, int64_t n, const ActParams& p) {
    Ew<T>::backward(act, x, g, dx, n, p);
}
template <class T>
void act_backward_y_serial(int act, const T* y, const T* g, T* dx, int64_t n) { Ew<T>::backward_y(act, y, g, dx, n); }
template <class T>
void softmax_backward_y_serial(const T* y, const T* g, T* dx, int64_t rows, int64_t C, bool log) {
    Ew<T>::softmax_backward_y(y, g, dx, rows, C, log);
}
template <class T>
double ew_loss_serial(int which, const EwLossArgs<T>& a, int64_t b, int64_t e) { return Ew<T>::loss(which, a, b, e); }
template <class T>
double sum_serial(const T* x, int64_t b, int64_t e) { return Ew<T>::sum(x, b, e); }

extern const EltwiseTable eltwise_table;
const EltwiseTable eltwise_table = {
    &act_forward_serial<float>,  &act_forward_serial<double>,
    &act_backward_serial<float>, &act_backward_serial<double>,
    &act_backward_y_serial<float>, &act_backward_y_serial<double>,
    &softmax_backward_y_serial<float>, &softmax_backward_y_serial<double>,
    &ew_loss_serial<float>,      &ew_loss_serial<double>,
    &sum_serial<float>,          &sum_serial<double>,
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
