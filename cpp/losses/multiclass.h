// Multi-class kernels: softmax / log_softmax / sparsemax (forward and VJP),
// cross-entropy (class-index and probability targets, class weights,
// ignore_index, label smoothing), NLL, KL divergence (torch and Keras forms)
// and the sparsemax loss. Formulas: spec/losses.md sections 3.1-3.4 and 8.
//
// Layout. A softmax-like operation along one axis of a C-contiguous array is
// done on the array viewed as (outer, C, inner): C classes, `inner` elements
// between consecutive classes. The per-ISA leaf kernels below work on ROWS
// (inner == 1: `n` rows of C contiguous values); the portable drivers in
// multiclass.cpp thread over rows and, for inner > 1, gather blocks of
// positions into contiguous scratch rows, call the leaf kernel and scatter
// the results back.
//
// Leaf kernel contract:
//  * no threads, no allocation (scratch comes from the caller), no Python;
//  * each row is independent, so results are bitwise identical whatever rows
//    the drivers give to each thread;
//  * per-row losses are written as double; the drivers add them in a fixed
//    order (row order, pairwise), never in thread order;
//  * NaN anywhere in a row propagates to that row's outputs (softmax family,
//    cross-entropy); an all -inf row gives NaN like torch;
//  * y may alias x for the forward kernels (in-place activation), nothing
//    else aliases.
#pragma once
#include <cstdint>

namespace nnmat {

// Cross-entropy on logits, n rows (positions) of C classes, all pointers
// already offset to the first row of the block.
template <class T>
struct CeRows {
    const T* x = nullptr;            // (n, C) logits
    const int64_t* target = nullptr; // (n) class indices (index targets), else null
    const T* prob = nullptr;         // (n, C) target probabilities (prob targets), else null
    const T* weight = nullptr;       // (C) class weights or null (all 1)
    double weight_sum = 0;           // sum of weight (C when weight is null)
    int64_t ignore_index = -100;     // index targets only; targets already validated
    double smoothing = 0;            // label smoothing eps in [0, 1]
    T* grad = nullptr;               // (n, C) gradient, or null (value only)
    const T* gout = nullptr;         // (n) upstream gradient per row, or null (1)
    double gscale = 1;               // gradient factor (1/D for 'mean', times a scalar upstream)
    double* loss = nullptr;          // (n) per-row losses, or null (grad only)
};

template <class T>
struct MulticlassFns {
    // x (n, C) -> y (n, C): softmax (log = false) or log_softmax (log = true) of each row.
    void (*softmax_rows)(const T* x, T* y, int64_t n, int64_t C, bool log);
    // x (n, C), g (n, C) -> dx (n, C): VJP of softmax / log_softmax at x.
    void (*softmax_backward_rows)(const T* x, const T* g, T* dx, int64_t n, int64_t C, bool log);
    // x (n, C) -> y (n, C): sparsemax of each row; scratch: 2*C elements.
    void (*sparsemax_rows)(const T* x, T* y, int64_t n, int64_t C, T* scratch);
    // x (n, C), g (n, C) -> dx (n, C): VJP of sparsemax (support {p > 0}); scratch: 2*C elements.
    void (*sparsemax_backward_rows)(const T* x, const T* g, T* dx, int64_t n, int64_t C, T* scratch);
    // logits (n, C), targets -> loss (n), grad (n, C): see CeRows.
    void (*cross_entropy_rows)(const CeRows<T>& a, int64_t n, int64_t C);
    // z (n, C) logits, q (n, C) label probabilities -> loss (n), grad (n, C) = f*(sparsemax(z) - q);
    // f = gscale * (gout ? gout[r] : 1); loss/grad may be null; scratch: 3*C elements.
    void (*sparsemax_loss_rows)(const T* z, const T* q, double* loss, T* grad, const T* gout, double gscale,
                                int64_t n, int64_t C, T* scratch);
    // torch kl_div, element-wise: x (n) log-probs, t (n) probs (log probs if log_target)
    // -> returns the sum of the losses (double; 0 unless want_value); none_out (n) per-element
    // loss or null; grad (n) = -p * f, f = gscale * (gout ? gout[i] : 1), or null.
    double (*kl_div_block)(const T* x, const T* t, int64_t n, bool log_target, bool want_value, T* none_out,
                           T* grad, const T* gout, double gscale);
    // Keras kl_divergence: yp (n, C) predictions, yt (n, C) targets, both clipped to [1e-7, 1]
    // -> loss (n) = sum_c yt log(yt / yp) per row, grad (n, C) = -yt/yp * f (0 where yp is clipped).
    void (*keras_kl_rows)(const T* yp, const T* yt, double* loss, T* grad, const T* gout, double gscale,
                          int64_t n, int64_t C);
};

struct MulticlassTable {
    const char* name;
    MulticlassFns<float> f32;
    MulticlassFns<double> f64;
};

namespace generic { extern const MulticlassTable multiclass_table; }
#ifdef NNMAT_BUILD_AVX2
namespace avx2 { extern const MulticlassTable multiclass_table; }
#endif
#ifdef NNMAT_BUILD_AVX512
namespace avx512 { extern const MulticlassTable multiclass_table; }
#endif

// The table of the ISA in use.
const MulticlassTable& multiclass_kernels();
template <class T> const MulticlassFns<T>& multiclass_fns();

// ---------------------------------------------------------------------------
// Portable drivers (multiclass.cpp): threading over rows, (outer, C, inner) views.

// x (outer, C, inner) -> y (same): softmax / log_softmax along C. y may alias x.
template <class T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, bool log, int nthreads);
// x, g (outer, C, inner) -> dx (same).
template <class T>
void softmax_backward(const T* x, const T* g, T* dx, int64_t outer, int64_t C, int64_t inner, bool log,
                      int nthreads);
template <class T>
void sparsemax_forward(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, int nthreads);
template <class T>
void sparsemax_backward(const T* x, const T* g, T* dx, int64_t outer, int64_t C, int64_t inner, int nthreads);

// Cross-entropy over (outer, C, inner) logits; a.target / a.prob / a.gout / a.loss
// are indexed by position p = o*inner + j (prob, like x, is (outer, C, inner)).
// a.loss must be non-null (outer*inner doubles) when the value is wanted.
template <class T>
void cross_entropy(const CeRows<T>& a, int64_t outer, int64_t C, int64_t inner, int nthreads);

// nll_loss: x (outer, C, inner) log-probs, targets (outer*inner) validated;
// loss (outer*inner) = -w[y] x[y] (0 when ignored) or null; grad (zero-filled here)
// gets -w[y] * f at the target, f = gscale * (gout ? gout[p] : 1).
template <class T>
void nll_loss(const T* x, const int64_t* target, const T* weight, int64_t ignore_index, double* loss,
              T* grad, const T* gout, double gscale, int64_t outer, int64_t C, int64_t inner, int nthreads);

// Row drivers for the losses whose class axis is the last one (inner == 1).
template <class T>
void sparsemax_loss(const T* z, const T* q, double* loss, T* grad, const T* gout, double gscale, int64_t n,
                    int64_t C, int nthreads);
template <class T>
void keras_kl(const T* yp, const T* yt, double* loss, T* grad, const T* gout, double gscale, int64_t n,
              int64_t C, int nthreads);
// torch kl_div over n elements: returns the sum in a fixed block order (blocked_sum).
template <class T>
double kl_div(const T* x, const T* t, int64_t n, bool log_target, bool want_value, T* none_out, T* grad,
              const T* gout, double gscale, int nthreads);

// Fixed-order (pairwise) sum of n doubles.
double fixed_order_sum(const double* v, int64_t n);

}  // namespace nnmat
