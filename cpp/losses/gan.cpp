// The WGAN-GP gradient penalty (value and gradient in one pass). Contract in gan.h.
#include "losses/gan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.h"

namespace nnmat {
namespace {

constexpr int64_t kGrainCheap = 65536;   // elements per thread worth a fork (a few flops each)

template <class T>
double sum_squares(const T* g, int64_t b, int64_t e) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = b;
    for (; i + 4 <= e; i += 4) {
        const double x0 = g[i], x1 = g[i + 1], x2 = g[i + 2], x3 = g[i + 3];
        a0 += x0 * x0; a1 += x1 * x1; a2 += x2 * x2; a3 += x3 * x3;
    }
    for (; i < e; ++i) { const double x = g[i]; a0 += x * x; }
    return (a0 + a1) + (a2 + a3);
}

}  // namespace

template <class T>
double gradient_penalty_forward_backward(const T* g, int64_t B, int64_t D, double target, double eps,
                                         bool one_sided, bool want_value, T* per_sample, const T* gout,
                                         double gfactor, T* grad, int nthreads) {
    if (B <= 0) return 0.0;
    // Per-sample sums of squares; each is a blocked_sum, so its value does not
    // depend on which thread computes it or how many help.
    std::vector<double> ss(std::size_t(B), 0.0);
    if (B >= 2 * int64_t(std::max(nthreads, 1)) || D < kReduceBlock) {
        const int64_t grain_rows = std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(D, 1));
        const int nt = threads_for_elements(B, grain_rows, nthreads);
        auto rows = [&](int64_t r0, int64_t r1) {
            for (int64_t i = r0; i < r1; ++i) {
                const T* gi = g + i * D;
                ss[std::size_t(i)] = blocked_sum(D, kGrainCheap, 1, [&](int64_t b, int64_t e) { return sum_squares(gi, b, e); });
            }
        };
        if (nt <= 1) rows(0, B);
        else run_team(nt, [&](int t) { rows(B * t / nt, B * (t + 1) / nt); });
    } else {
        for (int64_t i = 0; i < B; ++i) {
            const T* gi = g + i * D;
            ss[std::size_t(i)] = blocked_sum(D, kGrainCheap, nthreads, [&](int64_t b, int64_t e) { return sum_squares(gi, b, e); });
        }
    }
    // Per-sample penalty and gradient coefficient.
    std::vector<double> coef(grad ? std::size_t(B) : 0);
    double total = 0.0;
    for (int64_t i = 0; i < B; ++i) {
        const double nrm = std::sqrt(ss[std::size_t(i)] + eps);
        double u = nrm / target - 1.0;
        if (one_sided) u = u < 0.0 ? 0.0 : u;  // NaN passes
        const double pen = u * u;
        total += pen;
        if (per_sample) per_sample[i] = T(pen);
        if (grad) coef[std::size_t(i)] = gfactor * (gout ? double(gout[i]) : 1.0) * 2.0 * u / (target * nrm);
    }
    if (grad) {
        parallel_for(B * D, kGrainCheap, nthreads, [&](int64_t b, int64_t e) {
            int64_t i = b / std::max<int64_t>(D, 1);
            int64_t k = b;
            while (k < e) {
                const int64_t row_end = std::min(e, (i + 1) * D);
                const T c = T(coef[std::size_t(i)]);
                for (; k < row_end; ++k) grad[k] = c * g[k];
                ++i;
            }
        });
    }
    (void)want_value;
    return total;
}

#define NNMAT_GAN_INSTANTIATE(T)                                                                          \
    template double gradient_penalty_forward_backward<T>(const T*, int64_t, int64_t, double, double, bool, \
                                                         bool, T*, const T*, double, T*, int);
NNMAT_GAN_INSTANTIATE(float)
NNMAT_GAN_INSTANTIATE(double)
#undef NNMAT_GAN_INSTANTIATE

}  // namespace nnmat
