// Dice loss kernels (Keras form and segmentation_models.pytorch form). Contract in dice.h.
#include "losses/dice.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.h"
#include "simd/vmath_table.h"

namespace nnmat {
namespace {

constexpr int64_t kGrainCheap = 65536;          // elements per thread for a few flops each
constexpr int64_t kGrainTranscendental = 8192;  // elements per thread with an exp each

// Runs fn(t, begin, end) for nt contiguous parts of [0, n) (serially when nt <= 1).
template <class F>
void split_run(int64_t n, int nt, F&& fn) {
    if (n <= 0) return;
    if (nt <= 1) { fn(int64_t(0), n); return; }
    run_team(nt, [&](int t) {
        const int64_t b = n * t / nt, e = n * (t + 1) / nt;
        if (b < e) fn(b, e);
    });
}

// ---------------------------------------------------------------------------
// (a) Keras dice

struct Sum3 {
    double i = 0, y = 0, p = 0;
};

// Sums over [b, e): chunks of kChunk values summed in T over kLanes interleaved partials (they
// vectorise), the chunk partials added in double; a fixed order for given (b, e).
template <class T>
Sum3 sums_range(const T* p, const T* y, int64_t b, int64_t e) {
    constexpr int kLanes = 16 / sizeof(T) < 4 ? 4 : 16 / sizeof(T);   // one SSE register of T
    constexpr int64_t kChunk = 128;
    double di[kLanes] = {}, dy[kLanes] = {}, dp[kLanes] = {};
    int64_t k = b;
    for (; k + kChunk <= e; k += kChunk) {
        T fi[kLanes] = {}, fy[kLanes] = {}, fp[kLanes] = {};
        for (int64_t j = 0; j < kChunk; j += kLanes)
            for (int q = 0; q < kLanes; ++q) {
                const T pv = p[k + j + q], yv = y[k + j + q];
                fi[q] += pv * yv;
                fy[q] += yv;
                fp[q] += pv;
            }
        for (int q = 0; q < kLanes; ++q) { di[q] += double(fi[q]); dy[q] += double(fy[q]); dp[q] += double(fp[q]); }
    }
    Sum3 s;
    for (int q = 0; q < kLanes; ++q) { s.i += di[q]; s.y += dy[q]; s.p += dp[q]; }
    for (; k < e; ++k) {
        const double pa = p[k], ya = y[k];
        s.i += ya * pa; s.y += ya; s.p += pa;
    }
    return s;
}

// Sums of one row over fixed blocks of kReduceBlock, combined in block order:
// the same result whatever nt is.
template <class T>
Sum3 row_sums(const T* p, const T* y, int64_t K, int nt) {
    const int64_t nb = (K + kReduceBlock - 1) / kReduceBlock;
    if (nb <= 1) return sums_range(p, y, 0, K);
    std::vector<Sum3> part(static_cast<std::size_t>(nb));
    split_run(nb, nt, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
            part[std::size_t(b)] = sums_range(p, y, b * kReduceBlock, std::min(K, (b + 1) * kReduceBlock));
    });
    Sum3 s;
    for (const Sum3& q : part) { s.i += q.i; s.y += q.y; s.p += q.p; }
    return s;
}

}  // namespace

template <class T>
double dice_rows(const T* p, const T* y, int64_t M, int64_t K, double eps, T* values, const T* gout,
                 double gfactor, T* grad, int nthreads) {
    if (M <= 0) return 0.0;
    std::vector<Sum3> rs(static_cast<std::size_t>(M));
    const int nt = threads_for_elements(M * K, kGrainCheap, nthreads);
    if (M >= 2 * int64_t(nt)) {
        split_run(M, nt, [&](int64_t r0, int64_t r1) {
            for (int64_t i = r0; i < r1; ++i) rs[std::size_t(i)] = row_sums(p + i * K, y + i * K, K, 1);
        });
    } else {
        for (int64_t i = 0; i < M; ++i) rs[std::size_t(i)] = row_sums(p + i * K, y + i * K, K, nt);
    }
    std::vector<double> a(grad ? std::size_t(M) : 0), c(grad ? std::size_t(M) : 0);
    double total = 0.0;
    for (int64_t i = 0; i < M; ++i) {
        const Sum3& s = rs[std::size_t(i)];
        const double d = s.y + s.p + eps;
        const double loss = 1.0 - 2.0 * s.i / d;
        total += loss;
        if (values) values[i] = T(loss);
        if (grad) {
            const double g = gfactor * (gout ? double(gout[i]) : 1.0);
            a[std::size_t(i)] = -2.0 * g / d;            // times y_k
            c[std::size_t(i)] = 2.0 * g * s.i / (d * d);  // constant
        }
    }
    if (grad && K > 0) {
        parallel_for(M * K, kGrainCheap, nthreads, [&](int64_t b, int64_t e) {
            int64_t i = b / K, k = b;
            while (k < e) {
                const int64_t row_end = std::min(e, (i + 1) * K);
                const T ai = T(a[std::size_t(i)]), ci = T(c[std::size_t(i)]);   // in T: vectorises
                for (; k < row_end; ++k) grad[k] = ai * y[k] + ci;
                ++i;
            }
        });
    }
    return total;
}

// ---------------------------------------------------------------------------
// (b) segmentation_models.pytorch DiceLoss

int64_t soft_dice_first_bad_label(const int64_t* labels, int64_t n, int64_t C, bool has_ignore,
                                  int64_t ignore_label) {
    // Blocks scanned without branches (an OR of the bad flags); the index only where one is set.
    constexpr int64_t kBlock = 1024;
    for (int64_t b = 0; b < n; b += kBlock) {
        const int64_t e = std::min(n, b + kBlock);
        bool any = false;
        for (int64_t i = b; i < e; ++i) {
            const int64_t l = labels[i];
            any |= (uint64_t(l) >= uint64_t(C)) & !(has_ignore & (l == ignore_label));
        }
        if (!any) continue;
        for (int64_t i = b; i < e; ++i) {
            const int64_t l = labels[i];
            if (has_ignore && l == ignore_label) continue;
            if (l < 0 || l >= C) return i;
        }
    }
    return -1;
}

namespace {

constexpr int64_t kPixelBlock = 1024;  // pixels per reduction block (fixed: determinism)
constexpr int64_t kTile = 64;          // pixels per inner tile

template <class T>
struct SoftDiceCtx {
    const T* x;
    int64_t N, C, L;
    const T* y;
    const int64_t* labels;
    const SoftDiceParams* prm;
    T* pbuf;  // probabilities (N, C, L) when from_logits, else nullptr (p = x)
    const T* P() const { return pbuf ? pbuf : x; }
};

// Array exp / sigmoid of the ISA in use (VMath, cpp/simd/vmath.h): one call per tile row.
using VmF32 = void (*)(const float*, float*, int64_t);
using VmF64 = void (*)(const double*, double*, int64_t);
inline VmF32 vmath_fn(VmathFn f, float*) { return vmath_kernels().f32[f]; }
inline VmF64 vmath_fn(VmathFn f, double*) { return vmath_kernels().f64[f]; }

// Visits the pixels [q0, q1) of the flattened (N, L) pixel space as tiles
// (n, k, w) of up to kTile pixels that stay within one sample.
template <class F>
void for_tiles(int64_t L, int64_t q0, int64_t q1, F&& fn) {
    int64_t q = q0;
    while (q < q1) {
        const int64_t n = q / L, k = q - n * L;
        const int64_t w = std::min<int64_t>({kTile, L - k, q1 - q});
        fn(n, k, w);
        q += w;
    }
}

// Activation of one tile: pbuf[n, :, k:k+w] from x.
template <class T>
void activate_tile(const SoftDiceCtx<T>& cx, int64_t n, int64_t k, int64_t w) {
    const int64_t C = cx.C, L = cx.L;
    const T* xs = cx.x + n * C * L + k;
    T* ps = cx.pbuf + n * C * L + k;
    if (cx.prm->mode == DiceMode::Multiclass) {
        T mx[kTile], s[kTile];
        // max over the channels kept in a register per pixel (a conditional store into mx[] per
        // channel compiles to a mispredicted branch)
        for (int64_t j = 0; j < w; ++j) {
            T m = xs[j];
            for (int64_t c = 1; c < C; ++c) {
                const T v = xs[c * L + j];
                m = v > m ? v : m;
            }
            mx[j] = m;
            s[j] = T(0);
        }
        const auto vexp = vmath_fn(vm_exp, static_cast<T*>(nullptr));
        for (int64_t c = 0; c < C; ++c) {
            const T* xc = xs + c * L;
            T* pc = ps + c * L;
            for (int64_t j = 0; j < w; ++j) pc[j] = xc[j] - mx[j];
            vexp(pc, pc, w);
            for (int64_t j = 0; j < w; ++j) s[j] += pc[j];
        }
        for (int64_t j = 0; j < w; ++j) s[j] = T(1) / s[j];
        for (int64_t c = 0; c < C; ++c) {
            T* pc = ps + c * L;
            for (int64_t j = 0; j < w; ++j) pc[j] *= s[j];
        }
    } else {
        const auto vsig = vmath_fn(vm_sigmoid, static_cast<T*>(nullptr));
        for (int64_t c = 0; c < C; ++c) vsig(xs + c * L, ps + c * L, w);
    }
}

// Multiclass: the tile's labels as a one-hot (C x kTile, row c at oh + c * kTile) and keep[j] =
// 0 at ignored pixels, else 1. The per-channel loops below are then plain arithmetic (no
// selects: random labels defeat the branch predictor, and GCC turns selects into branches).
// Ignored pixels are multiplied by 0, as smp does (a NaN there still propagates, as in smp).
template <class T>
void tile_onehot(const SoftDiceCtx<T>& cx, int64_t n, int64_t k, int64_t w, T* keep, T* oh) {
    const int64_t* lab = cx.labels + n * cx.L + k;
    const SoftDiceParams& prm = *cx.prm;
    std::fill(oh, oh + cx.C * kTile, T(0));
    for (int64_t j = 0; j < w; ++j) {
        const int64_t l = lab[j];
        const bool ign = prm.has_ignore && l == prm.ignore_label;
        keep[j] = ign ? T(0) : T(1);
        if (!ign) oh[l * kTile + j] = T(1);
    }
}

// Sums of a tile row (<= kTile values) in T over kLanes interleaved partials (fixed order),
// returned in double.
constexpr int kLanes = 8;
template <class T>
inline double lane_total(const T* acc) {
    T s = T(0);
    for (int q = 0; q < kLanes; ++q) s += acc[q];
    return double(s);
}

// Adds the tile's per-channel sums (I, Sp, Sy) to acc (3C doubles).
template <class T>
void accumulate_tile(const SoftDiceCtx<T>& cx, int64_t n, int64_t k, int64_t w, double* acc, T* oh) {
    const int64_t C = cx.C, L = cx.L;
    const SoftDiceParams& prm = *cx.prm;
    const T* ps = cx.P() + n * C * L + k;
    T si[kLanes], sp[kLanes], sy[kLanes];
    if (prm.mode == DiceMode::Multiclass) {
        alignas(64) T keep[kTile];
        tile_onehot(cx, n, k, w, keep, oh);
        for (int64_t c = 0; c < C; ++c) {
            const T* pc = ps + c * L;
            const T* ohc = oh + c * kTile;
            for (int q = 0; q < kLanes; ++q) si[q] = sp[q] = sy[q] = T(0);
            auto add = [&](int q, int64_t j) {
                const T pv = keep[j] * pc[j];
                sp[q] += pv;
                si[q] += ohc[j] * pv;
                sy[q] += ohc[j];
            };
            int64_t j0 = 0;
            for (; j0 + kLanes <= w; j0 += kLanes)
                for (int q = 0; q < kLanes; ++q) add(q, j0 + q);
            for (int q = 0; j0 < w; ++j0, ++q) add(q, j0);
            acc[c] += lane_total(si); acc[C + c] += lane_total(sp); acc[2 * C + c] += lane_total(sy);
        }
    } else {
        const T* ys = cx.y + n * C * L + k;
        const T ign = T(prm.ignore_value);
        const bool hi = prm.has_ignore;
        for (int64_t c = 0; c < C; ++c) {
            const T* pc = ps + c * L;
            const T* yc = ys + c * L;
            for (int q = 0; q < kLanes; ++q) si[q] = sp[q] = sy[q] = T(0);
            auto add = [&](int q, int64_t j) {
                const T yv = yc[j];
                const T kp = (hi && yv == ign) ? T(0) : T(1);   // multiplied, as smp's mask
                const T pv = kp * pc[j];
                const T yd = kp * yv;
                si[q] += pv * yd; sp[q] += pv; sy[q] += yd;
            };
            int64_t j0 = 0;
            if (hi) {
                for (; j0 + kLanes <= w; j0 += kLanes)
                    for (int q = 0; q < kLanes; ++q) add(q, j0 + q);
            } else {
                for (; j0 + kLanes <= w; j0 += kLanes)
                    for (int q = 0; q < kLanes; ++q) {
                        const T yv = yc[j0 + q], pv = pc[j0 + q];
                        si[q] += pv * yv; sp[q] += pv; sy[q] += yv;
                    }
            }
            for (int q = 0; j0 < w; ++j0, ++q) add(q, j0);
            acc[c] += lane_total(si); acc[C + c] += lane_total(sp); acc[2 * C + c] += lane_total(sy);
        }
    }
}

// Gradient of one tile: d value / d p = alpha_c y + beta_c (on kept entries),
// then through the activation.
template <class T>
void grad_tile(const SoftDiceCtx<T>& cx, int64_t n, int64_t k, int64_t w, const T* alpha, const T* beta,
               T* grad, T* oh) {
    const int64_t C = cx.C, L = cx.L;
    const SoftDiceParams& prm = *cx.prm;
    const T* ps = cx.P() + n * C * L + k;
    T* gs = grad + n * C * L + k;
    if (prm.mode == DiceMode::Multiclass) {
        alignas(64) T keep[kTile];
        tile_onehot(cx, n, k, w, keep, oh);
        // g_c = keep (beta_c + alpha_c onehot_c). With logits ps may be gs itself (the
        // probabilities live in the gradient buffer): g is recomputed, never stored before use.
        auto gval = [&](int64_t c, int64_t j, T a, T b) { return keep[j] * (b + a * oh[c * kTile + j]); };
        if (!prm.from_logits) {
            for (int64_t c = 0; c < C; ++c) {
                const T a = alpha[c], b = beta[c];
                T* gc = gs + c * L;
                for (int64_t j = 0; j < w; ++j) gc[j] = gval(c, j, a, b);
            }
            return;
        }
        // softmax Jacobian: dz_c = p_c (g_c - sum_j p_j g_j)
        alignas(64) T s[kTile];
        for (int64_t j = 0; j < w; ++j) s[j] = T(0);
        for (int64_t c = 0; c < C; ++c) {
            const T a = alpha[c], b = beta[c];
            const T* pc = ps + c * L;
            for (int64_t j = 0; j < w; ++j) s[j] += pc[j] * gval(c, j, a, b);
        }
        for (int64_t c = 0; c < C; ++c) {
            const T a = alpha[c], b = beta[c];
            const T* pc = ps + c * L;
            T* gc = gs + c * L;
            for (int64_t j = 0; j < w; ++j) {
                const T pv = pc[j];
                gc[j] = pv * (gval(c, j, a, b) - s[j]);
            }
        }
        return;
    }
    const T* ys = cx.y + n * C * L + k;
    const T ign = T(prm.ignore_value);
    const bool hi = prm.has_ignore;
    for (int64_t c = 0; c < C; ++c) {
        const T a = alpha[c], b = beta[c];
        const T* yc = ys + c * L;
        const T* pc = ps + c * L;
        T* gc = gs + c * L;
        if (prm.from_logits) {
            for (int64_t j = 0; j < w; ++j) {
                const T yv = yc[j], pv = pc[j];
                const T g = (hi && yv == ign) ? T(0) : a * yv + b;
                gc[j] = g * (pv * (T(1) - pv));
            }
        } else {
            for (int64_t j = 0; j < w; ++j) {
                const T yv = yc[j];
                gc[j] = (hi && yv == ign) ? T(0) : a * yv + b;
            }
        }
    }
}

}  // namespace

template <class T>
double soft_dice(const T* x, int64_t N, int64_t C, int64_t L, const T* y, const int64_t* labels,
                 const SoftDiceParams& prm, double gfactor, T* grad, int nthreads) {
    const int64_t npix = N * L;
    std::vector<T> scratch;
    T* pbuf = nullptr;
    if (prm.from_logits) {
        if (grad) {
            pbuf = grad;  // probabilities live in the gradient buffer until pass 2 overwrites them
        } else {
            scratch.resize(std::size_t(N * C * L));
            pbuf = scratch.data();
        }
    }
    const SoftDiceCtx<T> cx{x, N, C, L, y, labels, &prm, pbuf};

    // Pass 1: activation and per-channel sums, per fixed block of pixels.
    const int64_t nb = (npix + kPixelBlock - 1) / kPixelBlock;
    std::vector<double> part(std::size_t(nb * 3 * C), 0.0);
    const int nt = threads_for_elements(npix * C, prm.from_logits ? kGrainTranscendental : kGrainCheap, nthreads);
    split_run(nb, nt, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            double* acc = part.data() + b * 3 * C;
            std::vector<T> oh(prm.mode == DiceMode::Multiclass ? std::size_t(C * kTile) : 0);
            for_tiles(L, b * kPixelBlock, std::min(npix, (b + 1) * kPixelBlock), [&](int64_t n, int64_t k, int64_t w) {
                if (prm.from_logits) activate_tile(cx, n, k, w);
                accumulate_tile(cx, n, k, w, acc, oh.data());
            });
        }
    });
    std::vector<double> tot(std::size_t(3 * C), 0.0);
    for (int64_t b = 0; b < nb; ++b)
        for (int64_t j = 0; j < 3 * C; ++j) tot[std::size_t(j)] += part[std::size_t(b * 3 * C + j)];

    // Per-channel loss and gradient coefficients.
    std::vector<T> alpha(std::size_t(C), T(0)), beta(std::size_t(C), T(0));
    double value = 0.0;
    const double s = prm.smooth, eps = prm.eps;
    for (int64_t c = 0; c < C; ++c) {
        const double mult = prm.class_mult[c];
        if (mult == 0.0) continue;  // not selected: neither value nor gradient
        const double I = tot[std::size_t(c)], Sp = tot[std::size_t(C + c)], Sy = tot[std::size_t(2 * C + c)];
        const double d = Sp + Sy + s;
        const bool clamped = d < eps;          // NaN: not clamped (propagates)
        const double dc = clamped ? eps : d;
        const double score = (2.0 * I + s) / dc;
        double loss, dl;                       // dl = d loss / d score
        if (prm.log_loss) {
            const bool lc = score < eps;
            loss = -std::log(lc ? eps : score);
            dl = lc ? 0.0 : -1.0 / score;
        } else {
            loss = 1.0 - score;
            dl = -1.0;
        }
        const double present = Sy > 0.0 ? 1.0 : 0.0;
        value += mult * (loss * present);
        const double wgt = gfactor * mult * present / prm.n_selected * dl;
        // d score / d p_k = 2 y_k / dc - (clamped ? 0 : (2I + s) / dc^2)
        alpha[std::size_t(c)] = T(wgt * 2.0 / dc);
        beta[std::size_t(c)] = T(clamped ? 0.0 : -wgt * (2.0 * I + s) / (dc * dc));
    }
    value /= prm.n_selected;

    // Pass 2: gradient (element-wise per pixel; no reduction across pixels).
    if (grad) {
        parallel_for(npix, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(C, 1)), nthreads,
                     [&](int64_t q0, int64_t q1) {
                         std::vector<T> oh(prm.mode == DiceMode::Multiclass ? std::size_t(C * kTile) : 0);
                         for_tiles(L, q0, q1, [&](int64_t n, int64_t k, int64_t w) {
                             grad_tile(cx, n, k, w, alpha.data(), beta.data(), grad, oh.data());
                         });
                     });
    }
    return value;
}

#define NNMAT_DICE_INSTANTIATE(T)                                                                     \
    template double dice_rows<T>(const T*, const T*, int64_t, int64_t, double, T*, const T*, double,  \
                                 T*, int);                                                            \
    template double soft_dice<T>(const T*, int64_t, int64_t, int64_t, const T*, const int64_t*,       \
                                 const SoftDiceParams&, double, T*, int);
NNMAT_DICE_INSTANTIATE(float)
NNMAT_DICE_INSTANTIATE(double)
#undef NNMAT_DICE_INSTANTIATE

}  // namespace nnmat
