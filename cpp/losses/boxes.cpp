// Box losses: one fused per-box pass (value, gradient w.r.t. the prediction, validity check).
// Formulas and reference behaviour: spec/losses.md 6.1-6.4 and boxes.h.
#include "losses/boxes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/parallel.h"

namespace nnmat {
namespace {

// max/min with the derivative with respect to the first argument (torch: a tie splits 0.5/0.5).
template <class T>
struct Sel {
    T v;
    T d;
};
template <class T>
inline Sel<T> tmax(T a, T b) {
    if (a > b) return {a, T(1)};
    if (a == b) return {a, T(0.5)};
    return {b, T(0)};
}
template <class T>
inline Sel<T> tmin(T a, T b) {
    if (a < b) return {a, T(1)};
    if (a == b) return {a, T(0.5)};
    return {b, T(0)};
}

constexpr double kMmdetUnionEps = 1e-6;    // mmdet bbox_overlaps' own eps (the union clamp)
constexpr double kTorchvisionEps = 1e-7;   // the DIoU part of torchvision's CIoU
constexpr double kPi = 3.14159265358979323846;

// Intersection of torchvision's _loss_inter_union: I = iw * ih only where both are > 0.
// d[4]: dI/d(x1, y1, x2, y2) of the prediction.
template <class T>
inline T inter_tv(const T* p, const T* g, T* d) {
    const Sel<T> lx = tmax(p[0], g[0]), ly = tmax(p[1], g[1]);
    const Sel<T> rx = tmin(p[2], g[2]), ry = tmin(p[3], g[3]);
    const T iw = rx.v - lx.v, ih = ry.v - ly.v;
    if (iw > T(0) && ih > T(0)) {
        d[0] = -lx.d * ih;
        d[1] = -ly.d * iw;
        d[2] = rx.d * ih;
        d[3] = ry.d * iw;
        return iw * ih;
    }
    d[0] = d[1] = d[2] = d[3] = T(0);
    return T(0);
}

// Enclosing box sides of the pair and their derivatives.
template <class T>
struct Enclose {
    T cw, ch;
    T dx1, dy1, dx2, dy2;   // d(cx1)/dx1 ... (cw = cx2 - cx1)
};
template <class T>
inline Enclose<T> enclose(const T* p, const T* g) {
    const Sel<T> cx1 = tmin(p[0], g[0]), cy1 = tmin(p[1], g[1]);
    const Sel<T> cx2 = tmax(p[2], g[2]), cy2 = tmax(p[3], g[3]);
    return {cx2.v - cx1.v, cy2.v - cy1.v, cx1.d, cy1.d, cx2.d, cy2.d};
}

// One pair: returns the loss, writes dL/d(prediction) into d when G.
template <BoxLossKind K, bool G, class T>
inline T box_one(const T* p, const T* g, T eps, T* d) {
    const T w = p[2] - p[0], h = p[3] - p[1];
    const T dA[4] = {-h, -w, h, w};   // d(w h)/d(x1, y1, x2, y2)
    const T area2 = (g[2] - g[0]) * (g[3] - g[1]);

    if constexpr (K == BoxLossKind::iou_linear || K == BoxLossKind::iou_square ||
                  K == BoxLossKind::iou_log) {
        // mmdet: wh = clamp(rb - lt, min=0) (passes the gradient at 0), union = max(union, 1e-6),
        // iou = overlap / union, clamp(min=eps) (passes at equality).
        const Sel<T> lx = tmax(p[0], g[0]), ly = tmax(p[1], g[1]);
        const Sel<T> rx = tmin(p[2], g[2]), ry = tmin(p[3], g[3]);
        const T rawx = rx.v - lx.v, rawy = ry.v - ly.v;
        const bool px = rawx >= T(0), py = rawy >= T(0);
        const T iw = px ? rawx : T(0), ih = py ? rawy : T(0);
        const T I = iw * ih;
        const T U = w * h + area2 - I;
        const Sel<T> Uc = tmax(U, T(kMmdetUnionEps));
        const T iou = I / Uc.v;
        const bool pass = iou >= eps;
        const T iouc = pass ? iou : eps;
        T loss, dl;   // dl = dloss/diouc
        if constexpr (K == BoxLossKind::iou_linear) {
            loss = T(1) - iouc;
            dl = T(-1);
        } else if constexpr (K == BoxLossKind::iou_square) {
            loss = T(1) - iouc * iouc;
            dl = T(-2) * iouc;
        } else {
            loss = -std::log(iouc);
            dl = T(-1) / iouc;
        }
        if constexpr (G) {
            if (!pass) {
                d[0] = d[1] = d[2] = d[3] = T(0);
            } else {
                const T dI[4] = {px ? -lx.d * ih : T(0), py ? -ly.d * iw : T(0),
                                 px ? rx.d * ih : T(0), py ? ry.d * iw : T(0)};
                for (int k = 0; k < 4; ++k) {
                    const T dU = (dA[k] - dI[k]) * Uc.d;
                    d[k] = dl * (dI[k] - iou * dU) / Uc.v;
                }
            }
        }
        return loss;
    } else {
        // torchvision family: IoU = I / (U + eps_iou).
        const T eps_iou = K == BoxLossKind::ciou ? T(kTorchvisionEps) : eps;
        T dI[4];
        const T I = inter_tv(p, g, dI);
        const T U = w * h + area2 - I;
        const T Ue = U + eps_iou;
        const T iou = I / Ue;
        const Enclose<T> e = enclose(p, g);
        T loss;
        if constexpr (K == BoxLossKind::giou) {
            const T C = e.cw * e.ch;
            const T Ce = C + eps;
            loss = T(1) - (iou - (C - U) / Ce);
            if constexpr (G) {
                const T dC[4] = {-e.dx1 * e.ch, -e.dy1 * e.cw, e.dx2 * e.ch, e.dy2 * e.cw};
                for (int k = 0; k < 4; ++k) {
                    const T dU = dA[k] - dI[k];
                    const T diou = (dI[k] - iou * dU) / Ue;
                    d[k] = -diou + ((dC[k] - dU) * Ce - (C - U) * dC[k]) / (Ce * Ce);
                }
            }
            return loss;
        } else {
            const T c2 = e.cw * e.cw + e.ch * e.ch + eps_iou;
            const T dxc = (p[2] + p[0]) / T(2) - (g[0] + g[2]) / T(2);
            const T dyc = (p[3] + p[1]) / T(2) - (g[1] + g[3]) / T(2);
            const T rho2 = dxc * dxc + dyc * dyc;
            loss = T(1) - iou + rho2 / c2;
            T ca = T(0), dvdw = T(0), dvdh = T(0);   // CIoU term: alpha v, alpha constant
            if constexpr (K == BoxLossKind::ciou) {
                const T diff = std::atan((g[2] - g[0]) / (g[3] - g[1])) - std::atan(w / h);
                const T v = T(4 / (kPi * kPi)) * diff * diff;
                const T alpha = v / (T(1) - iou + v + eps);
                loss = loss + alpha * v;
                if constexpr (G) {
                    const T s = T(8 / (kPi * kPi)) * diff / (w * w + h * h);
                    ca = alpha;
                    dvdw = -s * h;
                    dvdh = s * w;
                }
            }
            if constexpr (G) {
                const T dc2[4] = {T(-2) * e.cw * e.dx1, T(-2) * e.ch * e.dy1, T(2) * e.cw * e.dx2,
                                  T(2) * e.ch * e.dy2};
                const T drho[4] = {dxc, dyc, dxc, dyc};
                const T dv[4] = {-dvdw, -dvdh, dvdw, dvdh};
                for (int k = 0; k < 4; ++k) {
                    const T dU = dA[k] - dI[k];
                    const T diou = (dI[k] - iou * dU) / Ue;
                    d[k] = -diou + (drho[k] * c2 - rho2 * dc2[k]) / (c2 * c2);
                    if constexpr (K == BoxLossKind::ciou) d[k] += ca * dv[k];
                }
            }
            return loss;
        }
    }
}

template <class T>
inline bool has_nan(const T* p, const T* g) {
    bool n = false;
    for (int k = 0; k < 4; ++k) n |= std::isnan(p[k]) || std::isnan(g[k]);
    return n;
}
template <class T>
inline bool inverted(const T* b) { return b[2] < b[0] || b[3] < b[1]; }

template <BoxLossKind K, bool G, class T>
double run(BoxLossArgs<T>& a, int max_threads) {
    const int64_t n = a.n;
    const int64_t nb = (n + kReduceBlock - 1) / kReduceBlock;
    std::vector<int64_t> bad1(std::size_t(std::max<int64_t>(nb, 1)), -1), bad2(bad1);
    const T eps = T(a.eps);
    const T gscale = T(a.gscale);
    const double total = blocked_sum(n, kBoxGrain, max_threads, [&](int64_t b, int64_t e) {
        double s = 0.0;
        int64_t f1 = -1, f2 = -1;
        const T nan = std::numeric_limits<T>::quiet_NaN();
        for (int64_t i = b; i < e; ++i) {
            const T* p = a.b1 + 4 * i;
            const T* q = a.b2 + 4 * i;
            if (f1 < 0 && inverted(p)) f1 = i;
            if (f2 < 0 && inverted(q)) f2 = i;
            T d[4];
            T l;
            if (has_nan(p, q)) {
                l = nan;
                d[0] = d[1] = d[2] = d[3] = nan;
            } else {
                l = box_one<K, G>(p, q, eps, d);
            }
            s += double(l);
            if (a.loss) a.loss[i] = l;
            if constexpr (G) {
                const T f = a.gout ? a.gout[i] : gscale;
                T* o = a.grad + 4 * i;
                for (int k = 0; k < 4; ++k) o[k] = d[k] * f;
            }
        }
        const std::size_t blk = std::size_t(b / kReduceBlock);
        bad1[blk] = f1;
        bad2[blk] = f2;
        return s;
    });
    for (int64_t v : bad1)
        if (v >= 0) { a.bad1 = v; break; }
    for (int64_t v : bad2)
        if (v >= 0) { a.bad2 = v; break; }
    return total;
}

template <BoxLossKind K, class T>
double run_kind(BoxLossArgs<T>& a, int max_threads) {
    return a.grad ? run<K, true>(a, max_threads) : run<K, false>(a, max_threads);
}

}  // namespace

template <class T>
double box_loss(BoxLossKind kind, BoxLossArgs<T>& a, int max_threads) {
    a.bad1 = a.bad2 = -1;
    switch (kind) {
        case BoxLossKind::iou_linear: return run_kind<BoxLossKind::iou_linear>(a, max_threads);
        case BoxLossKind::iou_square: return run_kind<BoxLossKind::iou_square>(a, max_threads);
        case BoxLossKind::iou_log: return run_kind<BoxLossKind::iou_log>(a, max_threads);
        case BoxLossKind::giou: return run_kind<BoxLossKind::giou>(a, max_threads);
        case BoxLossKind::diou: return run_kind<BoxLossKind::diou>(a, max_threads);
        case BoxLossKind::ciou: return run_kind<BoxLossKind::ciou>(a, max_threads);
    }
    return 0.0;
}

template double box_loss<float>(BoxLossKind, BoxLossArgs<float>&, int);
template double box_loss<double>(BoxLossKind, BoxLossArgs<double>&, int);

}  // namespace nnmat
