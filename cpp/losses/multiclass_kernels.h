// Multi-class leaf kernels (contract: losses/multiclass.h), written once
// against Vec<T> / VMath<T> and compiled per ISA inside nnmat::NNMAT_ISA_NS.
// Include after "simd/<isa>.h" and "simd/vmath.h".
//
// Every row kernel makes at most three passes over a row (which sits in L1/L2):
//   1. the row maximum m;
//   2. e = exp(x - m), stored into the output / gradient buffer while summing
//      (and, where needed, the other sums of the loss);
//   3. the output scaled in place (softmax: e/s; cross-entropy: A e - B w, then
//      the one-hot term at the target).
// Row tails (C not a multiple of the vector width) go through the same code with
// a partial load/store and a lane mask.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

#include "losses/multiclass.h"

namespace nnmat {
namespace NNMAT_ISA_NS {
namespace mc {

template <class T>
struct K {
    using V = Vec<T>;
    using R = typename V::reg;
    using M = typename V::mask;
    static constexpr int L = V::lanes;
    static constexpr T kInf = std::numeric_limits<T>::infinity();

    // cnt (< L) elements of p, the other lanes = fill.
    static inline R ld(const T* p, int64_t cnt, T fill) {
        if (cnt == L) return V::load(p);
        alignas(64) T b[L];
        for (int i = 0; i < L; ++i) b[i] = i < cnt ? p[i] : fill;
        return V::load(b);
    }
    static inline void st(T* p, R v, int64_t cnt) {
        if (cnt == L) { V::store(p, v); return; }
        alignas(64) T b[L];
        V::store(b, v);
        for (int64_t i = 0; i < cnt; ++i) p[i] = b[i];
    }
    // Lanes < cnt set (cnt < L; callers skip it for full vectors).
    static inline M valid(int64_t cnt) {
        alignas(64) T b[L];
        for (int i = 0; i < L; ++i) b[i] = T(i);
        return V::lt(V::load(b), V::bcast(T(cnt)));
    }
    static inline T hsum(R v) {
        alignas(64) T b[L];
        V::store(b, v);
        T s = 0;
        for (int i = 0; i < L; ++i) s += b[i];
        return s;
    }
    static inline T hmax(R v) {
        alignas(64) T b[L];
        V::store(b, v);
        T m = b[0];
        for (int i = 1; i < L; ++i) m = (b[i] > m || std::isnan(b[i])) ? b[i] : m;
        return m;
    }

    // body(c, cnt, k): chunk at c of cnt lanes (cnt == L except the tail), accumulator k in {0, 1}.
    template <class F>
    static inline void chunks(int64_t C, F&& body) {
        int64_t c = 0;
        for (; c + 2 * L <= C; c += 2 * L) {
            body(c, int64_t(L), 0);
            body(c + L, int64_t(L), 1);
        }
        for (; c + L <= C; c += L) body(c, int64_t(L), 0);
        if (c < C) body(c, C - c, 1);
    }

    static inline T row_max(const T* x, int64_t C) {
        R m[2] = {V::bcast(-kInf), V::bcast(-kInf)};
        chunks(C, [&](int64_t c, int64_t cnt, int k) { m[k] = V::max(m[k], ld(x + c, cnt, -kInf)); });
        // NaN lanes are not tracked: a NaN in the row reaches every output through exp.
        return hmax(V::max(m[0], m[1]));
    }

    // Pass 2 of softmax: e = exp(x - m) into y (when STORE), returns the sum of e.
    template <bool STORE>
    static inline T exp_sum(const T* x, T* y, int64_t C, T m) {
        const R mv = V::bcast(m);
        R s[2] = {V::zero(), V::zero()};
        chunks(C, [&](int64_t c, int64_t cnt, int k) {
            R e = VMath<T>::exp(V::sub(ld(x + c, cnt, m), mv));
            if (cnt < L) e = V::select(valid(cnt), e, V::zero());
            if (STORE) st(y + c, e, cnt);
            s[k] = V::add(s[k], e);
        });
        return hsum(V::add(s[0], s[1]));
    }

    // ---------------------------------------------------------------- softmax
    static void softmax_rows(const T* x, T* y, int64_t n, int64_t C, bool log) {
        for (int64_t r = 0; r < n; ++r) {
            const T* xr = x + r * C;
            T* yr = y + r * C;
            const T m = row_max(xr, C);
            if (!log) {
                const T s = exp_sum<true>(xr, yr, C, m);
                const R inv = V::bcast(T(1) / s);
                chunks(C, [&](int64_t c, int64_t cnt, int) { st(yr + c, V::mul(ld(yr + c, cnt, 0), inv), cnt); });
            } else {
                const T s = exp_sum<false>(xr, nullptr, C, m);
                const R sh = V::bcast(m + std::log(s));   // LSE
                chunks(C, [&](int64_t c, int64_t cnt, int) { st(yr + c, V::sub(ld(xr + c, cnt, 0), sh), cnt); });
            }
        }
    }

    // softmax:     dx = p (g - <g, p>),  p = e / s
    // log_softmax: dx = g - p * sum(g)
    static void softmax_backward_rows(const T* x, const T* g, T* dx, int64_t n, int64_t C, bool log) {
        for (int64_t r = 0; r < n; ++r) {
            const T* xr = x + r * C;
            const T* gr = g + r * C;
            T* dr = dx + r * C;
            const T m = row_max(xr, C);
            const R mv = V::bcast(m);
            R s[2] = {V::zero(), V::zero()}, q[2] = {V::zero(), V::zero()};
            chunks(C, [&](int64_t c, int64_t cnt, int k) {
                R e = VMath<T>::exp(V::sub(ld(xr + c, cnt, m), mv));
                if (cnt < L) e = V::select(valid(cnt), e, V::zero());
                st(dr + c, e, cnt);
                s[k] = V::add(s[k], e);
                const R gv = ld(gr + c, cnt, 0);
                q[k] = log ? V::add(q[k], gv) : V::fma(gv, e, q[k]);
            });
            const T sum = hsum(V::add(s[0], s[1]));
            const T gq = hsum(V::add(q[0], q[1]));
            const T inv = T(1) / sum;
            if (log) {
                const R a = V::bcast(gq * inv);   // dx = g - e * (sum g / s)
                chunks(C, [&](int64_t c, int64_t cnt, int) {
                    st(dr + c, V::fnma(ld(dr + c, cnt, 0), a, ld(gr + c, cnt, 0)), cnt);
                });
            } else {
                const R iv = V::bcast(inv), dot = V::bcast(gq * inv);   // dx = (e/s) (g - <g,e>/s)
                chunks(C, [&](int64_t c, int64_t cnt, int) {
                    st(dr + c, V::mul(V::mul(ld(dr + c, cnt, 0), iv), V::sub(ld(gr + c, cnt, 0), dot)), cnt);
                });
            }
        }
    }

    // -------------------------------------------------------------- sparsemax
    // tau of a row (tfa's algorithm: sort, cumulative sums, k(z) = #{1 + k z_(k) > c_k});
    // false when the row is NaN (NaN or +inf entries, k(z) = 0 or a NaN cumulative sum).
    static bool sparsemax_tau(const T* z, int64_t C, T* scratch, T& tau) {
        for (int64_t c = 0; c < C; ++c)
            if (std::isnan(z[c]) || z[c] == kInf) return false;
        T* srt = scratch;
        T* cum = scratch + C;
        std::copy(z, z + C, srt);
        std::sort(srt, srt + C, std::greater<T>());
        T cs = 0;
        int64_t k = 0;
        for (int64_t i = 0; i < C; ++i) {
            cs += srt[i];
            cum[i] = cs;
            if (T(1) + T(i + 1) * srt[i] > cs) ++k;
        }
        if (k == 0 || std::isnan(cum[k - 1])) return false;
        tau = (cum[k - 1] - T(1)) / T(k);
        return true;
    }
    static void sparsemax_row(const T* z, T* p, int64_t C, T* scratch) {
        T tau;
        if (!sparsemax_tau(z, C, scratch, tau)) {
            std::fill(p, p + C, std::numeric_limits<T>::quiet_NaN());
            return;
        }
        for (int64_t c = 0; c < C; ++c) {
            const T v = z[c] - tau;
            p[c] = v > T(0) ? v : T(0);
        }
    }
    static void sparsemax_rows(const T* x, T* y, int64_t n, int64_t C, T* scratch) {
        for (int64_t r = 0; r < n; ++r) sparsemax_row(x + r * C, y + r * C, C, scratch);
    }
    // dx = s (g - mean_S g), S = {p > 0}; NaN rows stay NaN.
    static void sparsemax_backward_rows(const T* x, const T* g, T* dx, int64_t n, int64_t C, T* scratch) {
        for (int64_t r = 0; r < n; ++r) {
            const T* gr = g + r * C;
            T* dr = dx + r * C;
            sparsemax_row(x + r * C, dr, C, scratch);
            if (C > 0 && std::isnan(dr[0])) continue;
            double sg = 0;
            int64_t ns = 0;
            for (int64_t c = 0; c < C; ++c)
                if (dr[c] > T(0)) { sg += double(gr[c]); ++ns; }
            const T mean = ns ? T(sg / double(ns)) : T(0);
            for (int64_t c = 0; c < C; ++c) dr[c] = dr[c] > T(0) ? T(gr[c] - mean) : T(0);
        }
    }
    // L = sum_{p>0 or NaN} p (z - p/2) + sum_j q_j (q_j/2 - z_j) (0 where q_j = 0 and z_j = +-inf).
    static void sparsemax_loss_rows(const T* z, const T* q, double* loss, T* grad, const T* gout, double gscale,
                                    int64_t n, int64_t C, T* scratch) {
        T* p = scratch + 2 * C;
        for (int64_t r = 0; r < n; ++r) {
            const T* zr = z + r * C;
            const T* qr = q + r * C;
            sparsemax_row(zr, p, C, scratch);
            if (loss) {
                double l = 0;
                for (int64_t c = 0; c < C; ++c) {
                    const double pc = p[c], zc = zr[c], qc = qr[c];
                    if (pc > 0 || std::isnan(pc)) l += pc * (zc - 0.5 * pc);
                    if (!(qc == 0 && std::isinf(zc))) l += qc * (0.5 * qc - zc);
                }
                loss[r] = l;
            }
            if (grad) {
                const T f = T(gscale * (gout ? double(gout[r]) : 1.0));
                T* gr = grad + r * C;
                for (int64_t c = 0; c < C; ++c) gr[c] = f * (p[c] - qr[c]);
            }
        }
    }

    // ---------------------------------------------------------- cross-entropy
    // Index targets, one row; see CeRows and spec 3.2:
    //   l = (1-eps) w_y (LSE - x_y) + (eps/C) sum_c w_c (LSE - x_c)
    //   dl/dx_k = f [((1-eps) w_y + eps W/C) P_k - (eps/C) w_k - (1-eps) w_y [k = y]]
    template <bool STORE, bool SMOOTH, bool WEIGHTED>
    static void ce_index_row(const CeRows<T>& a, int64_t r, int64_t C) {
        const T* x = a.x + r * C;
        T* g = STORE ? a.grad + r * C : nullptr;
        const int64_t y = a.target[r];
        const T* w = a.weight;
        const T m = row_max(x, C);
        const R mv = V::bcast(m);
        R s[2] = {V::zero(), V::zero()}, d[2] = {V::zero(), V::zero()};
        chunks(C, [&](int64_t c, int64_t cnt, int k) {
            const R t = V::sub(ld(x + c, cnt, m), mv);   // padded lanes: 0
            R e = VMath<T>::exp(t);
            if (cnt < L) e = V::select(valid(cnt), e, V::zero());
            if (STORE) st(g + c, e, cnt);
            s[k] = V::add(s[k], e);
            if (SMOOTH) d[k] = WEIGHTED ? V::fma(ld(w + c, cnt, 0), t, d[k]) : V::add(d[k], t);
        });
        const T sum = hsum(V::add(s[0], s[1]));
        const double eps = a.smoothing, wy = w ? double(w[y]) : 1.0, W = a.weight_sum;
        const double ls = std::log(double(sum));
        if (a.loss) {
            double l = (1.0 - eps) * wy * (ls - (double(x[y]) - double(m)));
            if (SMOOTH) l += eps / double(C) * (W * ls - double(hsum(V::add(d[0], d[1]))));
            a.loss[r] = l;
        }
        if (STORE) {
            const double f = a.gscale * (a.gout ? double(a.gout[r]) : 1.0);
            const R A = V::bcast(T(f * ((1.0 - eps) * wy + eps * W / double(C)) / double(sum)));
            if (SMOOTH) {
                const R B = V::bcast(T(f * eps / double(C)));
                chunks(C, [&](int64_t c, int64_t cnt, int) {
                    const R e = ld(g + c, cnt, 0);
                    st(g + c, WEIGHTED ? V::fnma(B, ld(w + c, cnt, 0), V::mul(A, e)) : V::fms(A, e, B), cnt);
                });
            } else {
                chunks(C, [&](int64_t c, int64_t cnt, int) { st(g + c, V::mul(A, ld(g + c, cnt, 0)), cnt); });
            }
            g[y] = T(double(g[y]) - f * (1.0 - eps) * wy);
        }
    }

    // Probability targets, one row; spec 3.1 with t' = t (1-eps) + eps/C:
    //   l = sum_c w_c t'_c (LSE - x_c);  dl/dx_k = f [(sum_c w_c t'_c) P_k - w_k t'_k]
    template <bool STORE, bool WEIGHTED>
    static void ce_prob_row(const CeRows<T>& a, int64_t r, int64_t C) {
        const T* x = a.x + r * C;
        const T* t = a.prob + r * C;
        T* g = STORE ? a.grad + r * C : nullptr;
        const T* w = a.weight;
        const double eps = a.smoothing;
        const R keep = V::bcast(T(1.0 - eps)), add = V::bcast(T(eps / double(C)));
        const T m = row_max(x, C);
        const R mv = V::bcast(m);
        R s[2] = {V::zero(), V::zero()}, swt[2] = {V::zero(), V::zero()}, swtd[2] = {V::zero(), V::zero()};
        chunks(C, [&](int64_t c, int64_t cnt, int k) {
            const R d = V::sub(ld(x + c, cnt, m), mv);
            R e = VMath<T>::exp(d);
            R tp = V::fma(ld(t + c, cnt, 0), keep, add);
            if (cnt < L) {
                const M ok = valid(cnt);
                e = V::select(ok, e, V::zero());
                tp = V::select(ok, tp, V::zero());
            }
            if (WEIGHTED) tp = V::mul(tp, ld(w + c, cnt, 0));
            if (STORE) st(g + c, e, cnt);
            s[k] = V::add(s[k], e);
            swt[k] = V::add(swt[k], tp);
            swtd[k] = V::fma(tp, d, swtd[k]);
        });
        const double sum = hsum(V::add(s[0], s[1]));
        const double sw = hsum(V::add(swt[0], swt[1]));
        if (a.loss) a.loss[r] = sw * std::log(sum) - double(hsum(V::add(swtd[0], swtd[1])));
        if (STORE) {
            const double f = a.gscale * (a.gout ? double(a.gout[r]) : 1.0);
            const R A = V::bcast(T(f * sw / sum)), F = V::bcast(T(f));
            chunks(C, [&](int64_t c, int64_t cnt, int) {
                R tp = V::fma(ld(t + c, cnt, 0), keep, add);
                if (WEIGHTED) tp = V::mul(tp, ld(w + c, cnt, 0));
                st(g + c, V::fnma(F, tp, V::mul(A, ld(g + c, cnt, 0))), cnt);
            });
        }
    }

    static void cross_entropy_rows(const CeRows<T>& a, int64_t n, int64_t C) {
        const bool store = a.grad != nullptr, wt = a.weight != nullptr;
        if (a.prob) {
            for (int64_t r = 0; r < n; ++r) {
                if (store) wt ? ce_prob_row<true, true>(a, r, C) : ce_prob_row<true, false>(a, r, C);
                else wt ? ce_prob_row<false, true>(a, r, C) : ce_prob_row<false, false>(a, r, C);
            }
            return;
        }
        const bool smooth = a.smoothing > 0;
        for (int64_t r = 0; r < n; ++r) {
            if (a.target[r] == a.ignore_index) {
                if (a.loss) a.loss[r] = 0;
                if (store) std::fill(a.grad + r * C, a.grad + (r + 1) * C, T(0));
                continue;
            }
            const int sel = (store ? 4 : 0) | (smooth ? 2 : 0) | (wt ? 1 : 0);
            switch (sel) {
                case 0: ce_index_row<false, false, false>(a, r, C); break;
                case 1: ce_index_row<false, false, true>(a, r, C); break;
                case 2: ce_index_row<false, true, false>(a, r, C); break;
                case 3: ce_index_row<false, true, true>(a, r, C); break;
                case 4: ce_index_row<true, false, false>(a, r, C); break;
                case 5: ce_index_row<true, false, true>(a, r, C); break;
                case 6: ce_index_row<true, true, false>(a, r, C); break;
                default: ce_index_row<true, true, true>(a, r, C); break;
            }
        }
    }

    // ------------------------------------------------------------------- KL
    // torch kl_div element-wise: xlogy(p, p) - p x (log_target: e^t (t - x)); grad -p f.
    static double kl_div_block(const T* x, const T* t, int64_t n, bool log_target, bool want_value, T* none_out,
                               T* grad, const T* gout, double gscale) {
        const R gs = V::bcast(T(gscale));
        R acc[2] = {V::zero(), V::zero()};
        chunks(n, [&](int64_t c, int64_t cnt, int k) {
            const R tv = ld(t + c, cnt, 0);
            const R p = log_target ? VMath<T>::exp(tv) : tv;
            if (want_value) {
                const R xv = ld(x + c, cnt, 0);
                R v;
                if (log_target) {
                    v = V::mul(p, V::sub(tv, xv));
                } else {
                    const R plp = V::select(V::eq(p, V::zero()), V::zero(), V::mul(p, VMath<T>::log(p)));
                    v = V::fnma(p, xv, plp);
                }
                if (cnt < L) v = V::select(valid(cnt), v, V::zero());
                acc[k] = V::add(acc[k], v);
                if (none_out) st(none_out + c, v, cnt);
            }
            if (grad) {
                const R f = gout ? V::mul(gs, ld(gout + c, cnt, 0)) : gs;
                st(grad + c, V::neg(V::mul(p, f)), cnt);
            }
        });
        return want_value ? double(hsum(V::add(acc[0], acc[1]))) : 0.0;
    }

    // Keras kl_divergence rows: yt, yp clipped to [1e-7, 1]; l = sum yt log(yt/yp);
    // grad = -yt/yp * f where 1e-7 <= yp <= 1 (NaN passes), else 0.
    static void keras_kl_rows(const T* yp, const T* yt, double* loss, T* grad, const T* gout, double gscale,
                              int64_t n, int64_t C) {
        const R lo = V::bcast(T(1e-7)), hi = V::bcast(T(1));
        for (int64_t r = 0; r < n; ++r) {
            const T* pr = yp + r * C;
            const T* tr = yt + r * C;
            R acc[2] = {V::zero(), V::zero()};
            const R f = V::bcast(T(gscale * (gout ? double(gout[r]) : 1.0)));
            chunks(C, [&](int64_t c, int64_t cnt, int k) {
                const R p = ld(pr + c, cnt, 1), t = ld(tr + c, cnt, 1);   // padded lanes: log(1/1) = 0
                const R pc = V::min(hi, V::max(lo, p)), tc = V::min(hi, V::max(lo, t));
                if (loss) acc[k] = V::fma(tc, VMath<T>::log(V::div(tc, pc)), acc[k]);
                if (grad) {
                    const M out = V::mor(V::lt(p, lo), V::gt(p, hi));
                    st(grad + r * C + c, V::select(out, V::zero(), V::neg(V::mul(V::div(tc, pc), f))), cnt);
                }
            });
            if (loss) loss[r] = double(hsum(V::add(acc[0], acc[1])));
        }
    }
};

}  // namespace mc
}  // namespace NNMAT_ISA_NS
}  // namespace nnmat

// Constant initialiser of a MulticlassFns<T> (function addresses only, so the
// per-ISA table is static data: no ISA-specific code runs to build it).
#define NNMAT_MULTICLASS_FNS(T)                                                                     \
    {                                                                                               \
        &mc::K<T>::softmax_rows, &mc::K<T>::softmax_backward_rows, &mc::K<T>::sparsemax_rows,       \
            &mc::K<T>::sparsemax_backward_rows, &mc::K<T>::cross_entropy_rows,                      \
            &mc::K<T>::sparsemax_loss_rows, &mc::K<T>::kl_div_block, &mc::K<T>::keras_kl_rows       \
    }
