// Bounding-box regression losses (spec/losses.md section 6.1-6.4): the mmdetection IoU loss
// (modes linear / square / log) and the torchvision GIoU, DIoU and CIoU losses.
//
// Contract
// * Boxes are (x1, y1, x2, y2), n pairs, both arrays C-contiguous (n, 4); b1 is the prediction,
//   b2 the target. Gradients are with respect to b1 only.
// * One fused pass per box: value, gradient (when asked) and the validity check. Per-box work is
//   done in T (float or double, as the references do); the sum of the per-box losses is
//   accumulated in double over fixed blocks (blocked_sum), so it is bitwise identical for any
//   thread count. Threads are used only above kBoxGrain boxes per thread.
// * Ties of max/min (coinciding edges) split the gradient 0.5 / 0.5 as torch.max/min do; clamps
//   follow torch (clamp_min passes the gradient at the boundary).
// * Any NaN coordinate in a pair makes that pair's loss and gradient NaN.
// * CIoU: alpha is a constant (torchvision computes it under no_grad); the DIoU part always uses
//   eps = 1e-7, the caller's eps enters alpha only (torchvision quirk). A box with w = h = 0 gives
//   atan(0/0) = NaN. The gradient of atan(w/h) is evaluated as h/(w^2+h^2), so a zero-height box
//   with w > 0 gets a finite gradient where torch autograd gives NaN.
// * Validity: the first index with x2 < x1 or y2 < y1 in b1 / b2 is reported in bad1 / bad2
//   (-1 when none); outputs are then meaningless and the caller raises.
#pragma once
#include <cstdint>

namespace nnmat {

enum class BoxLossKind : int {
    iou_linear = 0,   // mmdet iou_loss(mode='linear'): 1 - IoU
    iou_square = 1,   // mode='square': 1 - IoU^2
    iou_log = 2,      // mode='log': -log IoU
    giou = 3,         // torchvision generalized_box_iou_loss
    diou = 4,         // torchvision distance_box_iou_loss
    ciou = 5,         // torchvision complete_box_iou_loss
};

constexpr int64_t kBoxGrain = 50000;   // boxes per thread before a second thread is used

template <class T>
struct BoxLossArgs {
    int64_t n = 0;
    const T* b1 = nullptr;      // (n, 4) prediction
    const T* b2 = nullptr;      // (n, 4) target
    double eps = 0;
    T* loss = nullptr;          // (n,) per-box loss, or nullptr
    T* grad = nullptr;          // (n, 4) gradient w.r.t. b1, or nullptr
    const T* gout = nullptr;    // (n,) upstream gradient per box, or nullptr (then gscale)
    double gscale = 1.0;        // upstream factor when gout is null (1/n for 'mean')
    int64_t bad1 = -1;          // out: first inverted box of b1
    int64_t bad2 = -1;          // out: first inverted box of b2
};

// boxes (n, 4) x 2 -> sum of the per-box losses (double); fills loss / grad when given.
template <class T>
double box_loss(BoxLossKind kind, BoxLossArgs<T>& args, int max_threads);

extern template double box_loss<float>(BoxLossKind, BoxLossArgs<float>&, int);
extern template double box_loss<double>(BoxLossKind, BoxLossArgs<double>&, int);

}  // namespace nnmat
