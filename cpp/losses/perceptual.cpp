// LPIPS feature distance and its gradient. Contract in perceptual.h.
#include "losses/perceptual.h"

#include <cmath>
#include <vector>

#include "common/parallel.h"

namespace nnmat {
namespace {

constexpr int64_t kGrain = 32768;   // feature elements per thread (a few flops each, 3 passes)

// One sample: a, b, grad point at (C, P); work holds 5 P doubles.
template <class T>
double lpips_sample(const T* a, const T* b, const T* w, int64_t C, int64_t P, double eps, double gfac,
                    T* grad, double* work) {
    double* inv_da = work;          // 1 / (||a|| + eps)
    double* inv_db = work + P;      // 1 / (||b|| + eps)
    double* coef = work + 2 * P;    // (sum_c u_c a_c) / (||a|| (||a|| + eps)^2), 0 where ||a|| = 0
    double* vpix = work + 3 * P;    // per-pixel value
    double* dot = work + 4 * P;     // sum_c w_c d_c a_c
    for (int64_t p = 0; p < P; ++p) { inv_da[p] = 0.0; inv_db[p] = 0.0; }
    // pass 1: squared norms over channels (channel-outer loops: unit stride over pixels)
    for (int64_t c = 0; c < C; ++c) {
        const T* ac = a + c * P;
        const T* bc = b + c * P;
        for (int64_t p = 0; p < P; ++p) {
            const double x = double(ac[p]), y = double(bc[p]);
            inv_da[p] += x * x;
            inv_db[p] += y * y;
        }
    }
    for (int64_t p = 0; p < P; ++p) {
        const double na = std::sqrt(inv_da[p]);
        const double nb = std::sqrt(inv_db[p]);
        inv_da[p] = 1.0 / (na + eps);
        inv_db[p] = 1.0 / (nb + eps);
        // coef = 1 / (n d^2) before the dot product is known
        coef[p] = na > 0.0 ? inv_da[p] * inv_da[p] / na : 0.0;
        vpix[p] = 0.0;
    }
    // pass 2: the value and sum_c u_c a_c (u without the 2/P factor, applied below)
    if (grad) {
        for (int64_t p = 0; p < P; ++p) dot[p] = 0.0;
        for (int64_t c = 0; c < C; ++c) {
            const T* ac = a + c * P;
            const T* bc = b + c * P;
            const double wc = double(w[c]);
            for (int64_t p = 0; p < P; ++p) {
                const double d = double(ac[p]) * inv_da[p] - double(bc[p]) * inv_db[p];
                vpix[p] += wc * d * d;
                dot[p] += wc * d * double(ac[p]);
            }
        }
        const double s = 2.0 / double(P) * gfac;
        for (int64_t p = 0; p < P; ++p) coef[p] *= dot[p];
        // pass 3: grad_k = s (w_k d_k / (n + eps) - a_k coef)
        for (int64_t c = 0; c < C; ++c) {
            const T* ac = a + c * P;
            const T* bc = b + c * P;
            T* gc = grad + c * P;
            const double wc = double(w[c]);
            for (int64_t p = 0; p < P; ++p) {
                const double x = double(ac[p]);
                const double d = x * inv_da[p] - double(bc[p]) * inv_db[p];
                gc[p] = T(s * (wc * d * inv_da[p] - x * coef[p]));
            }
        }
    } else {
        for (int64_t c = 0; c < C; ++c) {
            const T* ac = a + c * P;
            const T* bc = b + c * P;
            const double wc = double(w[c]);
            for (int64_t p = 0; p < P; ++p) {
                const double d = double(ac[p]) * inv_da[p] - double(bc[p]) * inv_db[p];
                vpix[p] += wc * d * d;
            }
        }
    }
    double v = 0.0;
    for (int64_t p = 0; p < P; ++p) v += vpix[p];
    return v / double(P);   // P = 0: 0/0 = NaN, the mean of nothing (torch)
}

}  // namespace

template <class T>
double lpips_forward_backward(const T* a, const T* b, const T* w, int64_t N, int64_t C, int64_t P,
                              double eps, T* values, const T* gout, double gscale, T* grad, int nthreads) {
    if (N <= 0) return 0.0;
    const int64_t per = C * P;
    int nt = threads_for_elements(N * per, kGrain, nthreads);
    if (nt > N) nt = int(N);
    std::vector<double> v(std::size_t(N), 0.0);
    auto run = [&](int64_t n0, int64_t n1) {
        std::vector<double> work(std::size_t(5 * P));
        for (int64_t n = n0; n < n1; ++n) {
            const double gfac = gscale * (gout ? double(gout[n]) : 1.0);
            v[std::size_t(n)] = lpips_sample<T>(a + n * per, b + n * per, w, C, P, eps, gfac,
                                                grad ? grad + n * per : nullptr, work.data());
            values[n] = T(v[std::size_t(n)]);
        }
    };
    if (nt <= 1) run(0, N);
    else run_team(nt, [&](int t) { run(N * t / nt, N * (t + 1) / nt); });
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) s += v[std::size_t(n)];
    return s;
}

template double lpips_forward_backward<float>(const float*, const float*, const float*, int64_t, int64_t,
                                              int64_t, double, float*, const float*, double, float*, int);
template double lpips_forward_backward<double>(const double*, const double*, const double*, int64_t, int64_t,
                                               int64_t, double, double*, const double*, double, double*, int);

}  // namespace nnmat
