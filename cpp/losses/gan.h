// GAN losses (spec/losses.md section 5). The adversarial, Wasserstein and
// least-squares losses are sums of element-wise terms over the real and fake
// batches; src/nnmat/losses/_gan.py runs them on the element-wise loss kernel
// (cpp/elementwise/: BCE-with-logits or squared error against a constant target).
// What is left here is the WGAN-GP gradient penalty, a per-sample norm.
//
// Portable C++ compiled once; sums are accumulated in double over fixed blocks
// (blocked_sum), so results are bitwise identical for any thread count.
#pragma once
#include <cstdint>

namespace nnmat {

// WGAN-GP penalty. g: (B, D) per-sample gradients (row-major, contiguous).
//   n_i = sqrt(sum_k g_ik^2 + eps),  u_i = n_i / t - 1,  pen_i = u_i^2 (one_sided: max(u_i, 0)^2)
// returns sum_i pen_i; per_sample (nullable, (B,)): pen_i;
// grad (nullable, (B, D)): gfactor * (gout ? gout[i] : 1) * 2 u_i g_ik / (t n_i)  (0 where one-sided and u_i <= 0).
template <class T>
double gradient_penalty_forward_backward(const T* g, int64_t B, int64_t D, double target, double eps,
                                         bool one_sided, bool want_value, T* per_sample, const T* gout,
                                         double gfactor, T* grad, int nthreads);

}  // namespace nnmat
