// Dice losses (spec/losses.md section 2.5). Two reference behaviours:
//
// (a) Keras `dice` (dice_rows): no activation; per row i of (M, K) data
//       I = sum y p,  S = sum y + sum p,  loss_i = 1 - 2 I / (S + eps)
//       d loss_i / d p_k = -2 y_k / (S + eps) + 2 I / (S + eps)^2
//     (the Python layer moves the reduced axes last, so a row is one remaining index).
//
// (b) segmentation_models.pytorch DiceLoss (soft_dice): x (N, C, L) logits or
//     probabilities, sigmoid (binary/multilabel) or softmax over C (multiclass)
//     when from_logits; per channel c, summing over batch and pixels,
//       score_c = (2 I_c + smooth) / max(S_c + smooth, eps),
//       loss_c  = 1 - score_c  or  -log(max(score_c, eps))  (log_loss),
//     multiplied by [sum of channel c's target > 0]; value = sum_c mult_c loss_c / n_sel
//     (mult_c = how often channel c is selected by `classes`, n_sel = their total).
//     Ignored pixels/elements (target == ignore_index) are removed from every sum.
//     The gradient is taken with respect to x (through the activation's Jacobian).
//
// Portable C++ compiled once. Sums are accumulated in double over fixed blocks
// and combined in a fixed order: results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace nnmat {

// p, y: (M, K) contiguous. values (nullable, (M,)): loss per row.
// grad (nullable, (M, K)): gfactor * (gout ? gout[i] : 1) * d loss_i / d p.
// Returns sum_i loss_i (in row order).
template <class T>
double dice_rows(const T* p, const T* y, int64_t M, int64_t K, double eps, T* values, const T* gout,
                 double gfactor, T* grad, int nthreads);

enum class DiceMode : int { Binary = 0, Multiclass = 1, Multilabel = 2 };

struct SoftDiceParams {
    DiceMode mode = DiceMode::Binary;
    bool from_logits = true;
    bool log_loss = false;
    double smooth = 0.0;
    double eps = 1e-7;
    bool has_ignore = false;
    double ignore_value = 0.0;        // binary / multilabel: compared with the target
    int64_t ignore_label = 0;         // multiclass
    const double* class_mult = nullptr;  // (C,) multiplicity of each channel in `classes`
    double n_selected = 0.0;             // sum of class_mult
};

// Multiclass labels: index of the first label outside [0, C) that is not ignored, or -1.
int64_t soft_dice_first_bad_label(const int64_t* labels, int64_t n, int64_t C, bool has_ignore,
                                  int64_t ignore_label);

// x: (N, C, L); target: y (N, C, L) for binary/multilabel, labels (N, L) for multiclass.
// grad (nullable, (N, C, L)): gfactor * d value / d x. Returns the value.
template <class T>
double soft_dice(const T* x, int64_t N, int64_t C, int64_t L, const T* y, const int64_t* labels,
                 const SoftDiceParams& prm, double gfactor, T* grad, int nthreads);

}  // namespace nnmat
