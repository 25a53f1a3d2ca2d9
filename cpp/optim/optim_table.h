// Internal to the optimizers: the per-step scalars handed to the element
// kernels and the per-ISA kernel table (optim_{generic,avx2,avx512}.cpp).
// Scalars are computed once per step in double (optim.cpp) and rounded to the
// parameter type T, as torch.optim does with its Python-float hyper-parameters.
#pragma once
#include <cstdint>

namespace nnmat {

template <class T>
struct SgdArgs {
    T neg_lr = T(0);          // p += neg_lr * d
    T weight_decay = T(0);    // g += weight_decay * p        (when weight_decay != 0)
    T momentum = T(0);        // buf = momentum * buf + one_minus_dampening * g
    T one_minus_dampening = T(1);
    bool use_weight_decay = false, maximize = false, nesterov = false;
    int momentum_mode = 0;    // 0: no momentum, 1: first step (buf = g), 2: later steps
};

template <class T>
struct AdamArgs {
    T weight_decay = T(0);    // L2 (Adam): g += weight_decay * p
    T decay_factor = T(1);    // decoupled (AdamW): p *= decay_factor = 1 - lr * weight_decay
    T w1 = T(0.1);            // 1 - beta1: m = lerp(m, g, w1)
    T one_minus_w1 = T(0.9);  // 1 - w1 in T (torch's lerp for weights >= 0.5)
    T beta2 = T(0.999);       // v = beta2 * v + ((1 - beta2) * g) * g
    T one_minus_beta2 = T(0.001);
    T bc2_sqrt = T(1);        // sqrt(1 - beta2^t)
    T eps = T(1e-8);
    T neg_step_size = T(0);   // -lr / (1 - beta1^t)
    int wd_mode = 0;          // 0: none, 1: L2 added to g, 2: decoupled
    bool maximize = false, amsgrad = false;
};

struct OptimTable {
    // Serial kernels over n elements of one segment (or part of one).
    void (*sgd_f32)(const SgdArgs<float>&, float* p, const float* g, float* buf, int64_t n);
    void (*sgd_f64)(const SgdArgs<double>&, double* p, const double* g, double* buf, int64_t n);
    void (*adam_f32)(const AdamArgs<float>&, float* p, const float* g, float* m, float* v, float* vmax, int64_t n);
    void (*adam_f64)(const AdamArgs<double>&, double* p, const double* g, double* m, double* v, double* vmax,
                     int64_t n);
};

namespace generic { extern const OptimTable optim_table; }
#ifdef NNMAT_BUILD_AVX2
namespace avx2 { extern const OptimTable optim_table; }
#endif
#ifdef NNMAT_BUILD_AVX512
namespace avx512 { extern const OptimTable optim_table; }
#endif

const OptimTable& optim_kernels();   // table of the ISA in use

}  // namespace nnmat
