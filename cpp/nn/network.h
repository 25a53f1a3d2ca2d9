// Network engine: a sequence of layers (dense with a fused activation,
// activations, softmax / log_softmax, dropout, flatten) run forward and
// backward over batches of rows, and a training step (gather a batch, forward,
// loss value and gradient, backward, optimizer update) in one call, so that a
// small network's step costs its arithmetic and not one Python call per kernel.
//
//  * Rows: every layer sees its input as (n, in) row-major and writes (n, out).
//    Flatten is the identity on rows (nnmat.nn flattens the input's trailing
//    dimensions before the first layer).
//  * Parameters are not owned here: a dense layer points at its weight W (out,
//    in, row-major, torch.nn.Linear's layout), bias b (out) or null, and the
//    gradient destinations dW, db, which backward() overwrites (never adds to).
//  * Activations and gradient buffers are owned here, sized for `capacity` rows
//    and reused from batch to batch; they grow only when a larger batch comes
//    (reserve()), so a training loop allocates nothing after its first batch.
//  * Forward copies its input into an owned buffer, so backward never reads
//    memory the caller may have freed.
//  * Products are GEMMs with transposition flags, never materialised
//    transposes: z = x W^T + b, dW = dZ^T x, dx = dZ W, db = column sums of dZ
//    (in row order). The activation's derivative is applied to the incoming
//    gradient before the products: from the output for relu, sigmoid and tanh,
//    from the stored pre-activation for the others.
//  * Dropout draws from a counter-based hash of (seed, forward count, element
//    index): the same seed gives the same masks on any thread count.
//  * Results are bitwise identical for any thread count (every kernel used is).
#pragma once
#include <cstdint>
#include <vector>

#include "elementwise/eltwise.h"

namespace nnmat {

enum class LayerKind : int { dense = 0, activation = 1, softmax = 2, log_softmax = 3, dropout = 4, flatten = 5 };

template <class T>
struct LayerSpec {
    LayerKind kind = LayerKind::flatten;
    int64_t in = 0, out = 0;                 // features per row
    const T* W = nullptr;                    // dense: (out, in) row-major
    const T* b = nullptr;                    // dense: (out) or null
    T* dW = nullptr;                         // dense: gradient of W, overwritten by backward
    T* db = nullptr;                         // dense: gradient of b (null when b is)
    Act act = Act::identity;                 // dense epilogue, or the activation layer's function
    ActParams ap;
    double p = 0.0;                          // dropout probability in [0, 1]
    uint64_t seed = 0;                       // dropout stream
};

// The training step's loss, 'mean' reduction (optionally sample-weighted).
enum class NetLoss : int { cross_entropy = 0, nll = 1, elementwise = 2 };

template <class T>
struct NetLossSpec {
    NetLoss kind = NetLoss::cross_entropy;
    EwLoss ew = EwLoss::mse;                 // elementwise: which loss
    double p0 = 0.0, p1 = 0.0;               // elementwise: huber delta | smooth_l1 beta | focal alpha, gamma
    const T* class_weight = nullptr;         // cross_entropy / nll: (C) or null
    int64_t ignore_index = -100;             // cross_entropy / nll
    double smoothing = 0.0;                  // cross_entropy label smoothing
};

// Targets for a step, indexed by the same row indices as X.
template <class T>
struct NetTargets {
    const int64_t* index = nullptr;          // cross_entropy / nll: class index per row (N)
    const T* value = nullptr;                // elementwise: (N, out) row-major
    const T* sample_weight = nullptr;        // (N) or null
};

struct StepResult {
    double loss = 0.0;                       // the batch's mean loss
    double weight = 0.0;                     // the divisor of that mean (rows, or their summed weights)
    int64_t correct = 0;                     // rows predicted right (classification losses)
    int64_t counted = 0;                     // rows that took part in `correct` (0: no accuracy for this loss)
};

template <class T>
class Network {
public:
    explicit Network(const std::vector<LayerSpec<T>>& layers);
    ~Network();
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    int64_t in_features() const;
    int64_t out_features() const;
    int64_t capacity() const;
    int64_t rows() const;                    // rows of the last forward
    void reserve(int64_t rows);              // grow the buffers to hold `rows` rows

    // x (n, in) -> the output (n, out), valid until the next call.
    const T* forward(const T* x, int64_t n, bool training, int nthreads);
    // The same on rows X[idx[0]], ..., X[idx[n-1]] of X (N, in).
    const T* forward_rows(const T* X, const int64_t* idx, int64_t n, bool training, int nthreads);
    // After forward: g (rows(), out) -> dW, db of every dense layer; dx (rows(), in) when non-null.
    void backward(const T* g, T* dx, int nthreads);

    // Loss of the last forward's output (rows(), out) against the targets of rows
    // idx[0..rows()); writes the gradient to grad (rows(), out). Throws
    // std::out_of_range for a class index outside [0, C) other than ignore_index,
    // std::domain_error for a BCE probability outside [0, 1].
    StepResult loss(const NetLossSpec<T>& spec, const NetTargets<T>& t, const int64_t* idx, T* grad, int nthreads);

    // forward_rows (training) + loss + backward + update(ctx, nthreads); grad goes to an owned buffer.
    StepResult train_step(const T* X, const int64_t* idx, int64_t n, const NetLossSpec<T>& spec,
                          const NetTargets<T>& t, void (*update)(void* ctx, int nthreads), void* ctx,
                          int nthreads);

    uint64_t forward_count() const;          // training forwards so far (dropout's counter)
    void set_forward_count(uint64_t c);

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace nnmat
