// GAN losses (spec/losses.md section 5): the adversarial (logit) terms, the
// Wasserstein terms, least squares, and the WGAN-GP gradient penalty.
//
// Every adversarial / Wasserstein / LSGAN loss is a sum of "streams": one
// element-wise term phi applied to one batch of critic outputs (real or fake),
// then reduced. The Python layer composes the losses from streams:
//   D (logits) = stream(real, Logit, y = 1 - ls/2) + stream(fake, Logit, y = 0)
//   G non-saturating = stream(fake, Logit, y = 1);  G minimax = stream(fake, Logit, y = 0, scale -1)
//   Wasserstein C = stream(fake, Linear) + stream(real, Linear, scale -1);  G = stream(fake, Linear, -1)
//   LSGAN D = stream(real, HalfSquare, b) + stream(fake, HalfSquare, a);  G = stream(fake, HalfSquare, c)
//
// Portable C++ compiled once (these are small or reduction-dominated); sums are
// accumulated in double over fixed blocks (blocked_sum), so results are
// bitwise identical for any thread count.
#pragma once
#include <cstdint>

namespace nnmat {

enum class GanTerm : int {
    Logit = 0,       // phi = scale * (softplus(x) - p x)   (BCE with logits, label p); phi' = scale (sigma(x) - p)
    Linear = 1,      // phi = scale * x;                      phi' = scale
    HalfSquare = 2,  // phi = scale * (x - p)^2 / 2;          phi' = scale (x - p)
};

// x: (n,) -> returns sum_i phi(x_i) (0 unless want_value).
// terms (nullable): phi(x_i).  grad (nullable): gfactor * phi'(x_i) * (gout ? gout[i] : 1).
template <class T>
double gan_stream(GanTerm kind, double scale, double p, const T* x, int64_t n, bool want_value,
                  T* terms, const T* gout, double gfactor, T* grad, int nthreads);

// WGAN-GP penalty. g: (B, D) per-sample gradients (row-major, contiguous).
//   n_i = sqrt(sum_k g_ik^2 + eps),  u_i = n_i / t - 1,  pen_i = u_i^2 (one_sided: max(u_i, 0)^2)
// returns sum_i pen_i; per_sample (nullable, (B,)): pen_i;
// grad (nullable, (B, D)): gfactor * (gout ? gout[i] : 1) * 2 u_i g_ik / (t n_i)  (0 where one-sided and u_i <= 0).
template <class T>
double gradient_penalty_forward_backward(const T* g, int64_t B, int64_t D, double target, double eps,
                                         bool one_sided, bool want_value, T* per_sample, const T* gout,
                                         double gfactor, T* grad, int nthreads);

}  // namespace nnmat
