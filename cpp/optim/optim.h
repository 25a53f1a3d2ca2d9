// Optimizer contract: SGD (momentum, dampening, nesterov, weight decay), Adam and
// AdamW with torch.optim's update rules and defaults, one fused pass per step
// over every parameter segment.
//
//  * Parameters live in segments (a Sequential has one flat segment; a user's
//    list of arrays has one per array). set_sizes() fixes them and zeroes the
//    state; step() updates every segment in place from its gradient.
//  * The state buffers are owned here (64-byte aligned), one per kind of state
//    and segment: SGD momentum_buffer; Adam/AdamW exp_avg, exp_avg_sq and, with
//    amsgrad, max_exp_avg_sq. state(which, seg) exposes them for save/load.
//  * Each element's update depends on that element only, so results are
//    bitwise identical for any thread count and any split of the segments.
//  * No allocation in step(); no Python; nthreads is a cap (small updates run
//    on one thread).
#pragma once
#include <cstdint>
#include <vector>

namespace nnmat {

enum class OptimKind : int { sgd = 0, adam = 1, adamw = 2 };

struct OptimConfig {
    OptimKind kind = OptimKind::sgd;
    double lr = 1e-3;
    double weight_decay = 0.0;
    bool maximize = false;
    // SGD
    double momentum = 0.0, dampening = 0.0;
    bool nesterov = false;
    // Adam / AdamW
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bool amsgrad = false;
};

template <class T>
class Optimizer {
public:
    explicit Optimizer(const OptimConfig& cfg);
    ~Optimizer();
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    // Fixes the segments (their element counts) and zeroes the state and the step count.
    void set_sizes(const std::vector<int64_t>& sizes);
    const std::vector<int64_t>& sizes() const;

    // One update of every segment: params[s][i] from grads[s][i], i < sizes()[s].
    // Increments the step count once (Adam's bias correction uses it).
    void step(T* const* params, const T* const* grads, int nthreads);

    OptimConfig& config();              // hyper-parameters may change between steps (lr schedules)
    int64_t steps() const;              // updates done so far
    void set_steps(int64_t n);          // for loading a saved state
    int num_state() const;              // state buffers per segment: SGD 1 (0 without momentum), Adam 2 (3 with amsgrad)
    T* state(int which, int seg);       // which < num_state(); sizes()[seg] elements

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace nnmat
