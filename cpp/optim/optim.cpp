// Optimizer<T> (optim.h): segments, 64-byte aligned state, per-step scalars in
// double, and the threaded driver over the ISA kernels of optim_kernels.h.
#include "optim/optim.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include "common/parallel.h"
#include "dispatch/select.h"
#include "optim/optim_table.h"

namespace nnmat {

const OptimTable& optim_kernels() { NNMAT_SELECT_TABLE(optim_table) }

namespace {

inline auto sgd_fn(const OptimTable& t, float*) { return t.sgd_f32; }
inline auto sgd_fn(const OptimTable& t, double*) { return t.sgd_f64; }
inline auto adam_fn(const OptimTable& t, float*) { return t.adam_f32; }
inline auto adam_fn(const OptimTable& t, double*) { return t.adam_f64; }

// Elements per thread below which a second thread does not pay for its
// fork-join: the updates stream 3-9 arrays at a few bytes per element.
constexpr int64_t kOptimGrain = int64_t(1) << 15;
// Segment offsets inside a state buffer are rounded to 64 bytes.
constexpr int64_t kAlignBytes = 64;

struct AlignedFree {
    void operator()(void* p) const { ::operator delete(p, std::align_val_t(kAlignBytes)); }
};

}  // namespace

template <class T>
struct Optimizer<T>::Impl {
    OptimConfig cfg;
    std::vector<int64_t> sizes;
    std::vector<int64_t> offsets;   // element offset of each segment inside a state buffer
    int64_t padded_total = 0;       // elements of one state buffer
    int64_t total = 0;              // elements of all segments
    std::vector<std::unique_ptr<void, AlignedFree>> state;   // one buffer per kind of state
    int64_t steps = 0;
    bool momentum_started = false;  // SGD: the momentum buffers hold a value (torch: buf is not None)

    int needed_state() const {
        switch (cfg.kind) {
            case OptimKind::sgd: return cfg.momentum != 0.0 ? 1 : 0;
            case OptimKind::adam:
            case OptimKind::adamw: return cfg.amsgrad ? 3 : 2;
        }
        return 0;
    }
    // Adds zeroed buffers until there are `k` (existing buffers are kept: a
    // state(...) pointer stays valid until set_sizes()).
    void ensure_state(int k) {
        while (int(state.size()) < k) {
            const std::size_t bytes = std::size_t(std::max<int64_t>(padded_total, 1)) * sizeof(T);
            void* p = ::operator new(bytes, std::align_val_t(kAlignBytes));
            std::memset(p, 0, bytes);
            state.emplace_back(p);
        }
    }
    T* buf(int which, int seg) const { return static_cast<T*>(state[std::size_t(which)].get()) + offsets[std::size_t(seg)]; }
};

template <class T>
Optimizer<T>::Optimizer(const OptimConfig& cfg) : impl_(new Impl) {
    impl_->cfg = cfg;
}

template <class T>
Optimizer<T>::~Optimizer() { delete impl_; }

template <class T>
void Optimizer<T>::set_sizes(const std::vector<int64_t>& sizes) {
    constexpr int64_t per_line = kAlignBytes / int64_t(sizeof(T));
    std::vector<int64_t> offsets(sizes.size());
    int64_t off = 0, total = 0;
    for (std::size_t s = 0; s < sizes.size(); ++s) {
        if (sizes[s] < 0) throw std::invalid_argument("Optimizer.set_sizes: negative segment size");
        offsets[s] = off;
        off += (sizes[s] + per_line - 1) / per_line * per_line;
        total += sizes[s];
    }
    Impl& d = *impl_;
    d.state.clear();
    d.sizes = sizes;
    d.offsets = std::move(offsets);
    d.padded_total = off;
    d.total = total;
    d.steps = 0;
    d.momentum_started = false;
    d.ensure_state(d.needed_state());
}

template <class T>
const std::vector<int64_t>& Optimizer<T>::sizes() const { return impl_->sizes; }

template <class T>
OptimConfig& Optimizer<T>::config() { return impl_->cfg; }

template <class T>
int64_t Optimizer<T>::steps() const { return impl_->steps; }

template <class T>
void Optimizer<T>::set_steps(int64_t n) {
    impl_->steps = n < 0 ? 0 : n;
    impl_->momentum_started = impl_->steps > 0;
}

template <class T>
int Optimizer<T>::num_state() const { return impl_->needed_state(); }

template <class T>
T* Optimizer<T>::state(int which, int seg) {
    Impl& d = *impl_;
    if (which < 0 || which >= d.needed_state() || seg < 0 || seg >= int(d.sizes.size()))
        throw std::out_of_range("Optimizer.state: index out of range");
    d.ensure_state(d.needed_state());
    return d.buf(which, seg);
}

// Runs fn(seg, begin, end) over [0, total) split into contiguous element ranges,
// one per thread (a range may span several segments).
template <class F>
static void over_segments(const std::vector<int64_t>& sizes, int64_t total, int nthreads, F&& fn) {
    auto run_range = [&](int64_t b, int64_t e) {
        int64_t base = 0;
        for (std::size_t s = 0; s < sizes.size() && base < e; ++s) {
            const int64_t lo = std::max(b, base), hi = std::min(e, base + sizes[s]);
            if (lo < hi) fn(int(s), lo - base, hi - base);
            base += sizes[s];
        }
    };
    parallel_for(total, kOptimGrain, nthreads, run_range);
}

template <class T>
void Optimizer<T>::step(T* const* params, const T* const* grads, int nthreads) {
    Impl& d = *impl_;
    const OptimConfig& c = d.cfg;
    d.ensure_state(d.needed_state());   // allocates only when momentum/amsgrad were switched on
    const int64_t t = d.steps + 1;
    const OptimTable& tab = optim_kernels();
    if (c.kind == OptimKind::sgd) {
        SgdArgs<T> a;
        a.neg_lr = T(-c.lr);
        a.weight_decay = T(c.weight_decay);
        a.use_weight_decay = c.weight_decay != 0.0;
        a.maximize = c.maximize;
        a.momentum = T(c.momentum);
        a.one_minus_dampening = T(1.0 - c.dampening);
        a.nesterov = c.nesterov;
        a.momentum_mode = c.momentum == 0.0 ? 0 : (d.momentum_started ? 2 : 1);
        const auto f = sgd_fn(tab, static_cast<T*>(nullptr));
        const bool mom = a.momentum_mode != 0;
        over_segments(d.sizes, d.total, nthreads, [&](int s, int64_t b, int64_t e) {
            f(a, params[s] + b, grads[s] + b, mom ? d.buf(0, s) + b : nullptr, e - b);
        });
        if (mom) d.momentum_started = true;
    } else {
        AdamArgs<T> a;
        const double bc1 = 1.0 - std::pow(c.beta1, double(t));
        const double bc2 = 1.0 - std::pow(c.beta2, double(t));
        a.wd_mode = c.weight_decay == 0.0 ? 0 : (c.kind == OptimKind::adamw ? 2 : 1);
        a.weight_decay = T(c.weight_decay);
        a.decay_factor = T(1.0 - c.lr * c.weight_decay);
        a.w1 = T(1.0 - c.beta1);
        a.one_minus_w1 = T(1) - a.w1;
        a.beta2 = T(c.beta2);
        a.one_minus_beta2 = T(1.0 - c.beta2);
        a.bc2_sqrt = T(std::sqrt(bc2));
        a.eps = T(c.eps);
        a.neg_step_size = T(-(c.lr / bc1));
        a.maximize = c.maximize;
        a.amsgrad = c.amsgrad;
        const auto f = adam_fn(tab, static_cast<T*>(nullptr));
        over_segments(d.sizes, d.total, nthreads, [&](int s, int64_t b, int64_t e) {
            f(a, params[s] + b, grads[s] + b, d.buf(0, s) + b, d.buf(1, s) + b,
              c.amsgrad ? d.buf(2, s) + b : nullptr, e - b);
        });
    }
    d.steps = t;
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace nnmat
