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
// The softmax family and index-target cross-entropy write each kernel as a
// row program (exp_begin / exp_chunk / exp_end / fin_chunk / fin_end) run by
// `pipeline`: passes one row at a time, except without pass 3 (value-only
// losses) on rows of <= 16 KB, where one loop over a row's chunks does pass 2
// of row r and pass 1 of row r+1 (measured: value-only cross-entropy on
// (4096, 1000) float32 about 15% faster). Interleaving pass 3 of row r-1 as
// well was slower (measured 0.6-0.9x), so passes 2 and 3 stay separate. Each
// row's arithmetic is the same whichever driver runs it.
// Row tails (C not a multiple of the vector width) go through the same code with
// a partial load/store and a lane mask.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

#include "losses/multiclass.h"

// Lambdas of the row loops must be inlined like the vmath main paths: a call
// per chunk reloads every constant (NNMAT_VINLINE is in simd/vmath.h).
#define NNMAT_VINLINE_LAMBDA __attribute__((always_inline))

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
    static NNMAT_VINLINE void chunks(int64_t C, F&& body) {
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

    // exp(t) for t = x - (row max): t <= 0, -inf or NaN. With AVX-512, scalef
    // scales into the subnormals and to 0 exactly, so clamping t at EXP_LO (NaN
    // kept: max returns its second operand) replaces VMath::exp's range test and
    // branch with one max, bitwise the same result. Other ISAs use VMath::exp.
    static NNMAT_VINLINE R exp_le0(R t) {
#if defined(__AVX512F__)
        R n;
        const R q = VMath<T>::expm1_reduced(V::max(V::bcast(VMathConst<T>::EXP_LO), t), n);
        return V::ldexp(V::add(q, V::bcast(T(1))), n);
#else
        return VMath<T>::exp(t);
#endif
    }

    // ------------------------------------------------------- row pipeline
    // Runs the passes of rows [0, n) (see the top of this file). P is a
    // per-kernel row program:
    //   exp_begin(r, m)       row r's maximum is m: set up its pass 2;
    //   exp_chunk(r, c, cnt, k), fin_chunk(r, c, cnt, k): passes 2 and 3 on a chunk;
    //   exp_end(r)            pass 2 of row r done: compute its pass-3 constants;
    //   fin_end(r)            pass 3 of row r done (e.g. the one-hot term).
    // FIN = false: no pass 3 (value-only losses). P keeps one set of pass-3
    // constants: fin_end(r) always comes before exp_end(r + 1).
    template <bool FIN, class P>
    static NNMAT_VINLINE void sequential(P& p, const T* x, int64_t n, int64_t C) {
        for (int64_t r = 0; r < n; ++r) {
            p.exp_begin(r, row_max(x + r * C, C));
            chunks(C, [&](int64_t c, int64_t cnt, int k) NNMAT_VINLINE_LAMBDA { p.exp_chunk(r, c, cnt, k); });
            p.exp_end(r);
            if (FIN) {
                chunks(C, [&](int64_t c, int64_t cnt, int k) NNMAT_VINLINE_LAMBDA { p.fin_chunk(r, c, cnt, k); });
                p.fin_end(r);
            }
        }
    }
    // No pass 3: one loop per row does pass 2 of row r and pass 1 of row r+1.
    template <class P>
    static NNMAT_VINLINE void interleaved(P& p, const T* x, int64_t n, int64_t C) {
        if (n <= 0) return;
        p.exp_begin(0, row_max(x, C));
        for (int64_t r = 0; r < n; ++r) {
            if (r + 1 < n) {
                const T* xn = x + (r + 1) * C;
                R mx[2] = {V::bcast(-kInf), V::bcast(-kInf)};
                chunks(C, [&](int64_t c, int64_t cnt, int k) NNMAT_VINLINE_LAMBDA {
                    mx[k] = V::max(mx[k], ld(xn + c, cnt, -kInf));
                    p.exp_chunk(r, c, cnt, k);
                });
                p.exp_end(r);
                p.exp_begin(r + 1, hmax(V::max(mx[0], mx[1])));   // as row_max
            } else {
                chunks(C, [&](int64_t c, int64_t cnt, int k) NNMAT_VINLINE_LAMBDA { p.exp_chunk(r, c, cnt, k); });
                p.exp_end(r);
            }
        }
    }
    template <bool FIN, class P>
    static NNMAT_VINLINE void pipeline(P& p, const T* x, int64_t n, int64_t C) {
        if (!FIN && C * int64_t(sizeof(T)) <= 16384) interleaved(p, x, n, C);
        else sequential<FIN>(p, x, n, C);
    }

    // ---------------------------------------------------------------- softmax
    // softmax:     pass 2 stores e = exp(x - m), pass 3 y = e * (1/s);
    // log_softmax: pass 2 stores t = x - m, pass 3 y = t - log s (the store in
    // the exp-bound pass 2 is nearly free; reading x again in pass 3 was not).
    // y may alias x: pass 2 reads x[c] before writing y[c].
    template <bool LOG>
    struct SoftmaxProg {
        const T* x;
        T* y;
        int64_t C;
        T m;              // pass 2 of row r: max, its broadcast, the sums;
        R mv, s[2], sh;   // pass 3: 1/s (softmax) or log s (log_softmax)
        NNMAT_VINLINE void exp_begin(int64_t, T mr) {
            m = mr;
            mv = V::bcast(m);
            s[0] = s[1] = V::zero();
        }
        NNMAT_VINLINE void exp_chunk(int64_t r, int64_t c, int64_t cnt, int k) {
            const R t = V::sub(ld(x + r * C + c, cnt, m), mv);   // padded lanes: exp(0), masked
            R e = exp_le0(t);
            if (cnt < L) e = V::select(valid(cnt), e, V::zero());
            st(y + r * C + c, LOG ? t : e, cnt);
            s[k] = V::add(s[k], e);
        }
        NNMAT_VINLINE void exp_end(int64_t) {
            const T sum = hsum(V::add(s[0], s[1]));
            sh = V::bcast(LOG ? std::log(sum) : T(1) / sum);
        }
        NNMAT_VINLINE void fin_chunk(int64_t r, int64_t c, int64_t cnt, int) {
            T* yr = y + r * C;
            const R v = ld(yr + c, cnt, 0);
            st(yr + c, LOG ? V::sub(v, sh) : V::mul(v, sh), cnt);
        }
        NNMAT_VINLINE void fin_end(int64_t) {}
    };

    static void softmax_rows(const T* x, T* y, int64_t n, int64_t C, bool log) {
        if (log) {
            SoftmaxProg<true> p{x, y, C, 0, {}, {}, {}};
            pipeline<true>(p, x, n, C);
        } else {
            SoftmaxProg<false> p{x, y, C, 0, {}, {}, {}};
            pipeline<true>(p, x, n, C);
        }
    }

    // softmax:     dx = p (g - <g, p>),  p = e / s
    // log_softmax: dx = g - p * sum(g)
    // Pass 2 stores e into dx and sums e and g (log) or g e (softmax).
    template <bool LOG>
    struct SoftmaxBackProg {
        const T* x;
        const T* g;
        T* dx;
        int64_t C;
        T m;
        R mv, s[2], q[2], a, iv;   // pass 3: a = (sum g or <g,e>) / s, iv = 1/s
        NNMAT_VINLINE void exp_begin(int64_t, T mr) {
            m = mr;
            mv = V::bcast(m);
            s[0] = s[1] = q[0] = q[1] = V::zero();
        }
        NNMAT_VINLINE void exp_chunk(int64_t r, int64_t c, int64_t cnt, int k) {
            R e = exp_le0(V::sub(ld(x + r * C + c, cnt, m), mv));
            if (cnt < L) e = V::select(valid(cnt), e, V::zero());
            st(dx + r * C + c, e, cnt);
            s[k] = V::add(s[k], e);
            const R gv = ld(g + r * C + c, cnt, 0);
            q[k] = LOG ? V::add(q[k], gv) : V::fma(gv, e, q[k]);
        }
        NNMAT_VINLINE void exp_end(int64_t) {
            const T inv = T(1) / hsum(V::add(s[0], s[1]));
            a = V::bcast(hsum(V::add(q[0], q[1])) * inv);
            iv = V::bcast(inv);
        }
        NNMAT_VINLINE void fin_chunk(int64_t r, int64_t c, int64_t cnt, int) {
            T* dr = dx + r * C;
            const R gv = ld(g + r * C + c, cnt, 0);
            if (LOG) st(dr + c, V::fnma(ld(dr + c, cnt, 0), a, gv), cnt);   // g - e * (sum g / s)
            else st(dr + c, V::mul(V::mul(ld(dr + c, cnt, 0), iv), V::sub(gv, a)), cnt);   // (e/s)(g - <g,e>/s)
        }
        NNMAT_VINLINE void fin_end(int64_t) {}
    };

    static void softmax_backward_rows(const T* x, const T* g, T* dx, int64_t n, int64_t C, bool log) {
        if (log) {
            SoftmaxBackProg<true> p{x, g, dx, C, 0, {}, {}, {}, {}, {}};
            pipeline<true>(p, x, n, C);
        } else {
            SoftmaxBackProg<false> p{x, g, dx, C, 0, {}, {}, {}, {}, {}};
            pipeline<true>(p, x, n, C);
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
    // Index targets; see CeRows and spec 3.2:
    //   l = (1-eps) w_y (LSE - x_y) + (eps/C) sum_c w_c (LSE - x_c)
    //   dl/dx_k = f [((1-eps) w_y + eps W/C) P_k - (eps/C) w_k - (1-eps) w_y [k = y]]
    // Pass 2 stores e into the gradient and sums e (and w (x - m) when smoothing);
    // pass 3 scales: g = A e (- B w), then the one-hot term at y (fin_end).
    // Rows are given as a run of non-ignored rows (cross_entropy_rows).
    template <bool STORE, bool SMOOTH, bool WEIGHTED>
    struct CeIndexProg {
        const CeRows<T>& a;
        int64_t C;
        T m;                   // pass 2 of row r
        R mv, s[2], d[2];
        R A, B;                // pass 3 constants
        double onehot = 0;     // f (1-eps) w_y, subtracted at y by fin_end
        NNMAT_VINLINE void exp_begin(int64_t, T mr) {
            m = mr;
            mv = V::bcast(m);
            s[0] = s[1] = d[0] = d[1] = V::zero();
        }
        NNMAT_VINLINE void exp_chunk(int64_t r, int64_t c, int64_t cnt, int k) {
            const R t = V::sub(ld(a.x + r * C + c, cnt, m), mv);   // padded lanes: 0
            R e = exp_le0(t);
            if (cnt < L) e = V::select(valid(cnt), e, V::zero());
            if (STORE) st(a.grad + r * C + c, e, cnt);
            s[k] = V::add(s[k], e);
            if (SMOOTH) d[k] = WEIGHTED ? V::fma(ld(a.weight + c, cnt, 0), t, d[k]) : V::add(d[k], t);
        }
        NNMAT_VINLINE void exp_end(int64_t r) {
            const T sum = hsum(V::add(s[0], s[1]));
            const int64_t y = a.target[r];
            const double eps = a.smoothing, wy = a.weight ? double(a.weight[y]) : 1.0, W = a.weight_sum;
            const double ls = std::log(double(sum));
            if (a.loss) {
                double l = (1.0 - eps) * wy * (ls - (double(a.x[r * C + y]) - double(m)));
                if (SMOOTH) l += eps / double(C) * (W * ls - double(hsum(V::add(d[0], d[1]))));
                a.loss[r] = l;
            }
            if (STORE) {
                const double f = a.gscale * (a.gout ? double(a.gout[r]) : 1.0);
                A = V::bcast(T(f * ((1.0 - eps) * wy + eps * W / double(C)) / double(sum)));
                if (SMOOTH) B = V::bcast(T(f * eps / double(C)));
                onehot = f * (1.0 - eps) * wy;
            }
        }
        NNMAT_VINLINE void fin_chunk(int64_t r, int64_t c, int64_t cnt, int) {
            T* g = a.grad + r * C;
            const R e = ld(g + c, cnt, 0);
            if (!SMOOTH) st(g + c, V::mul(A, e), cnt);
            else st(g + c, WEIGHTED ? V::fnma(B, ld(a.weight + c, cnt, 0), V::mul(A, e)) : V::fms(A, e, B), cnt);
        }
        NNMAT_VINLINE void fin_end(int64_t r) {
            T& gy = a.grad[r * C + a.target[r]];
            gy = T(double(gy) - onehot);
        }
    };
    template <bool STORE, bool SMOOTH, bool WEIGHTED>
    static void ce_index_run(const CeRows<T>& a, int64_t r0, int64_t n, int64_t C) {
        CeRows<T> b = a;   // rows r0.. as rows 0..
        b.x += r0 * C;
        b.target += r0;
        if (b.grad) b.grad += r0 * C;
        if (b.gout) b.gout += r0;
        if (b.loss) b.loss += r0;
        CeIndexProg<STORE, SMOOTH, WEIGHTED> p{b, C, 0, {}, {}, {}, {}, {}};
        pipeline<STORE>(p, b.x, n, C);
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
            R e = exp_le0(d);
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
        // Runs of non-ignored rows go through the pipeline; ignored rows get 0.
        const bool smooth = a.smoothing > 0;
        const int sel = (store ? 4 : 0) | (smooth ? 2 : 0) | (wt ? 1 : 0);
        for (int64_t r = 0; r < n;) {
            if (a.target[r] == a.ignore_index) {
                if (a.loss) a.loss[r] = 0;
                if (store) std::fill(a.grad + r * C, a.grad + (r + 1) * C, T(0));
                ++r;
                continue;
            }
            int64_t e = r + 1;
            while (e < n && a.target[e] != a.ignore_index) ++e;
            switch (sel) {
                case 0: ce_index_run<false, false, false>(a, r, e - r, C); break;
                case 1: ce_index_run<false, false, true>(a, r, e - r, C); break;
                case 2: ce_index_run<false, true, false>(a, r, e - r, C); break;
                case 3: ce_index_run<false, true, true>(a, r, e - r, C); break;
                case 4: ce_index_run<true, false, false>(a, r, e - r, C); break;
                case 5: ce_index_run<true, false, true>(a, r, e - r, C); break;
                case 6: ce_index_run<true, true, false>(a, r, e - r, C); break;
                default: ce_index_run<true, true, true>(a, r, e - r, C); break;
            }
            r = e;
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
