// Embedding losses (spec/losses.md section 7): triplet margin (torch), pairwise contrastive
// (Hadsell et al.), batch contrastive (pytorch-metric-learning ContrastiveLoss), center loss
// (Wen et al., the authors' Caffe layer) with its center update, angular loss (PML AngularLoss).
//
// Common contract
// * Arrays are C-contiguous, row-major; rows are samples, D (or K) features. Labels are int64.
// * Value and gradient come from one call (the gradient only when its pointer is non-null).
//   Per-row work is done in double; per-row losses are written to a buffer and summed in row
//   order, so every result is bitwise identical for any thread count. Rows are split over
//   threads only when the work is large (parallel_for's grain).
// * gout (per-row upstream gradient) or gscale (a scalar factor, 1/N for 'mean') multiply the
//   per-row derivatives.
// * Pairwise losses (batch contrastive, angular) are O(B^2 D) and keep B x B matrices while they
//   run (B up to a few thousand). Batch contrastive from 64 rows: Gram matrix U U^T by the GEMM
//   in T, d_ij^2 = |u_i|^2 + |u_j|^2 - 2 u_i.u_j (pairs with d^2 < tau (|u_i|^2 + |u_j|^2),
//   tau 0.05 in float / 0.01 in double, recomputed directly in double), gradient
//   r_i u_i - (C U)_i by a second GEMM; below 64 rows direct double loops. Angular: the Gram
//   matrix by the GEMM (double), the per-pair exp by VMath. The GEMM is bitwise independent of
//   the thread count, so the results still are.
#pragma once
#include <cstdint>

namespace nnmat {

// ---- triplet margin loss (torch.nn.functional.triplet_margin_loss) --------------------------
// a, p, ng: (n, d). d(u, v) = ||u - v + eps||_pnorm (pnorm > 0, or +inf); swap: d_an <- min(d_an,
// d_pn) (a tie splits the gradient 0.5/0.5 as at::min does). l = max(margin + d_ap - d_an, 0);
// the gradient passes where the hinge argument is >= 0 (clamp_min).
template <class T>
struct TripletArgs {
    int64_t n = 0, d = 0;
    const T* a = nullptr;
    const T* p = nullptr;
    const T* ng = nullptr;
    double margin = 1.0, pnorm = 2.0, eps = 1e-6;
    bool swap = false;
    T* loss = nullptr;                 // (n,) or nullptr
    T* ga = nullptr;                   // (n, d) each, all or none
    T* gp = nullptr;
    T* gn = nullptr;
    const T* gout = nullptr;           // (n,) or nullptr
    double gscale = 1.0;
};
template <class T>
double triplet_margin_loss(TripletArgs<T>& args, int max_threads);

// ---- pairwise contrastive loss (Hadsell, Chopra & LeCun 2006), target 1 = similar ------------
// D = ||x1 - x2||_2; l = t D^2 / 2 + (1 - t) max(0, margin - D)^2 / 2.
template <class T>
struct PairContrastiveArgs {
    int64_t n = 0, d = 0;
    const T* x1 = nullptr;
    const T* x2 = nullptr;
    const T* target = nullptr;         // (n,)
    double margin = 1.0;
    T* loss = nullptr;
    T* g1 = nullptr;                   // (n, d) each, both or none
    T* g2 = nullptr;
    const T* gout = nullptr;
    double gscale = 1.0;
};
template <class T>
double contrastive_loss(PairContrastiveArgs<T>& args, int max_threads);

// ---- batch contrastive loss (pytorch-metric-learning ContrastiveLoss) -----------------------
// x: (b, d) embeddings (L2-normalised first when normalize, eps 1e-12 as F.normalize), all ordered
// pairs i != j; positives relu(d - pos_margin), negatives relu(neg_margin - d), each averaged over
// its non-zero terms (AvgNonZeroReducer), the two averages summed. grad: (b, d) or nullptr.
template <class T>
double batch_contrastive_loss(int64_t b, int64_t d, const T* x, const int64_t* labels, double pos_margin,
                              double neg_margin, bool normalize, T* grad, double gscale, int max_threads);

// ---- center loss (Caffe definition) ---------------------------------------------------------
// x: (m, k), labels in [0, c) (checked by the caller), centers: (c, k). Per sample
// ||x_i - c_{y_i}||^2 / 2; gradient (x_i - c_{y_i}) w.r.t. features only.
template <class T>
struct CenterArgs {
    int64_t m = 0, k = 0, c = 0;
    const T* x = nullptr;
    const int64_t* labels = nullptr;
    const T* centers = nullptr;
    T* loss = nullptr;
    T* grad = nullptr;                 // (m, k) or nullptr
    const T* gout = nullptr;
    double gscale = 1.0;
};
template <class T>
double center_loss(CenterArgs<T>& args, int max_threads);

// out (c, k) = centers - alpha * dc, dc_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j); classes absent
// from the batch are copied unchanged. out must not alias centers.
template <class T>
void center_update(int64_t m, int64_t k, int64_t c, const T* x, const int64_t* labels, const T* centers,
                   double alpha, T* out);

// ---- angular loss (PML AngularLoss) ----------------------------------------------------------
// x: (b, d). Anchors and positives L2-normalised; negatives raw unless normalize_negatives.
// t = tan^2(alpha_deg); per ordered positive pair (a, p):
//   l = log(1 + sum_{n: y_n != y_a} exp(4 t (x_a + x_p).x_n - 2 (1 + t) x_a.x_p)),
// mean over the positive pairs; 0 when there is no positive or no negative pair.
template <class T>
double angular_loss(int64_t b, int64_t d, const T* x, const int64_t* labels, double alpha_deg,
                    bool normalize_negatives, T* grad, double gscale, int max_threads);

}  // namespace nnmat
