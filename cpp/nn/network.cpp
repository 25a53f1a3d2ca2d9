// Network engine (contract in network.h). Portable: every arithmetic loop
// worth vectorising runs in a per-ISA kernel (GEMM, element-wise, multi-class);
// what is left here is bookkeeping, row gathers and the bias-gradient sums.
#include "nn/network.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "common/threading.h"
#include "dispatch/cpu.h"
#include "dispatch/kernel_table.h"
#include "gemm/gemm.h"
#include "losses/multiclass.h"

namespace nnmat {
namespace {

// A 64-byte aligned buffer that only grows.
template <class T>
struct Buffer {
    T* p = nullptr;
    int64_t size = 0;
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : p(o.p), size(o.size) { o.p = nullptr; o.size = 0; }
    ~Buffer() { std::free(p); }
    void reserve(int64_t n) {
        if (n <= size) return;
        const double bytes = double(n) * double(sizeof(T));
        if (bytes > 9.0e18) throw std::bad_alloc();
        const std::size_t b = (std::size_t(n) * sizeof(T) + 63) / 64 * 64;
        void* q = std::aligned_alloc(64, b);
        if (q == nullptr) throw std::bad_alloc();
        std::free(p);
        p = static_cast<T*>(q);
        size = n;
    }
};

inline void run_gemm(const GemmProblem<float>& P, int nt) { kernels().gemm_f32(P, nt); }
inline void run_gemm(const GemmProblem<double>& P, int nt) { kernels().gemm_f64(P, nt); }

// Activations whose derivative the backward pass takes from the output
// (relu: y > 0 exactly where x > 0); the others keep the pre-activation.
inline bool backward_from_output(Act a) {
    return a == Act::identity || a == Act::relu || a == Act::sigmoid || a == Act::tanh;
}

inline uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

template <class T>
struct Network<T>::Impl {
    std::vector<LayerSpec<T>> layers;
    int64_t in = 0, out = 0, widest = 0;
    int64_t cap = 0, n = 0;
    Buffer<T> x;                              // copy of the input (cap, in)
    std::vector<Buffer<T>> y, z, mask;        // per layer: output, pre-activation, dropout multipliers
    std::vector<const T*> in_ptr, out_ptr;    // per layer, last forward
    std::vector<char> masked;                 // dropout applied in the last forward
    Buffer<T> g0, g1, dz, gloss;              // backward ping-pong, dZ scratch, loss gradient
    Buffer<double> rowloss, colsum;
    Buffer<T> part;
    Buffer<int64_t> tidx;
    Buffer<T> tval, sw;
    uint64_t forwards = 0;

    void reserve(int64_t rows) {
        if (rows <= cap) return;
        // rows * width must not overflow, and no buffer may exceed 2^62 bytes
        const int64_t w = std::max<int64_t>(std::max(widest, in), 1);
        if (rows > (int64_t(1) << 59) / w) throw std::bad_alloc();
        x.reserve(rows * in);
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const LayerSpec<T>& L = layers[i];
            const int64_t m = rows * L.out;
            switch (L.kind) {
            case LayerKind::dense:
                y[i].reserve(m);
                if (!backward_from_output(L.act)) z[i].reserve(m);
                break;
            case LayerKind::activation:
            case LayerKind::softmax:
            case LayerKind::log_softmax:
                y[i].reserve(m);
                break;
            case LayerKind::dropout:
                y[i].reserve(m);
                mask[i].reserve(m);
                break;
            case LayerKind::flatten:
                break;
            }
        }
        g0.reserve(rows * widest);
        g1.reserve(rows * widest);
        dz.reserve(rows * widest);
        cap = rows;
    }

    const T* run_forward(int64_t rows, bool training, int nt) {
        const T* cur = x.p;
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const LayerSpec<T>& L = layers[i];
            in_ptr[i] = cur;
            const int64_t m = rows * L.out;
            switch (L.kind) {
            case LayerKind::dense: {
                const bool keep_z = !backward_from_output(L.act);
                GemmProblem<T> P;
                P.m = rows; P.n = L.out; P.k = L.in;
                P.a = cur; P.rsa = L.in; P.csa = 1;
                P.b = L.W; P.rsb = 1; P.csb = L.in;          // op(B) = W^T
                P.c = keep_z ? z[i].p : y[i].p; P.rsc = L.out; P.csc = 1;
                P.bias = L.b; P.bias_stride = 1;
                ActEpilogue<T> ep{};
                if (!keep_z && L.act != Act::identity) {
                    ep = make_act_epilogue<T>(L.act, L.ap);
                    P.epilogue = &act_epilogue<T>;
                    P.epilogue_ctx = &ep;
                }
                run_gemm(P, nt);
                if (keep_z) act_forward<T>(L.act, z[i].p, y[i].p, m, L.ap, nt);
                cur = y[i].p;
                break;
            }
            case LayerKind::activation:
                act_forward<T>(L.act, cur, y[i].p, m, L.ap, nt);
                cur = y[i].p;
                break;
            case LayerKind::softmax:
            case LayerKind::log_softmax:
                softmax_forward<T>(cur, y[i].p, rows, L.out, 1, L.kind == LayerKind::log_softmax, nt);
                cur = y[i].p;
                break;
            case LayerKind::dropout:
                masked[i] = training && L.p > 0.0;
                if (masked[i]) {
                    // keep with probability 1 - p, scaled by 1 / (1 - p) (torch's inverted dropout)
                    const uint64_t key = mix64(L.seed ^ mix64(forwards));
                    const double thr = L.p * 18446744073709551616.0;   // p * 2^64
                    const T scale = L.p < 1.0 ? T(1.0 / (1.0 - L.p)) : T(0);
                    T* mk = mask[i].p;
                    T* o = y[i].p;
                    for (int64_t e = 0; e < m; ++e) {
                        const uint64_t u = mix64(key + uint64_t(e));
                        mk[e] = double(u) >= thr ? scale : T(0);
                        o[e] = cur[e] * mk[e];
                    }
                    cur = o;
                }
                break;
            case LayerKind::flatten:
                break;
            }
            out_ptr[i] = cur;
        }
        if (training) ++forwards;
        n = rows;
        return cur;
    }

    // db[j] = sum over rows of dZ[r][j], in row order: blocks of 32 rows summed
    // in T (a vectorised loop), the block sums added in double.
    void bias_grad(const T* dZ, int64_t rows, int64_t cols, T* db) {
        constexpr int64_t kBlock = 32;
        colsum.reserve(cols);
        part.reserve(cols);
        double* acc = colsum.p;
        T* blk = part.p;
        for (int64_t j = 0; j < cols; ++j) acc[j] = 0.0;
        for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
            const int64_t r1 = std::min(rows, r0 + kBlock);
            std::memcpy(blk, dZ + r0 * cols, std::size_t(cols) * sizeof(T));
            for (int64_t r = r0 + 1; r < r1; ++r) {
                const T* __restrict row = dZ + r * cols;
                for (int64_t j = 0; j < cols; ++j) blk[j] += row[j];
            }
            for (int64_t j = 0; j < cols; ++j) acc[j] += double(blk[j]);
        }
        for (int64_t j = 0; j < cols; ++j) db[j] = T(acc[j]);
    }

    void backward(const T* g, T* dx, int nt) {
        const int64_t rows = n;
        const T* cur = g;
        for (std::size_t ii = layers.size(); ii-- > 0;) {
            const LayerSpec<T>& L = layers[ii];
            const bool first = ii == 0;
            if (first && dx == nullptr && L.kind != LayerKind::dense) return;
            T* dst = first ? dx : (cur == g0.p ? g1.p : g0.p);
            const int64_t m = rows * L.out;
            switch (L.kind) {
            case LayerKind::dense: {
                const T* dZ = cur;
                if (L.act != Act::identity) {
                    if (!backward_from_output(L.act)) act_backward<T>(L.act, z[ii].p, cur, dz.p, m, L.ap, nt);
                    else if (L.act == Act::relu) act_backward<T>(L.act, y[ii].p, cur, dz.p, m, L.ap, nt);
                    else act_backward_y<T>(L.act, y[ii].p, cur, dz.p, m, nt);
                    dZ = dz.p;
                }
                GemmProblem<T> P;   // dW = dZ^T x
                P.m = L.out; P.n = L.in; P.k = rows;
                P.a = dZ; P.rsa = 1; P.csa = L.out;
                P.b = in_ptr[ii]; P.rsb = L.in; P.csb = 1;
                P.c = L.dW; P.rsc = L.in; P.csc = 1;
                run_gemm(P, nt);
                if (L.db) bias_grad(dZ, rows, L.out, L.db);
                if (dst) {
                    GemmProblem<T> Q;   // dx = dZ W
                    Q.m = rows; Q.n = L.in; Q.k = L.out;
                    Q.a = dZ; Q.rsa = L.out; Q.csa = 1;
                    Q.b = L.W; Q.rsb = L.in; Q.csb = 1;
                    Q.c = dst; Q.rsc = L.in; Q.csc = 1;
                    run_gemm(Q, nt);
                }
                break;
            }
            case LayerKind::activation:
                act_backward<T>(L.act, in_ptr[ii], cur, dst, m, L.ap, nt);
                break;
            case LayerKind::softmax:
            case LayerKind::log_softmax:
                softmax_backward_y<T>(out_ptr[ii], cur, dst, rows, L.out, L.kind == LayerKind::log_softmax, nt);
                break;
            case LayerKind::dropout:
                if (masked[ii]) {
                    const T* mk = mask[ii].p;
                    for (int64_t e = 0; e < m; ++e) dst[e] = cur[e] * mk[e];
                } else if (first) {
                    std::memcpy(dst, cur, std::size_t(m) * sizeof(T));
                } else {
                    dst = const_cast<T*>(cur);   // identity: pass the gradient through
                }
                break;
            case LayerKind::flatten:
                if (first) std::memcpy(dst, cur, std::size_t(m) * sizeof(T));
                else dst = const_cast<T*>(cur);
                break;
            }
            if (first) return;
            cur = dst;
        }
        // No layers: the gradient of the identity.
        if (dx && layers.empty()) std::memcpy(dx, g, std::size_t(rows * in) * sizeof(T));
    }

    const T* output() const { return layers.empty() ? x.p : out_ptr.back(); }
};

template <class T>
Network<T>::Network(const std::vector<LayerSpec<T>>& layers) : impl_(new Impl) {
    Impl& s = *impl_;
    s.layers = layers;
    const std::size_t L = layers.size();
    s.y.resize(L); s.z.resize(L); s.mask.resize(L);
    s.in_ptr.assign(L, nullptr); s.out_ptr.assign(L, nullptr);
    s.masked.assign(L, 0);
    for (std::size_t i = 0; i < L; ++i) {
        const LayerSpec<T>& a = layers[i];
        if (a.in < 0 || a.out < 0) throw std::invalid_argument("network: negative layer width");
        if (a.kind != LayerKind::dense && a.in != a.out)
            throw std::invalid_argument("network: only dense layers change the width");
        if (i > 0 && layers[i - 1].out != a.in) throw std::invalid_argument("network: layer widths do not chain");
        if (a.kind == LayerKind::dense && (a.W == nullptr || a.dW == nullptr || (a.b != nullptr) != (a.db != nullptr)))
            throw std::invalid_argument("network: dense layer without its arrays");
        if (a.kind == LayerKind::dropout && !(a.p >= 0.0 && a.p <= 1.0))
            throw std::invalid_argument("network: dropout probability outside [0, 1]");
        s.widest = std::max(s.widest, std::max(a.in, a.out));
    }
    s.in = L ? layers.front().in : 0;
    s.out = L ? layers.back().out : 0;
}

template <class T>
Network<T>::~Network() { delete impl_; }

template <class T> int64_t Network<T>::in_features() const { return impl_->in; }
template <class T> int64_t Network<T>::out_features() const { return impl_->out; }
template <class T> int64_t Network<T>::capacity() const { return impl_->cap; }
template <class T> int64_t Network<T>::rows() const { return impl_->n; }
template <class T> uint64_t Network<T>::forward_count() const { return impl_->forwards; }
template <class T> void Network<T>::set_forward_count(uint64_t c) { impl_->forwards = c; }
template <class T> void Network<T>::reserve(int64_t rows) { impl_->reserve(rows); }

template <class T>
const T* Network<T>::forward(const T* x, int64_t n, bool training, int nthreads) {
    Impl& s = *impl_;
    s.reserve(n);
    if (n * s.in > 0) std::memcpy(s.x.p, x, std::size_t(n * s.in) * sizeof(T));
    return s.run_forward(n, training, nthreads);
}

template <class T>
const T* Network<T>::forward_rows(const T* X, const int64_t* idx, int64_t n, bool training, int nthreads) {
    Impl& s = *impl_;
    s.reserve(n);
    const std::size_t row = std::size_t(s.in) * sizeof(T);
    for (int64_t r = 0; r < n; ++r) std::memcpy(s.x.p + r * s.in, X + idx[r] * s.in, row);
    return s.run_forward(n, training, nthreads);
}

template <class T>
void Network<T>::backward(const T* g, T* dx, int nthreads) { impl_->backward(g, dx, nthreads); }

template <class T>
StepResult Network<T>::loss(const NetLossSpec<T>& spec, const NetTargets<T>& t, const int64_t* idx, T* grad,
                            int nthreads) {
    Impl& s = *impl_;
    const int64_t n = s.n, C = s.layers.empty() ? s.in : s.out;
    const T* y = s.output();
    StepResult res;
    const T* sw = nullptr;
    if (t.sample_weight) {
        s.sw.reserve(n);
        for (int64_t r = 0; r < n; ++r) s.sw.p[r] = t.sample_weight[idx[r]];
        sw = s.sw.p;
    }
    if (spec.kind == NetLoss::cross_entropy || spec.kind == NetLoss::nll) {
        s.tidx.reserve(n);
        s.rowloss.reserve(n);
        int64_t* ti = s.tidx.p;
        double D = 0.0;
        const T* w = spec.class_weight;
        for (int64_t r = 0; r < n; ++r) {
            const int64_t v = t.index[idx[r]];
            ti[r] = v;
            if (v == spec.ignore_index) continue;
            if (v < 0 || v >= C)
                throw std::out_of_range("Target " + std::to_string(v) + " is out of bounds (" + std::to_string(C) +
                                        " classes).");
            D += (sw ? double(sw[r]) : 1.0) * (w ? double(w[v]) : 1.0);
        }
        double* rl = s.rowloss.p;
        if (spec.kind == NetLoss::cross_entropy) {
            CeRows<T> a;
            a.x = y; a.target = ti; a.weight = w;
            double W = double(C);
            if (w) {
                W = 0.0;
                for (int64_t c = 0; c < C; ++c) W += double(w[c]);
            }
            a.weight_sum = W;
            a.ignore_index = spec.ignore_index;
            a.smoothing = spec.smoothing;
            a.grad = grad; a.gout = sw; a.gscale = 1.0 / D; a.loss = rl;
            cross_entropy<T>(a, n, C, 1, nthreads);
        } else {
            nll_loss<T>(y, ti, w, spec.ignore_index, rl, grad, sw, 1.0 / D, n, C, 1, nthreads);
        }
        if (sw)
            for (int64_t r = 0; r < n; ++r) rl[r] *= double(sw[r]);
        res.loss = fixed_order_sum(rl, n) / D;
        res.weight = D;
        for (int64_t r = 0; r < n; ++r) {
            if (ti[r] == spec.ignore_index) continue;
            const T* row = y + r * C;
            int64_t best = 0;
            for (int64_t c = 1; c < C; ++c)
                if (row[c] > row[best]) best = c;
            res.correct += best == ti[r];
            ++res.counted;
        }
        return res;
    }
    // Element-wise losses: 'mean' over all n * C elements, each row weighted by its sample weight.
    const int64_t m = n * C;
    s.tval.reserve(m);
    const std::size_t row = std::size_t(C) * sizeof(T);
    for (int64_t r = 0; r < n; ++r) std::memcpy(s.tval.p + r * C, t.value + idx[r] * C, row);
    EwLossArgs<T> a;
    a.n = m; a.x = y; a.y = s.tval.p; a.grad = grad; a.p0 = spec.p0; a.p1 = spec.p1;
    double D = double(m);
    if (sw) {
        s.dz.reserve(m);   // free between backward passes: holds the per-element weights here
        double W = 0.0;
        for (int64_t r = 0; r < n; ++r) {
            W += double(sw[r]);
            for (int64_t c = 0; c < C; ++c) s.dz.p[r * C + c] = sw[r];
        }
        D = W * double(C);
        a.w = s.dz.p;
    }
    int bad = 0;
    a.bad = &bad;
    a.gscale = 1.0 / D;
    a.want_value = true;
    const double total = ew_loss<T>(spec.ew, a, nthreads);
    if (bad) throw std::domain_error("all elements of input should be between 0 and 1");
    res.loss = total / D;
    res.weight = D;
    if (spec.ew == EwLoss::bce || spec.ew == EwLoss::bce_logits || spec.ew == EwLoss::hinge ||
        spec.ew == EwLoss::squared_hinge || spec.ew == EwLoss::focal) {
        // binary accuracy per element: the prediction's side of the threshold against the target's
        const bool prob = spec.ew == EwLoss::bce;
        const bool pm1 = spec.ew == EwLoss::hinge || spec.ew == EwLoss::squared_hinge;
        const T* tv = s.tval.p;
        for (int64_t e = 0; e < m; ++e) {
            const bool pred = prob ? y[e] >= T(0.5) : y[e] >= T(0);
            const bool truth = pm1 ? tv[e] > T(0) : tv[e] >= T(0.5);
            res.correct += pred == truth;
        }
        res.counted = m;
    }
    return res;
}

template <class T>
StepResult Network<T>::train_step(const T* X, const int64_t* idx, int64_t n, const NetLossSpec<T>& spec,
                                  const NetTargets<T>& t, void (*update)(void*, int), void* ctx, int nthreads) {
    Impl& s = *impl_;
    forward_rows(X, idx, n, true, nthreads);
    s.gloss.reserve(n * (s.layers.empty() ? s.in : s.out));
    const StepResult res = loss(spec, t, idx, s.gloss.p, nthreads);
    s.backward(s.gloss.p, nullptr, nthreads);
    if (update) update(ctx, nthreads);
    return res;
}

template class Network<float>;
template class Network<double>;

}  // namespace nnmat
