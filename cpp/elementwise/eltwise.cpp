// Portable drivers of the element-wise kernels: table selection and threads.
#include "elementwise/eltwise.h"

#include <algorithm>

#include "common/parallel.h"
#include "dispatch/select.h"

namespace nnmat {

const EltwiseTable& eltwise_kernels() { NNMAT_SELECT_TABLE(eltwise_table) }

namespace {

inline auto fwd_fn(const EltwiseTable& t, float*) { return t.act_forward_f32; }
inline auto fwd_fn(const EltwiseTable& t, double*) { return t.act_forward_f64; }
inline auto bwd_fn(const EltwiseTable& t, float*) { return t.act_backward_f32; }
inline auto bwd_fn(const EltwiseTable& t, double*) { return t.act_backward_f64; }
inline auto bwd_y_fn(const EltwiseTable& t, float*) { return t.act_backward_y_f32; }
inline auto bwd_y_fn(const EltwiseTable& t, double*) { return t.act_backward_y_f64; }
inline auto smb_y_fn(const EltwiseTable& t, float*) { return t.softmax_backward_y_f32; }
inline auto smb_y_fn(const EltwiseTable& t, double*) { return t.softmax_backward_y_f64; }
inline auto loss_fn(const EltwiseTable& t, float*) { return t.ew_loss_f32; }
inline auto loss_fn(const EltwiseTable& t, double*) { return t.ew_loss_f64; }
inline auto sum_fn(const EltwiseTable& t, float*) { return t.sum_f32; }
inline auto sum_fn(const EltwiseTable& t, double*) { return t.sum_f64; }

// Elements per thread below which a second thread does not pay for its
// fork-join (a few microseconds): cheap piecewise-linear maps are memory bound,
// transcendental ones cost a few nanoseconds per element.
int64_t act_grain(Act act) {
    switch (act) {
        case Act::identity: case Act::relu: case Act::leaky_relu: case Act::hardtanh:
        case Act::hardsigmoid: case Act::hardswish:
            return 1 << 16;
        default:
            return 1 << 13;
    }
}
constexpr int64_t kLossGrain = 1 << 14;
constexpr int64_t kSumGrain = 1 << 16;

}  // namespace

template <class T>
void act_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p, int nthreads) {
    const auto f = fwd_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    parallel_for(n, act_grain(act), nthreads, [&](int64_t b, int64_t e) { f(int(act), x + b, y + b, e - b, p); });
}

template <class T>
void act_backward(Act act, const T* x, const T* g, T* dx, int64_t n, const ActParams& p, int nthreads) {
    const auto f = bwd_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    parallel_for(n, act_grain(act), nthreads,
                 [&](int64_t b, int64_t e) { f(int(act), x + b, g + b, dx + b, e - b, p); });
}

template <class T>
void act_backward_y(Act act, const T* y, const T* g, T* dx, int64_t n, int nthreads) {
    const auto f = bwd_y_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    parallel_for(n, int64_t(1) << 16, nthreads, [&](int64_t b, int64_t e) { f(int(act), y + b, g + b, dx + b, e - b); });
}

template <class T>
void softmax_backward_y(const T* y, const T* g, T* dx, int64_t rows, int64_t C, bool log, int nthreads) {
    const auto f = smb_y_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    // whole rows per thread (each row's sum has a fixed order): grain in rows
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(C, 1));
    parallel_for(rows, grain, nthreads, [&](int64_t b, int64_t e) {
        f(y + b * C, g + b * C, dx + b * C, e - b, C, log);
    });
}

template <class T>
double ew_loss(EwLoss loss, const EwLossArgs<T>& a, int nthreads) {
    const auto f = loss_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    if (!a.want_value) {
        parallel_for(a.n, kLossGrain, nthreads, [&](int64_t b, int64_t e) { f(int(loss), a, b, e); });
        return 0.0;
    }
    return blocked_sum(a.n, kLossGrain, nthreads, [&](int64_t b, int64_t e) { return f(int(loss), a, b, e); });
}

template <class T>
double sum(const T* x, int64_t n, int nthreads) {
    const auto f = sum_fn(eltwise_kernels(), static_cast<T*>(nullptr));
    return blocked_sum(n, kSumGrain, nthreads, [&](int64_t b, int64_t e) { return f(x, b, e); });
}

template <class T>
void act_epilogue(T* c, int64_t rows, int64_t cols, int64_t ld, const void* ctx) {
    const auto* ep = static_cast<const ActEpilogue<T>*>(ctx);
    for (int64_t r = 0; r < rows; ++r) ep->forward(ep->act, c + r * ld, c + r * ld, cols, ep->params);
}

template <class T>
ActEpilogue<T> make_act_epilogue(Act act, const ActParams& p) {
    return ActEpilogue<T>{fwd_fn(eltwise_kernels(), static_cast<T*>(nullptr)), int(act), p};
}

#define NNMAT_INSTANTIATE(T)                                                                   \
    template void act_forward<T>(Act, const T*, T*, int64_t, const ActParams&, int);          \
    template void act_backward<T>(Act, const T*, const T*, T*, int64_t, const ActParams&, int); \
    template void act_backward_y<T>(Act, const T*, const T*, T*, int64_t, int);               \
    template void softmax_backward_y<T>(const T*, const T*, T*, int64_t, int64_t, bool, int); \
    template double ew_loss<T>(EwLoss, const EwLossArgs<T>&, int);                             \
    template double sum<T>(const T*, int64_t, int);                                            \
    template void act_epilogue<T>(T*, int64_t, int64_t, int64_t, const void*);                 \
    template ActEpilogue<T> make_act_epilogue<T>(Act, const ActParams&);
NNMAT_INSTANTIATE(float)
NNMAT_INSTANTIATE(double)
#undef NNMAT_INSTANTIATE

}  // namespace nnmat
