// LPIPS feature distance (spec/losses.md section 4.2) for one feature layer.
//
// For features a = phi(x_hat), b = phi(x) of shape (N, C, P) (P = H W pixels,
// channel axis 1) and non-negative channel weights w (C,), per sample n
//     v_n = (1/P) sum_p sum_c w_c (a^_cp - b^_cp)^2,
//     a^_.p = a_.p / (||a_.p|| + eps),   ||.|| the L2 norm over channels, eps = 1e-10
// (richzhang/PerceptualSimilarity normalize_tensor + spatial_average). Gradient with respect
// to a, per pixel with n = ||a_.p||, d = n + eps and u_c = 2 w_c (a^_c - b^_c) / P:
//     dv_n/da_k = u_k / d - a_k (sum_c u_c a_c) / (n d^2)
// (the Jacobian of the normalisation, I/d - a a^T / (n d^2)); at a zero feature
// vector (n = 0) the second term is taken as its limit 0 (torch's autograd gives NaN
// there, from sqrt's derivative at 0).
//
// Portable C++ compiled once; sums in double. Each sample is handled by one thread
// and the per-sample values are added in sample order: results do not depend on
// the thread count.
#pragma once
#include <cstdint>

namespace nnmat {

// a, b: (N, C, P) contiguous; w: (C,) channel weights.
// values ((N,), required): v_n.
// grad (nullable, (N, C, P)): gscale * (gout ? gout[n] : 1) * dv_n / da.
// Returns sum_n v_n (in sample order).
template <class T>
double lpips_forward_backward(const T* a, const T* b, const T* w, int64_t N, int64_t C, int64_t P,
                              double eps, T* values, const T* gout, double gscale, T* grad, int nthreads);

}  // namespace nnmat
