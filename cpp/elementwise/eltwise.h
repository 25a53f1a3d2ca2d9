// Element-wise kernels: activations (forward and backward) and the element-wise
// losses (value, gradient, or both in one pass). Written once in
// eltwise_kernels.h against Vec<T>/VMath<T>, compiled per ISA; the portable
// drivers below split the work across threads.
//
// Activations      x: (n,) -> y: (n,)              y may alias x (in place, the GEMM epilogue)
//   backward       x: (n,), g: (n,) -> dx: (n,)    dx = g * f'(x); dx may alias g
// Element-wise loss x, y: (n,) [, w: (n,) weight] [, pw: (n,) pos_weight]
//                  -> sum_i l_i (double), optional per-element l: (n,), optional grad: (n,)
//   grad_i = gscale * [gout_i] * w_i * dl_i/dx_i
// All arrays are contiguous. Sums are over fixed blocks (common/parallel.h):
// bitwise identical for any thread count.
#pragma once
#include <cstdint>

namespace nnmat {

// Order and numbering are shared with src/nnmat/activations/_elementwise.py.
enum class Act : int {
    identity = 0, sigmoid, tanh, relu, leaky_relu, elu, selu, gelu, gelu_tanh, silu,
    softplus, mish, hardtanh, hardsigmoid, hardswish, count
};
// leaky_relu: p0 = negative_slope; elu: p0 = alpha; softplus: p0 = beta, p1 = threshold;
// hardtanh: p0 = min_val, p1 = max_val.
struct ActParams { double p0 = 0.0, p1 = 0.0; };

// Order and numbering are shared with src/nnmat/losses/_elementwise.py.
enum class EwLoss : int {
    mse = 0, l1, huber, smooth_l1, log_cosh, bce, bce_logits, focal, hinge, squared_hinge, count
};

template <class T>
struct EwLossArgs {
    int64_t n = 0;
    const T* x = nullptr;      // prediction (logits for bce_logits / focal)
    const T* y = nullptr;      // target; null: every target is y_const
    double y_const = 0.0;
    const T* w = nullptr;      // element weight, optional
    const T* pw = nullptr;     // bce_logits pos_weight broadcast to (n,), optional
    const T* gout = nullptr;   // upstream gradient per element, optional
    T* loss = nullptr;         // per-element loss out, optional
    T* grad = nullptr;         // gradient out, optional
    double gscale = 1.0;       // gradient multiplier (1/N for 'mean')
    double p0 = 0.0, p1 = 0.0; // huber delta | smooth_l1 beta | focal alpha, gamma
    bool want_value = true;    // compute the sum (and `loss` when non-null)
    int* bad = nullptr;        // set to 1 when an input is outside the loss's domain (bce: p outside [0,1])
};

struct EltwiseTable {
    // Serial kernels over [0, n); the drivers below add threads.
    void (*act_forward_f32)(int act, const float* x, float* y, int64_t n, const ActParams& p);
    void (*act_forward_f64)(int act, const double* x, double* y, int64_t n, const ActParams& p);
    void (*act_backward_f32)(int act, const float* x, const float* g, float* dx, int64_t n, const ActParams& p);
    void (*act_backward_f64)(int act, const double* x, const double* g, double* dx, int64_t n, const ActParams& p);
    // Backward from the forward output y instead of x (sigmoid, tanh: f' is a
    // function of y, as in torch's autograd): dx = g * f'(y).
    void (*act_backward_y_f32)(int act, const float* y, const float* g, float* dx, int64_t n);
    void (*act_backward_y_f64)(int act, const double* y, const double* g, double* dx, int64_t n);
    // Softmax family VJP from the forward output y, rows of C contiguous elements:
    // softmax: dx = y (g - <g, y>); log_softmax (y = log-probabilities): dx = g - e^y sum(g).
    void (*softmax_backward_y_f32)(const float* y, const float* g, float* dx, int64_t rows, int64_t C, bool log);
    void (*softmax_backward_y_f64)(const double* y, const double* g, double* dx, int64_t rows, int64_t C, bool log);
    // Loss over elements [begin, end) of args; returns the sum of the (weighted) loss.
    double (*ew_loss_f32)(int loss, const EwLossArgs<float>& a, int64_t begin, int64_t end);
    double (*ew_loss_f64)(int loss, const EwLossArgs<double>& a, int64_t begin, int64_t end);
    double (*sum_f32)(const float* x, int64_t begin, int64_t end);
    double (*sum_f64)(const double* x, int64_t begin, int64_t end);
};

namespace generic { extern const EltwiseTable eltwise_table; }
#ifdef NNMAT_BUILD_AVX2
namespace avx2 { extern const EltwiseTable eltwise_table; }
#endif
#ifdef NNMAT_BUILD_AVX512
namespace avx512 { extern const EltwiseTable eltwise_table; }
#endif

const EltwiseTable& eltwise_kernels();   // table of the ISA in use

// Threaded drivers (OpenMP above a size threshold).
template <class T> void act_forward(Act act, const T* x, T* y, int64_t n, const ActParams& p, int nthreads);
template <class T> void act_backward(Act act, const T* x, const T* g, T* dx, int64_t n, const ActParams& p, int nthreads);
template <class T> void act_backward_y(Act act, const T* y, const T* g, T* dx, int64_t n, int nthreads);
inline bool act_backward_y_supported(Act act) { return act == Act::sigmoid || act == Act::tanh; }
template <class T> void softmax_backward_y(const T* y, const T* g, T* dx, int64_t rows, int64_t C, bool log, int nthreads);
template <class T> double ew_loss(EwLoss loss, const EwLossArgs<T>& a, int nthreads);
template <class T> double sum(const T* x, int64_t n, int nthreads);

// The fused epilogue of nnmat.linear: the activation applied in place to each
// C tile right after the GEMM wrote it (GemmProblem::epilogue), while it is in
// cache. ctx points to an ActEpilogue<T> holding the forward kernel of the ISA
// in use (resolved once per call, not per tile).
template <class T>
struct ActEpilogue {
    void (*forward)(int act, const T* x, T* y, int64_t n, const ActParams& p);
    int act;
    ActParams params;
};
template <class T> void act_epilogue(T* c, int64_t rows, int64_t cols, int64_t ld, const void* ctx);
template <class T> ActEpilogue<T> make_act_epilogue(Act act, const ActParams& p);

}  // namespace nnmat
