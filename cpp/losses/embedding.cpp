// Embedding losses: triplet margin, pairwise and batch contrastive, center loss (+ update),
// angular loss. Formulas and reference behaviour: spec/losses.md section 7 and embedding.h.
#include "losses/embedding.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "dispatch/cpu.h"
#include "gemm/gemm.h"
#include "simd/vmath_table.h"

namespace nnmat {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;
constexpr double kNormalizeEps = 1e-12;     // torch.nn.functional.normalize's default
constexpr int64_t kWorkPerThread = 1 << 17; // multiply-adds a thread should get at least

// Rows per thread so that each thread gets about kWorkPerThread operations.
inline int64_t row_grain(int64_t work_per_row) {
    return std::max<int64_t>(1, kWorkPerThread / std::max<int64_t>(1, work_per_row));
}

// Sum of v in index order (the fixed-order reduction of the per-row values).
inline double ordered_sum(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x;
    return s;
}

inline double sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : v); }   // NaN stays NaN
inline double relu_keep_nan(double z) { return z <= 0 ? 0.0 : z; }            // relu(NaN) = NaN

// pytorch-metric-learning's contrastive pair terms for one anchor row: positive
// relu(d - pos_margin), negative relu(neg_margin - d), with the number of
// non-zero terms of each kind (AvgNonZeroReducer).
struct PairRow {
    double ps = 0.0, ns = 0.0;
    int64_t pc = 0, nc = 0;
    void add(double dij, bool same_label, double pos_margin, double neg_margin) {
        if (same_label) {
            const double l = relu_keep_nan(dij - pos_margin);
            ps += l;
            pc += l > 0;
        } else {
            const double l = relu_keep_nan(neg_margin - dij);
            ns += l;
            nc += l > 0;
        }
    }
};

// Every row's PairRow, reduced in row order (independent of the thread count).
struct PairRows {
    std::vector<double> psum, nsum;
    std::vector<int64_t> pcnt, ncnt;
    explicit PairRows(int64_t b)
        : psum(std::size_t(b), 0.0), nsum(std::size_t(b), 0.0), pcnt(std::size_t(b), 0), ncnt(std::size_t(b), 0) {}
    void store(int64_t i, const PairRow& r) {
        psum[std::size_t(i)] = r.ps;
        nsum[std::size_t(i)] = r.ns;
        pcnt[std::size_t(i)] = r.pc;
        ncnt[std::size_t(i)] = r.nc;
    }
    // Loss = mean of the non-zero positive terms + mean of the non-zero negative ones
    // (0 when there are none; NaN stays NaN). wp, wn: d loss / d term of each kind.
    double reduce(double& wp, double& wn) const {
        int64_t pc = 0, nc = 0;
        for (std::size_t i = 0; i < pcnt.size(); ++i) { pc += pcnt[i]; nc += ncnt[i]; }
        const double ps = ordered_sum(psum), ns = ordered_sum(nsum);
        wp = pc > 0 ? 1.0 / double(pc) : 0.0;
        wn = nc > 0 ? -1.0 / double(nc) : 0.0;
        return (pc > 0 ? ps / double(pc) : ps * 0.0) + (nc > 0 ? ns / double(nc) : ns * 0.0);
    }
};

// sum_k f(k)^2 over 8 interleaved double partials (a fixed order; the loop vectorises, where a
// single running sum is bound by the latency of the additions).
template <class F>
inline double sum_sq8(int64_t d, F&& f) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= d; k += 8)
        for (int q = 0; q < 8; ++q) {
            const double x = f(k + q);
            acc[q] += x * x;
        }
    for (int q = 0; k < d; ++k, ++q) {
        const double x = f(k);
        acc[q] += x * x;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// ---- triplet ---------------------------------------------------------------------------------

enum class PNorm { general, one, two, inf };

// ||u - v + eps||_p with the difference formed in T as torch does; cnt: ties of the max (inf).
template <class T>
inline double pdist(const T* u, const T* v, int64_t d, T eps, PNorm pk, double p, double* cnt) {
    double s = 0.0;
    *cnt = 0.0;
    switch (pk) {
        case PNorm::two:
            return std::sqrt(sum_sq8(d, [&](int64_t k) { return double(T(u[k] - v[k]) + eps); }));
        case PNorm::one:
            for (int64_t k = 0; k < d; ++k) s += std::fabs(double(T(u[k] - v[k]) + eps));
            return s;
        case PNorm::inf: {
            bool nan = false;
            for (int64_t k = 0; k < d; ++k) {
                const double x = std::fabs(double(T(u[k] - v[k]) + eps));
                nan |= std::isnan(x);
                if (x > s) { s = x; *cnt = 1.0; }
                else if (x == s) *cnt += 1.0;
            }
            return nan ? kNaN : s;
        }
        case PNorm::general:
            for (int64_t k = 0; k < d; ++k) s += std::pow(std::fabs(double(T(u[k] - v[k]) + eps)), p);
            return std::pow(s, 1.0 / p);
    }
    return kNaN;
}

// d||delta||_p / d delta_k.
inline double pnorm_coef(double x, double dist, PNorm pk, double p, double cnt) {
    switch (pk) {
        case PNorm::two: return dist > 0 ? x / dist : (std::isnan(dist) ? kNaN : 0.0);
        case PNorm::one: return sign(x);
        case PNorm::inf: return (dist > 0 && std::fabs(x) == dist) ? sign(x) / cnt : (std::isnan(dist) ? kNaN : 0.0);
        case PNorm::general:
            if (std::isnan(dist) || std::isnan(x)) return kNaN;
            if (!(dist > 0) || x == 0) return 0.0;
            return sign(x) * std::pow(std::fabs(x) / dist, p - 1.0);
    }
    return kNaN;
}

// ---- normalisation (torch.nn.functional.normalize, p = 2, eps = 1e-12) -----------------------

// u = x / max(||x||, 1e-12) for each row (or u = x when !normalize); den[i] = the divisor.
// The divisor of row x (d values) under pytorch-metric-learning's L2 normalisation:
// max(|x|, eps) (NaN kept), or 1 without normalisation.
template <class T>
double row_normaliser(const T* x, int64_t d, bool normalize) {
    if (!normalize) return 1.0;
    double s = 0.0;
    for (int64_t k = 0; k < d; ++k) s += double(x[k]) * double(x[k]);
    const double n = std::sqrt(s);
    return n >= kNormalizeEps ? n : (std::isnan(n) ? n : kNormalizeEps);
}

template <class T>
void normalize_rows(int64_t b, int64_t d, const T* x, bool normalize, std::vector<double>& u,
                    std::vector<double>& den, int max_threads) {
    u.assign(std::size_t(b * d), 0.0);
    den.assign(std::size_t(b), 1.0);
    parallel_for(b, row_grain(d * 4), max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* xi = x + i * d;
            double* ui = u.data() + i * d;
            const double n = row_normaliser(xi, d, normalize);
            den[std::size_t(i)] = n;
            for (int64_t k = 0; k < d; ++k) ui[k] = double(xi[k]) / n;
        }
    });
}

// dx = d(normalize)^T du for one row (in place on du).
inline void normalize_backward(double* du, const double* u, double den, int64_t d, bool normalize) {
    if (!normalize) return;
    if (den > kNormalizeEps) {   // den == 1e-12 exactly: the clamp is active (x tiny)
        double dot = 0.0;
        for (int64_t k = 0; k < d; ++k) dot += u[k] * du[k];
        for (int64_t k = 0; k < d; ++k) du[k] = (du[k] - u[k] * dot) / den;
    } else {
        for (int64_t k = 0; k < d; ++k) du[k] /= den;
    }
}

}  // namespace

// ================================================================================================

template <class T>
double triplet_margin_loss(TripletArgs<T>& A, int max_threads) {
    const int64_t n = A.n, d = A.d;
    PNorm pk = PNorm::general;
    if (std::isinf(A.pnorm)) pk = PNorm::inf;
    else if (A.pnorm == 1.0) pk = PNorm::one;
    else if (A.pnorm == 2.0) pk = PNorm::two;
    const double p = A.pnorm;
    const T eps = T(A.eps);
    const bool want_grad = A.ga != nullptr;
    std::vector<double> rows(std::size_t(n), 0.0);
    const int64_t grain = row_grain(d * (A.swap ? 3 : 2) * (want_grad ? 2 : 1) * (pk == PNorm::general ? 8 : 1));
    parallel_for(n, grain, max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* a = A.a + i * d;
            const T* q = A.p + i * d;
            const T* m = A.ng + i * d;
            double c_ap, c_an, c_pn = 0.0;
            const double dap = pdist(a, q, d, eps, pk, p, &c_ap);
            const double dan = pdist(a, m, d, eps, pk, p, &c_an);
            double dneg = dan, wa = 1.0, wp = 0.0;   // d_an's and d_pn's share of the minimum
            double dpn = 0.0;
            if (A.swap) {
                dpn = pdist(q, m, d, eps, pk, p, &c_pn);
                if (std::isnan(dan) || std::isnan(dpn)) { dneg = kNaN; }
                else if (dpn < dan) { dneg = dpn; wa = 0.0; wp = 1.0; }
                else if (dpn == dan) { wa = 0.5; wp = 0.5; }
            }
            const double z = A.margin + dap - dneg;
            const double l = z < 0 ? 0.0 : z;   // clamp_min(z, 0); NaN stays NaN
            rows[std::size_t(i)] = l;
            if (A.loss) A.loss[i] = T(l);
            if (!want_grad) continue;
            const double g = A.gout ? double(A.gout[i]) : A.gscale;
            const double f = z >= 0 ? g : (std::isnan(z) ? kNaN : 0.0);
            T* ga = A.ga + i * d;
            T* gp = A.gp + i * d;
            T* gn = A.gn + i * d;
            if (f == 0.0) {
                std::fill(ga, ga + d, T(0));
                std::fill(gp, gp + d, T(0));
                std::fill(gn, gn + d, T(0));
                continue;
            }
            for (int64_t k = 0; k < d; ++k) {
                const double uap = pnorm_coef(double(T(a[k] - q[k]) + eps), dap, pk, p, c_ap);
                const double uan = wa != 0.0 ? wa * pnorm_coef(double(T(a[k] - m[k]) + eps), dan, pk, p, c_an) : 0.0;
                const double upn = wp != 0.0 ? wp * pnorm_coef(double(T(q[k] - m[k]) + eps), dpn, pk, p, c_pn) : 0.0;
                ga[k] = T(f * (uap - uan));
                gp[k] = T(f * (-uap - upn));
                gn[k] = T(f * (uan + upn));
            }
        }
    });
    return ordered_sum(rows);
}

// ================================================================================================

template <class T>
double contrastive_loss(PairContrastiveArgs<T>& A, int max_threads) {
    const int64_t n = A.n, d = A.d;
    std::vector<double> rows(std::size_t(n), 0.0);
    const bool want_grad = A.g1 != nullptr;
    parallel_for(n, row_grain(d * (want_grad ? 2 : 1)), max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* u = A.x1 + i * d;
            const T* v = A.x2 + i * d;
            const double s = sum_sq8(d, [&](int64_t k) { return double(u[k]) - double(v[k]); });
            const double D = std::sqrt(s);
            const double t = double(A.target[i]);
            const double h = relu_keep_nan(A.margin - D);
            const double l = t * 0.5 * s + (1.0 - t) * 0.5 * h * h;
            rows[std::size_t(i)] = l;
            if (A.loss) A.loss[i] = T(l);
            if (!want_grad) continue;
            const double g = A.gout ? double(A.gout[i]) : A.gscale;
            const double dldD = t * D - (1.0 - t) * h;
            const double c = D > 0 ? g * dldD / D : (std::isnan(D) || std::isnan(dldD) ? kNaN : 0.0);
            T* g1 = A.g1 + i * d;
            T* g2 = A.g2 + i * d;
            for (int64_t k = 0; k < d; ++k) {
                const double x = c * (double(u[k]) - double(v[k]));
                g1[k] = T(x);
                g2[k] = T(-x);
            }
        }
    });
    return ordered_sum(rows);
}

// ================================================================================================

namespace {

// ---- pairwise distances through the Gram matrix (batch contrastive, b >= kPairGemmMinRows) -----

// Batches of at least this many rows use the GEMM path; smaller ones the direct double loops.
constexpr int64_t kPairGemmMinRows = 64;

inline void gemm_run(const GemmProblem<float>& p, int nt) { kernels().gemm_f32(p, nt); }
inline void gemm_run(const GemmProblem<double>& p, int nt) { kernels().gemm_f64(p, nt); }

// C (m x n, row stride ldc) = A (m x k, rows of a) * B^T (B: n x k, rows of b), alpha = 1.
template <class T>
void gemm_abt(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, int max_threads) {
    GemmProblem<T> P;
    P.m = m; P.n = n; P.k = k;
    P.a = a; P.rsa = k; P.csa = 1;
    P.b = b; P.rsb = 1; P.csb = k;
    P.c = c; P.rsc = n; P.csc = 1;
    gemm_run(P, max_threads);
}

// C (m x n) = A (m x k, rows of a) * B (k x n, rows of b).
template <class T>
void gemm_ab(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, int max_threads) {
    GemmProblem<T> P;
    P.m = m; P.n = n; P.k = k;
    P.a = a; P.rsa = k; P.csa = 1;
    P.b = b; P.rsb = n; P.csb = 1;
    P.c = c; P.rsc = n; P.csc = 1;
    gemm_run(P, max_threads);
}

// Copies the strict upper triangle of the b x b matrix g onto the lower one (g[j][i] = g[i][j],
// i < j), so that every pair (i, j) is evaluated from the same bits in both orders.
template <class T>
void symmetrize_upper(int64_t b, T* g, int max_threads) {
    constexpr int64_t kTile = 32;
    const int64_t nt = (b + kTile - 1) / kTile;
    parallel_for(nt, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, b * kTile)), max_threads,
                 [&](int64_t t0, int64_t t1) {
        for (int64_t ti = t0; ti < t1; ++ti) {           // row tile of the lower triangle
            const int64_t i0 = ti * kTile, i1 = std::min(b, i0 + kTile);
            for (int64_t j0 = 0; j0 <= i0; j0 += kTile) {
                const int64_t j1 = std::min(b, j0 + kTile);
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = j0; j < std::min(j1, i); ++j) g[i * b + j] = g[j * b + i];
            }
        }
    });
}

// ||u - v||^2 in double (the fallback for pairs too close for the Gram form).
template <class T>
inline double sqdist_direct(const T* u, const T* v, int64_t d) {
    double s = 0.0;
    for (int64_t k = 0; k < d; ++k) {
        const double e = double(u[k]) - double(v[k]);
        s += e * e;
    }
    return s;
}

// Below tau (|u_i|^2 + |u_j|^2) the Gram form |u_i|^2 + |u_j|^2 - 2 u_i.u_j cancels too much
// (float: rounding ~1e-7 of the norms): such pairs are recomputed directly.
template <class T>
constexpr double close_tau() { return sizeof(T) == 4 ? 0.05 : 0.01; }

template <class T>
double batch_contrastive_gemm(int64_t b, int64_t d, const T* x, const int64_t* labels, double pos_margin,
                              double neg_margin, bool normalize, T* grad, double gscale, int max_threads) {
    // u (in T, the GEMM's type), the normaliser and |u|^2 (of the rounded u) per row.
    std::vector<T> U(std::size_t(b * d));
    std::vector<double> den(std::size_t(b), 1.0), sq(std::size_t(b), 0.0);
    parallel_for(b, row_grain(d * 4), max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* xi = x + i * d;
            T* ui = U.data() + i * d;
            const double n = row_normaliser(xi, d, normalize);
            den[std::size_t(i)] = n;
            double q = 0.0;
            for (int64_t k = 0; k < d; ++k) {
                ui[k] = T(double(xi[k]) / n);
                q += double(ui[k]) * double(ui[k]);
            }
            sq[std::size_t(i)] = q;
        }
    });
    std::vector<T> G(std::size_t(b * b));
    gemm_abt(b, b, d, U.data(), U.data(), G.data(), max_threads);
    symmetrize_upper(b, G.data(), max_threads);
    const double tau = close_tau<T>();
    // Squared distance of (i, j), i != j, from row i of the (symmetric) Gram matrix.
    auto sqdist = [&](int64_t i, int64_t j, double gij, bool* close) {
        const double n2 = sq[std::size_t(i)] + sq[std::size_t(j)];
        const double s = n2 - 2.0 * gij;
        *close = s < tau * n2;   // NaN: false
        return *close ? sqdist_direct(U.data() + i * d, U.data() + j * d, d) : s;
    };
    PairRows rows(b);
    const int64_t grain = row_grain(b * 8);
    parallel_for(b, grain, max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* Gi = G.data() + i * b;
            PairRow row;
            for (int64_t j = 0; j < b; ++j) {
                if (j == i) continue;
                bool close;
                row.add(std::sqrt(sqdist(i, j, double(Gi[j]), &close)), labels[j] == labels[i], pos_margin,
                        neg_margin);
            }
            rows.store(i, row);
        }
    });
    double wp, wn;
    const double value = rows.reduce(wp, wn);
    if (!grad) return value;
    // dL/du_i = sum_j c_ij (u_i - u_j), c_ij = 2 w_ij / d_ij = r_i u_i - (C U)_i with r_i = sum_j c_ij.
    // Row i of G becomes row i of C (each row reads only itself from here on); close pairs are
    // added directly into acc (double) and left out of C.
    std::vector<double> r(std::size_t(b), 0.0), acc(std::size_t(b * d), 0.0);
    parallel_for(b, grain, max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            T* Ci = G.data() + i * b;
            const int64_t li = labels[i];
            const T* ui = U.data() + i * d;
            double* ai = acc.data() + i * d;
            double ri = 0.0;
            for (int64_t j = 0; j < b; ++j) {
                if (j == i) { Ci[j] = T(0); continue; }
                bool close;
                const double dij = std::sqrt(sqdist(i, j, double(Ci[j]), &close));
                double w;
                if (labels[j] == li) w = dij - pos_margin > 0 ? wp : (std::isnan(dij) ? kNaN : 0.0);
                else w = neg_margin - dij > 0 ? wn : (std::isnan(dij) ? kNaN : 0.0);
                const double c = w == 0.0 ? 0.0 : (dij > 0 ? 2.0 * w / dij : (std::isnan(dij) ? kNaN : 0.0));
                if (close) {
                    Ci[j] = T(0);
                    if (c != 0.0) {
                        const T* uj = U.data() + j * d;
                        for (int64_t k = 0; k < d; ++k) ai[k] += c * (double(ui[k]) - double(uj[k]));
                    }
                } else {
                    Ci[j] = T(c);
                    ri += double(Ci[j]);
                }
            }
            r[std::size_t(i)] = ri;
        }
    });
    gemm_ab(b, d, b, G.data(), U.data(), grad, max_threads);   // grad <- C U
    parallel_for(b, row_grain(d * 8), max_threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> du(static_cast<std::size_t>(d)), u(static_cast<std::size_t>(d));
        for (int64_t i = r0; i < r1; ++i) {
            const T* ui = U.data() + i * d;
            const double* ai = acc.data() + i * d;
            T* gi = grad + i * d;
            const double ri = r[std::size_t(i)];
            for (int64_t k = 0; k < d; ++k) {
                u[std::size_t(k)] = double(ui[k]);
                du[std::size_t(k)] = ri * double(ui[k]) - double(gi[k]) + ai[k];
            }
            normalize_backward(du.data(), u.data(), den[std::size_t(i)], d, normalize);
            for (int64_t k = 0; k < d; ++k) gi[k] = T(gscale * du[std::size_t(k)]);
        }
    });
    return value;
}

}  // namespace

template <class T>
double batch_contrastive_loss(int64_t b, int64_t d, const T* x, const int64_t* labels, double pos_margin,
                              double neg_margin, bool normalize, T* grad, double gscale, int max_threads) {
    if (b >= kPairGemmMinRows && d > 0)
        return batch_contrastive_gemm(b, d, x, labels, pos_margin, neg_margin, normalize, grad, gscale,
                                      max_threads);
    if (grad) std::fill(grad, grad + b * d, T(0));
    if (b < 2) return 0.0;
    std::vector<double> u, den;
    normalize_rows(b, d, x, normalize, u, den, max_threads);
    // Pass 1: every ordered pair; per-row sums and counts of the non-zero terms; distances kept.
    std::vector<double> dist(grad ? std::size_t(b * b) : 0);
    PairRows rows(b);
    const int64_t grain = row_grain(b * d);
    parallel_for(b, grain, max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const double* ui = u.data() + i * d;
            PairRow row;
            for (int64_t j = 0; j < b; ++j) {
                if (j == i) continue;
                const double* uj = u.data() + j * d;
                double s = 0.0;
                for (int64_t k = 0; k < d; ++k) {
                    const double e = ui[k] - uj[k];
                    s += e * e;
                }
                const double dij = std::sqrt(s);
                if (grad) dist[std::size_t(i * b + j)] = dij;
                row.add(dij, labels[i] == labels[j], pos_margin, neg_margin);
            }
            rows.store(i, row);
        }
    });
    double wp, wn;
    const double value = rows.reduce(wp, wn);
    if (!grad) return value;
    // Pass 2: dL/du_i = sum_j 2 w_ij (u_i - u_j) / d_ij (both orders of a pair carry w_ij).
    parallel_for(b, grain, max_threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> du(static_cast<std::size_t>(d));
        for (int64_t i = r0; i < r1; ++i) {
            std::fill(du.begin(), du.end(), 0.0);
            const double* ui = u.data() + i * d;
            for (int64_t j = 0; j < b; ++j) {
                if (j == i) continue;
                const double dij = dist[std::size_t(i * b + j)];
                double w;
                if (labels[i] == labels[j]) w = dij - pos_margin > 0 ? wp : (std::isnan(dij) ? kNaN : 0.0);
                else w = neg_margin - dij > 0 ? wn : (std::isnan(dij) ? kNaN : 0.0);
                if (w == 0.0) continue;
                const double c = dij > 0 ? 2.0 * w / dij : (std::isnan(dij) ? kNaN : 0.0);
                if (c == 0.0) continue;
                const double* uj = u.data() + j * d;
                for (int64_t k = 0; k < d; ++k) du[std::size_t(k)] += c * (ui[k] - uj[k]);
            }
            normalize_backward(du.data(), ui, den[std::size_t(i)], d, normalize);
            T* gi = grad + i * d;
            for (int64_t k = 0; k < d; ++k) gi[k] = T(gscale * du[std::size_t(k)]);
        }
    });
    return value;
}

// ================================================================================================

template <class T>
double center_loss(CenterArgs<T>& A, int max_threads) {
    const int64_t m = A.m, k = A.k;
    std::vector<double> rows(std::size_t(m), 0.0);
    parallel_for(m, row_grain(k * 2), max_threads, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            const T* xi = A.x + i * k;
            const T* ci = A.centers + A.labels[i] * k;
            const double s = sum_sq8(k, [&](int64_t j) { return double(xi[j]) - double(ci[j]); });
            const double l = 0.5 * s;
            rows[std::size_t(i)] = l;
            if (A.loss) A.loss[i] = T(l);
            if (A.grad) {
                const double g = A.gout ? double(A.gout[i]) : A.gscale;
                T* gi = A.grad + i * k;
                for (int64_t j = 0; j < k; ++j) gi[j] = T(g * (double(xi[j]) - double(ci[j])));
            }
        }
    });
    return ordered_sum(rows);
}

template <class T>
void center_update(int64_t m, int64_t k, int64_t c, const T* x, const int64_t* labels, const T* centers,
                   double alpha, T* out) {
    std::vector<double> acc(std::size_t(c * k), 0.0);
    std::vector<int64_t> cnt(std::size_t(c), 0);
    for (int64_t i = 0; i < m; ++i) {   // sample order: fixed
        const int64_t y = labels[i];
        ++cnt[std::size_t(y)];
        for (int64_t j = 0; j < k; ++j)
            acc[std::size_t(y * k + j)] += double(centers[y * k + j]) - double(x[i * k + j]);
    }
    for (int64_t y = 0; y < c; ++y) {
        const int64_t nj = cnt[std::size_t(y)];
        for (int64_t j = 0; j < k; ++j) {
            const double cj = double(centers[y * k + j]);
            out[y * k + j] = nj > 0 ? T(cj - alpha * (acc[std::size_t(y * k + j)] / double(1 + nj)))
                                    : centers[y * k + j];
        }
    }
}

// ================================================================================================

template <class T>
double angular_loss(int64_t b, int64_t d, const T* x, const int64_t* labels, double alpha_deg,
                    bool normalize_negatives, T* grad, double gscale, int max_threads) {
    if (grad) std::fill(grad, grad + b * d, T(0));
    // Ordered positive pairs and the existence of a negative pair (else PML returns 0).
    int64_t npairs = 0;
    bool any_neg = false;
    {
        std::vector<int64_t> sorted(labels, labels + b);
        std::sort(sorted.begin(), sorted.end());
        for (int64_t i = 0; i < b;) {
            int64_t j = i;
            while (j < b && sorted[std::size_t(j)] == sorted[std::size_t(i)]) ++j;
            npairs += (j - i) * (j - i - 1);
            any_neg |= (i > 0);
            i = j;
        }
    }
    if (npairs == 0 || !any_neg) return 0.0;
    const double ta = std::tan(alpha_deg * kPi / 180.0);
    const double t = ta * ta;
    const double inv_p = 1.0 / double(npairs);

    std::vector<double> u, den;
    normalize_rows(b, d, x, true, u, den, max_threads);
    std::vector<double> raw;
    const double* r = u.data();   // the negatives' vectors
    if (!normalize_negatives) {
        raw.resize(std::size_t(b * d));
        for (int64_t i = 0; i < b * d; ++i) raw[std::size_t(i)] = double(x[i]);
        r = raw.data();
    }
    // G[a][n] = u_a . r_n
    std::vector<double> G(std::size_t(b * b));
    const int64_t grain = row_grain(b * d);
    gemm_abt(b, b, d, u.data(), r, G.data(), max_threads);
    // Per anchor: its same-label rows (their slots of f are set to -inf: exp gives exactly 0).
    std::vector<int64_t> order(std::size_t(b), 0), start(std::size_t(b), 0), group(std::size_t(b), 0);
    {
        for (int64_t i = 0; i < b; ++i) order[std::size_t(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return labels[i] < labels[j]; });
        for (int64_t q = 0; q < b;) {
            int64_t e = q;
            while (e < b && labels[order[std::size_t(e)]] == labels[order[std::size_t(q)]]) ++e;
            for (int64_t z = q; z < e; ++z) { start[std::size_t(order[std::size_t(z)])] = q; group[std::size_t(order[std::size_t(z)])] = e - q; }
            q = e;
        }
    }
    const auto vexp = vmath_kernels().f64[vm_exp];
    constexpr double kNegInf = -std::numeric_limits<double>::infinity();
    // Per anchor a: all its positives p. W[a][n] (n a negative of a) = sum_p softmax weight / P;
    // W[a][p] (p a positive of a) = total softmax weight of the negatives of (a, p) / P.
    // f^{ap} is computed symmetrically in (a, p), so the pair (p, a) carries the same weights.
    std::vector<double> W(grad ? std::size_t(b * b) : 0, 0.0);
    std::vector<double> rows(std::size_t(b), 0.0);
    parallel_for(b, row_grain(b * std::max<int64_t>(d, 8)), max_threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> f(static_cast<std::size_t>(b));
        for (int64_t a = r0; a < r1; ++a) {
            double la = 0.0;
            const double* Ga = G.data() + a * b;
            for (int64_t p = 0; p < b; ++p) {
                if (p == a || labels[p] != labels[a]) continue;
                const double* u1 = u.data() + std::min(a, p) * d;
                const double* u2 = u.data() + std::max(a, p) * d;
                double sap = 0.0;
                for (int64_t k = 0; k < d; ++k) sap += u1[k] * u2[k];
                const double base = 2.0 * (1.0 + t) * sap;
                const double* Gp = G.data() + p * b;
                const double c4 = 4.0 * t;
                for (int64_t n = 0; n < b; ++n) f[std::size_t(n)] = c4 * (Ga[n] + Gp[n]) - base;
                const int64_t* same = order.data() + start[std::size_t(a)];
                const int64_t ns = group[std::size_t(a)];
                for (int64_t z = 0; z < ns; ++z) f[std::size_t(same[z])] = kNegInf;
                // max (the appended 0 of logsumexp included) and NaN over 4 partials
                double m4[4] = {0.0, 0.0, 0.0, 0.0};
                bool nan = false;
                {
                    int64_t n = 0;
                    for (; n + 4 <= b; n += 4)
                        for (int q = 0; q < 4; ++q) {
                            const double v = f[std::size_t(n + q)];
                            nan |= v != v;
                            m4[q] = v > m4[q] ? v : m4[q];
                        }
                    for (; n < b; ++n) {
                        const double v = f[std::size_t(n)];
                        nan |= v != v;
                        m4[0] = v > m4[0] ? v : m4[0];
                    }
                }
                const double mx = std::max(std::max(m4[0], m4[1]), std::max(m4[2], m4[3]));
                for (int64_t n = 0; n < b; ++n) f[std::size_t(n)] -= mx;
                // same-label slots: 0 before the exp (an infinite argument takes VMath's slow
                // path for the whole vector), exactly 0 after it
                for (int64_t z = 0; z < ns; ++z) f[std::size_t(same[z])] = 0.0;
                vexp(f.data(), f.data(), b);
                for (int64_t z = 0; z < ns; ++z) f[std::size_t(same[z])] = 0.0;
                double t4[4] = {0.0, 0.0, 0.0, 0.0};
                {
                    int64_t n = 0;
                    for (; n + 4 <= b; n += 4)
                        for (int q = 0; q < 4; ++q) t4[q] += f[std::size_t(n + q)];
                    for (; n < b; ++n) t4[0] += f[std::size_t(n)];
                }
                const double e0 = std::exp(-mx);
                const double tot = e0 + ((t4[0] + t4[1]) + (t4[2] + t4[3]));
                la += nan ? kNaN : mx + std::log(tot);
                if (grad) {
                    double* Wa = W.data() + a * b;
                    const double s = inv_p / tot;
                    for (int64_t n = 0; n < b; ++n) Wa[n] += f[std::size_t(n)] * s;   // + 0 on same-label slots
                    Wa[p] = (tot - e0) * s;
                }
            }
            rows[std::size_t(a)] = la;
        }
    });
    const double value = ordered_sum(rows) * inv_p;
    if (!grad) return value;

    // Transpose W into G (no longer needed): Wt[n][i] = W[i][n].
    for (int64_t i = 0; i < b; ++i)
        for (int64_t n = 0; n < b; ++n) G[std::size_t(n * b + i)] = W[std::size_t(i * b + n)];
    const double* Wt = G.data();
    parallel_for(b, grain, max_threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> du(static_cast<std::size_t>(d)), dr(static_cast<std::size_t>(d));
        for (int64_t i = r0; i < r1; ++i) {
            std::fill(du.begin(), du.end(), 0.0);
            std::fill(dr.begin(), dr.end(), 0.0);
            const double* Wi = W.data() + i * b;
            const double* Wti = Wt + i * b;
            for (int64_t j = 0; j < b; ++j) {
                if (j == i) continue;
                if (labels[j] != labels[i]) {
                    // i as anchor or positive, j its negative: 2 * 4t W[i][j] r_j;
                    // i as a negative of the pairs anchored at j: 8t W[j][i] u_j.
                    const double c1 = 8.0 * t * Wi[j], c2 = 8.0 * t * Wti[j];
                    const double* rj = r + j * d;
                    const double* uj = u.data() + j * d;
                    if (c1 != 0.0)
                        for (int64_t k = 0; k < d; ++k) du[std::size_t(k)] += c1 * rj[k];
                    if (c2 != 0.0)
                        for (int64_t k = 0; k < d; ++k) dr[std::size_t(k)] += c2 * uj[k];
                } else {
                    // i and j a positive pair (both orders): -2 * 2(1+t) W[i][j] u_j.
                    const double c = -4.0 * (1.0 + t) * Wi[j];
                    const double* uj = u.data() + j * d;
                    if (c != 0.0)
                        for (int64_t k = 0; k < d; ++k) du[std::size_t(k)] += c * uj[k];
                }
            }
            if (normalize_negatives)
                for (int64_t k = 0; k < d; ++k) du[std::size_t(k)] += dr[std::size_t(k)];
            normalize_backward(du.data(), u.data() + i * d, den[std::size_t(i)], d, true);
            T* gi = grad + i * d;
            for (int64_t k = 0; k < d; ++k) {
                const double v = normalize_negatives ? du[std::size_t(k)] : du[std::size_t(k)] + dr[std::size_t(k)];
                gi[k] = T(gscale * v);
            }
        }
    });
    return value;
}

// ================================================================================================

#define NNMAT_EMBEDDING_INSTANTIATE(T)                                                                   \
    template double triplet_margin_loss<T>(TripletArgs<T>&, int);                                        \
    template double contrastive_loss<T>(PairContrastiveArgs<T>&, int);                                   \
    template double batch_contrastive_loss<T>(int64_t, int64_t, const T*, const int64_t*, double, double, \
                                              bool, T*, double, int);                                    \
    template double center_loss<T>(CenterArgs<T>&, int);                                                 \
    template void center_update<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, const T*, double, \
                                   T*);                                                                  \
    template double angular_loss<T>(int64_t, int64_t, const T*, const int64_t*, double, bool, T*, double, \
                                    int);

NNMAT_EMBEDDING_INSTANTIATE(float)
NNMAT_EMBEDDING_INSTANTIATE(double)

}  // namespace nnmat
