// Portable drivers of the multi-class kernels: table selection, threading over
// rows, and the (outer, C, inner) views (inner > 1 is gathered into contiguous
// rows, kBlock positions at a time, and scattered back).
#include "losses/multiclass.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "common/parallel.h"
#include "common/threading.h"
#include "dispatch/select.h"

namespace nnmat {

const MulticlassTable& multiclass_kernels() { NNMAT_SELECT_TABLE(multiclass_table); }
template <> const MulticlassFns<float>& multiclass_fns<float>() { return multiclass_kernels().f32; }
template <> const MulticlassFns<double>& multiclass_fns<double>() { return multiclass_kernels().f64; }

namespace {

constexpr int64_t kBlock = 16;   // positions per gathered block when inner > 1

// Rows per thread worth a fork: about 32K elements each.
inline int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

// fn(in_rows, out_rows, nrows, first_position, scratch) over the (outer, C, inner) view.
// Null inputs/outputs stay null. scratch holds `extra` elements of T.
template <class T, std::size_t NI, std::size_t NO, class F>
void for_rows(const std::array<const T*, NI>& in, const std::array<T*, NO>& out, int64_t outer, int64_t C,
              int64_t inner, int64_t extra, int nthreads, F&& fn) {
    if (outer <= 0 || inner <= 0) return;
    if (inner == 1) {
        parallel_for(outer, row_grain(C), nthreads, [&](int64_t r0, int64_t r1) {
            T* scratch = extra ? static_cast<T*>(thread_workspace(std::size_t(extra) * sizeof(T))) : nullptr;
            std::array<const T*, NI> ii;
            std::array<T*, NO> oo;
            for (std::size_t k = 0; k < NI; ++k) ii[k] = in[k] ? in[k] + r0 * C : nullptr;
            for (std::size_t k = 0; k < NO; ++k) oo[k] = out[k] ? out[k] + r0 * C : nullptr;
            fn(ii, oo, r1 - r0, r0, scratch);
        });
        return;
    }
    const int64_t nb = (inner + kBlock - 1) / kBlock;
    const int64_t slab = C * inner, rowbuf = kBlock * C;
    parallel_for(outer * nb, std::max<int64_t>(1, row_grain(C) / kBlock), nthreads, [&](int64_t t0, int64_t t1) {
        T* ws = static_cast<T*>(thread_workspace(std::size_t((NI + NO) * rowbuf + extra) * sizeof(T)));
        for (int64_t task = t0; task < t1; ++task) {
            const int64_t o = task / nb, j0 = (task % nb) * kBlock, b = std::min(kBlock, inner - j0);
            std::array<const T*, NI> ii;
            std::array<T*, NO> oo;
            for (std::size_t k = 0; k < NI; ++k) {
                ii[k] = nullptr;
                if (!in[k]) continue;
                const T* src = in[k] + o * slab + j0;
                T* dst = ws + int64_t(k) * rowbuf;
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t i = 0; i < b; ++i) dst[i * C + c] = src[c * inner + i];
                ii[k] = dst;
            }
            for (std::size_t k = 0; k < NO; ++k) oo[k] = out[k] ? ws + int64_t(NI + k) * rowbuf : nullptr;
            fn(ii, oo, b, o * inner + j0, ws + int64_t(NI + NO) * rowbuf);
            for (std::size_t k = 0; k < NO; ++k) {
                if (!out[k]) continue;
                const T* src = oo[k];
                T* dst = out[k] + o * slab + j0;
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t i = 0; i < b; ++i) dst[c * inner + i] = src[i * C + c];
            }
        }
    });
}

}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, bool log, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    for_rows<T, 1, 1>({x}, {y}, outer, C, inner, 0, nthreads,
                      [&](const std::array<const T*, 1>& i, const std::array<T*, 1>& o, int64_t n, int64_t, T*) {
                          k.softmax_rows(i[0], o[0], n, C, log);
                      });
}

template <class T>
void softmax_backward(const T* x, const T* g, T* dx, int64_t outer, int64_t C, int64_t inner, bool log,
                      int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    for_rows<T, 2, 1>({x, g}, {dx}, outer, C, inner, 0, nthreads,
                      [&](const std::array<const T*, 2>& i, const std::array<T*, 1>& o, int64_t n, int64_t, T*) {
                          k.softmax_backward_rows(i[0], i[1], o[0], n, C, log);
                      });
}

template <class T>
void sparsemax_forward(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    for_rows<T, 1, 1>({x}, {y}, outer, C, inner, 3 * C, nthreads,
                      [&](const std::array<const T*, 1>& i, const std::array<T*, 1>& o, int64_t n, int64_t, T* s) {
                          k.sparsemax_rows(i[0], o[0], n, C, s);
                      });
}

template <class T>
void sparsemax_backward(const T* x, const T* g, T* dx, int64_t outer, int64_t C, int64_t inner, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    for_rows<T, 2, 1>({x, g}, {dx}, outer, C, inner, 3 * C, nthreads,
                      [&](const std::array<const T*, 2>& i, const std::array<T*, 1>& o, int64_t n, int64_t, T* s) {
                          k.sparsemax_backward_rows(i[0], i[1], o[0], n, C, s);
                      });
}

template <class T>
void cross_entropy(const CeRows<T>& a, int64_t outer, int64_t C, int64_t inner, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    for_rows<T, 2, 1>({a.x, a.prob}, {a.grad}, outer, C, inner, 0, nthreads,
                      [&](const std::array<const T*, 2>& i, const std::array<T*, 1>& o, int64_t n, int64_t p0, T*) {
                          CeRows<T> b = a;
                          b.x = i[0];
                          b.prob = i[1];
                          b.grad = o[0];
                          if (a.target) b.target = a.target + p0;
                          if (a.gout) b.gout = a.gout + p0;
                          if (a.loss) b.loss = a.loss + p0;
                          k.cross_entropy_rows(b, n, C);
                      });
}

template <class T>
void nll_loss(const T* x, const int64_t* target, const T* weight, int64_t ignore_index, double* loss, T* grad,
              const T* gout, double gscale, int64_t outer, int64_t C, int64_t inner, int nthreads) {
    const int64_t P = outer * inner;
    if (grad)
        parallel_for(P * C, 1 << 16, nthreads,
                     [&](int64_t b, int64_t e) { std::memset(grad + b, 0, std::size_t(e - b) * sizeof(T)); });
    parallel_for(P, 1 << 14, nthreads, [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) {
            const int64_t y = target[p];
            if (y == ignore_index) {
                if (loss) loss[p] = 0;
                continue;
            }
            const int64_t o = p / inner, j = p % inner, at = (o * C + y) * inner + j;
            const double wy = weight ? double(weight[y]) : 1.0;
            if (loss) loss[p] = -wy * double(x[at]);
            if (grad) grad[at] = T(-wy * gscale * (gout ? double(gout[p]) : 1.0));
        }
    });
}

template <class T>
void sparsemax_loss(const T* z, const T* q, double* loss, T* grad, const T* gout, double gscale, int64_t n,
                    int64_t C, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    parallel_for(n, row_grain(C), nthreads, [&](int64_t r0, int64_t r1) {
        T* s = static_cast<T*>(thread_workspace(std::size_t(3 * C + 1) * sizeof(T)));
        k.sparsemax_loss_rows(z + r0 * C, q + r0 * C, loss ? loss + r0 : nullptr, grad ? grad + r0 * C : nullptr,
                              gout ? gout + r0 : nullptr, gscale, r1 - r0, C, s);
    });
}

template <class T>
void keras_kl(const T* yp, const T* yt, double* loss, T* grad, const T* gout, double gscale, int64_t n, int64_t C,
              int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    parallel_for(n, row_grain(C), nthreads, [&](int64_t r0, int64_t r1) {
        k.keras_kl_rows(yp + r0 * C, yt + r0 * C, loss ? loss + r0 : nullptr, grad ? grad + r0 * C : nullptr,
                        gout ? gout + r0 : nullptr, gscale, r1 - r0, C);
    });
}

template <class T>
double kl_div(const T* x, const T* t, int64_t n, bool log_target, bool want_value, T* none_out, T* grad,
              const T* gout, double gscale, int nthreads) {
    const MulticlassFns<T>& k = multiclass_fns<T>();
    return blocked_sum(n, 1 << 15, nthreads, [&](int64_t b, int64_t e) {
        return k.kl_div_block(x + b, t + b, e - b, log_target, want_value, none_out ? none_out + b : nullptr,
                              grad ? grad + b : nullptr, gout ? gout + b : nullptr, gscale);
    });
}

double fixed_order_sum(const double* v, int64_t n) {
    if (n <= 16) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += v[i];
        return s;
    }
    const int64_t h = n / 2;
    return fixed_order_sum(v, h) + fixed_order_sum(v + h, n - h);
}

#define NNMAT_MULTICLASS_INSTANTIATE(T)                                                                        \
    template void softmax_forward<T>(const T*, T*, int64_t, int64_t, int64_t, bool, int);                     \
    template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool, int);          \
    template void sparsemax_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int);                         \
    template void sparsemax_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int);              \
    template void cross_entropy<T>(const CeRows<T>&, int64_t, int64_t, int64_t, int);                         \
    template void nll_loss<T>(const T*, const int64_t*, const T*, int64_t, double*, T*, const T*, double,     \
                              int64_t, int64_t, int64_t, int);                                                \
    template void sparsemax_loss<T>(const T*, const T*, double*, T*, const T*, double, int64_t, int64_t, int); \
    template void keras_kl<T>(const T*, const T*, double*, T*, const T*, double, int64_t, int64_t, int);       \
    template double kl_div<T>(const T*, const T*, int64_t, bool, bool, T*, T*, const T*, double, int);
NNMAT_MULTICLASS_INSTANTIATE(float)
NNMAT_MULTICLASS_INSTANTIATE(double)

}  // namespace nnmat
