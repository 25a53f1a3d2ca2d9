// Bindings of the multi-class kernels (cpp/losses/multiclass.h). The Python
// layer (nnmat.losses._multiclass, nnmat.activations._softmax) decides dtypes,
// shapes and the (outer, C, inner) view and passes C-contiguous arrays; these
// functions re-check what a kernel relies on (dtype, size, contiguity, target
// range), allocate the results with the GIL held and release it around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/multiclass.h"

namespace nnmat {
namespace {

const int64_t* contig_targets(const py::object& obj, const char* fn, int64_t n) {
    const py::array arr = obj.cast<py::array>();
    if (!py::isinstance<py::array_t<int64_t>>(arr))
        throw py::type_error(std::string(fn) + ": target must be an int64 array");
    if (!(arr.flags() & py::array::c_style) || int64_t(arr.size()) != n)
        throw py::value_error(std::string(fn) + ": target must be C-contiguous with " + std::to_string(n) +
                              " elements");
    return static_cast<const int64_t*>(arr.data());
}

enum class Red { none, mean, sum };
Red parse_red(const std::string& r, const char* fn) {
    if (r == "none") return Red::none;
    if (r == "mean") return Red::mean;
    if (r == "sum") return Red::sum;
    throw py::value_error(std::string(fn) + ": reduction must be 'mean', 'sum' or 'none'");
}

template <class T>
py::array_t<T> new_array(int64_t n) { return py::array_t<T>(std::vector<py::ssize_t>{py::ssize_t(n)}); }

// value from per-row losses: ndarray (none), sum, or sum / divisor (mean).
py::object reduce_rows(const py::array_t<double>& loss, Red red, double divisor) {
    if (red == Red::none) return loss;
    const double s = fixed_order_sum(loss.data(), int64_t(loss.size()));
    if (red == Red::sum) return py::float_(s);
    return py::float_(s / divisor);   // 0/0 -> NaN for empty or all-ignored input
}

// Checks index targets (each in [0, C) or == ignore_index) and returns D = sum of
// w[y] over the valid ones (their count when unweighted), added in position order.
template <class T>
double check_targets(const int64_t* y, int64_t n, int64_t C, int64_t ignore, const T* w, const char* fn) {
    double D = 0;
    for (int64_t p = 0; p < n; ++p) {
        const int64_t v = y[p];
        if (v == ignore) continue;
        if (v < 0 || v >= C)
            throw py::index_error(std::string(fn) + ": Target " + std::to_string(v) + " is out of bounds (" +
                                  std::to_string(C) + " classes).");
        D += w ? double(w[v]) : 1.0;
    }
    return D;
}

// ------------------------------------------------------------- activations
template <class T>
void softmax_b(const py::array& x, const py::array& out, int64_t outer, int64_t C, int64_t inner, bool log) {
    const int64_t n = outer * C * inner;
    const T* xp = contiguous_data<T>(x, "softmax", "x", n);
    T* yp = contiguous_data<T>(out, "softmax", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    softmax_forward<T>(xp, yp, outer, C, inner, log, nt);
}

template <class T>
void softmax_backward_b(const py::array& x, const py::array& g, const py::array& dx, int64_t outer, int64_t C,
                        int64_t inner, bool log) {
    const int64_t n = outer * C * inner;
    const T* xp = contiguous_data<T>(x, "softmax.backward", "x", n);
    const T* gp = contiguous_data<T>(g, "softmax.backward", "grad_output", n);
    T* dp = contiguous_data<T>(dx, "softmax.backward", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    softmax_backward<T>(xp, gp, dp, outer, C, inner, log, nt);
}

template <class T>
void sparsemax_b(const py::array& x, const py::array& out, int64_t outer, int64_t C, int64_t inner) {
    const int64_t n = outer * C * inner;
    const T* xp = contiguous_data<T>(x, "sparsemax", "x", n);
    T* yp = contiguous_data<T>(out, "sparsemax", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    sparsemax_forward<T>(xp, yp, outer, C, inner, nt);
}

template <class T>
void sparsemax_backward_b(const py::array& x, const py::array& g, const py::array& dx, int64_t outer, int64_t C,
                          int64_t inner) {
    const int64_t n = outer * C * inner;
    const T* xp = contiguous_data<T>(x, "sparsemax.backward", "x", n);
    const T* gp = contiguous_data<T>(g, "sparsemax.backward", "grad_output", n);
    T* dp = contiguous_data<T>(dx, "sparsemax.backward", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    sparsemax_backward<T>(xp, gp, dp, outer, C, inner, nt);
}

// ------------------------------------------------------------------ losses
// cross_entropy / nll_loss: x (outer, C, inner); target int64 (outer*inner) or
// prob (like x); returns (value or None, grad or None).
template <class T>
py::tuple cross_entropy_b(const py::array& x, const py::object& target, const py::object& prob,
                          const py::object& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                          double smoothing, const std::string& reduction, bool want_value, bool want_grad,
                          const py::object& gout, double gscalar) {
    const char* fn = "cross_entropy";
    const Red red = parse_red(reduction, fn);
    const int64_t P = outer * inner, n = P * C;
    if (C <= 0 && P > 0) throw py::value_error("cross_entropy: input has no classes (C = 0)");
    CeRows<T> a;
    a.x = contiguous_data<T>(x, fn, "input", n);
    a.weight = contiguous_data<T>(weight, fn, "weight", C, false, true);
    a.gout = contiguous_data<T>(gout, fn, "grad_output", P, false, true);
    a.smoothing = smoothing;
    a.ignore_index = ignore_index;
    double W = double(C);
    if (a.weight) {
        W = 0;
        for (int64_t c = 0; c < C; ++c) W += double(a.weight[c]);
    }
    a.weight_sum = W;
    double D;
    if (!prob.is_none()) {
        a.prob = contiguous_data<T>(prob, fn, "target", n);
        D = double(P);
    } else {
        a.target = contig_targets(target, fn, P);
        D = check_targets<T>(a.target, P, C, ignore_index, a.weight, fn);
    }
    a.gscale = gscalar / (red == Red::mean ? D : 1.0);
    py::array_t<double> loss;
    py::object grad = py::none();
    if (want_value) {
        loss = new_array<double>(P);
        a.loss = loss.mutable_data();
    }
    if (want_grad) {
        py::array_t<T> g = new_array<T>(n);
        a.grad = g.mutable_data();
        grad = g;
    }
    if (!want_value && !want_grad) return py::make_tuple(py::none(), py::none());
    if (!want_grad && red != Red::none) a.gscale = 1;
    {
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        cross_entropy<T>(a, outer, C, inner, nt);
    }
    py::object value = want_value ? reduce_rows(loss, red, D) : py::object(py::none());
    return py::make_tuple(value, grad);
}

template <class T>
py::tuple nll_loss_b(const py::array& x, const py::object& target, const py::object& weight, int64_t outer,
                     int64_t C, int64_t inner, int64_t ignore_index, const std::string& reduction, bool want_value,
                     bool want_grad, const py::object& gout, double gscalar) {
    const char* fn = "nll_loss";
    const Red red = parse_red(reduction, fn);
    const int64_t P = outer * inner, n = P * C;
    const T* xp = contiguous_data<T>(x, fn, "input", n);
    const T* w = contiguous_data<T>(weight, fn, "weight", C, false, true);
    const T* go = contiguous_data<T>(gout, fn, "grad_output", P, false, true);
    const int64_t* y = contig_targets(target, fn, P);
    const double D = check_targets<T>(y, P, C, ignore_index, w, fn);
    const double gscale = gscalar / (red == Red::mean ? D : 1.0);
    py::array_t<double> loss;
    double* lp = nullptr;
    T* gp = nullptr;
    py::object grad = py::none();
    if (want_value) {
        loss = new_array<double>(P);
        lp = loss.mutable_data();
    }
    if (want_grad) {
        py::array_t<T> g = new_array<T>(n);
        gp = g.mutable_data();
        grad = g;
    }
    {
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        nll_loss<T>(xp, y, w, ignore_index, lp, gp, go, gscale, outer, C, inner, nt);
    }
    py::object value = want_value ? reduce_rows(loss, red, D) : py::object(py::none());
    return py::make_tuple(value, grad);
}

// torch kl_div, element-wise over n elements; divisor: numel ('mean'), batch ('batchmean'), 1.
template <class T>
py::tuple kl_div_b(const py::array& x, const py::array& t, bool log_target, bool none, double divisor,
                   bool want_value, bool want_grad, const py::object& gout, double gscalar) {
    const char* fn = "kl_div";
    const int64_t n = int64_t(x.size());
    const T* xp = contiguous_data<T>(x, fn, "input", n);
    const T* tp = contiguous_data<T>(t, fn, "target", n);
    const T* go = contiguous_data<T>(gout, fn, "grad_output", n, false, true);
    py::object value = py::none(), grad = py::none();
    T* none_out = nullptr;
    T* gp = nullptr;
    if (want_value && none) {
        py::array_t<T> v = new_array<T>(n);
        none_out = v.mutable_data();
        value = v;
    }
    if (want_grad) {
        py::array_t<T> g = new_array<T>(n);
        gp = g.mutable_data();
        grad = g;
    }
    double s;
    {
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        s = kl_div<T>(xp, tp, n, log_target, want_value, none_out, gp, go, gscalar / divisor, nt);
    }
    if (want_value && !none) value = py::float_(s / divisor);
    return py::make_tuple(value, grad);
}

// Row losses with the class axis last: x, t (rows, C) -> per-row loss; 'mean' = sum / rows.
template <class T, bool KERAS>
py::tuple row_loss_b(const py::array& x, const py::array& t, int64_t rows, int64_t C, const std::string& reduction,
                     bool want_value, bool want_grad, const py::object& gout, double gscalar) {
    const char* fn = KERAS ? "kl_divergence" : "sparsemax_loss";
    const Red red = parse_red(reduction, fn);
    const int64_t n = rows * C;
    const T* xp = contiguous_data<T>(x, fn, "input", n);
    const T* tp = contiguous_data<T>(t, fn, "target", n);
    const T* go = contiguous_data<T>(gout, fn, "grad_output", rows, false, true);
    const double gscale = gscalar / (red == Red::mean ? double(rows) : 1.0);
    py::array_t<double> loss;
    double* lp = nullptr;
    T* gp = nullptr;
    py::object grad = py::none();
    if (want_value) {
        loss = new_array<double>(rows);
        lp = loss.mutable_data();
    }
    if (want_grad) {
        py::array_t<T> g = new_array<T>(n);
        gp = g.mutable_data();
        grad = g;
    }
    {
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        if (KERAS) keras_kl<T>(xp, tp, lp, gp, go, gscale, rows, C, nt);
        else sparsemax_loss<T>(xp, tp, lp, gp, go, gscale, rows, C, nt);
    }
    py::object value = want_value ? reduce_rows(loss, red, double(rows)) : py::object(py::none());
    return py::make_tuple(value, grad);
}

template <class T>
void register_typed(py::module_& m, const std::string& sfx) {
    m.def(("softmax_" + sfx).c_str(), &softmax_b<T>, py::arg("x"), py::arg("out"), py::arg("outer"), py::arg("C"),
          py::arg("inner"), py::arg("log"));
    m.def(("softmax_backward_" + sfx).c_str(), &softmax_backward_b<T>, py::arg("x"), py::arg("g"), py::arg("dx"),
          py::arg("outer"), py::arg("C"), py::arg("inner"), py::arg("log"));
    m.def(("sparsemax_" + sfx).c_str(), &sparsemax_b<T>, py::arg("x"), py::arg("out"), py::arg("outer"),
          py::arg("C"), py::arg("inner"));
    m.def(("sparsemax_backward_" + sfx).c_str(), &sparsemax_backward_b<T>, py::arg("x"), py::arg("g"),
          py::arg("dx"), py::arg("outer"), py::arg("C"), py::arg("inner"));
    m.def(("cross_entropy_" + sfx).c_str(), &cross_entropy_b<T>, py::arg("x"), py::arg("target"), py::arg("prob"),
          py::arg("weight"), py::arg("outer"), py::arg("C"), py::arg("inner"), py::arg("ignore_index"),
          py::arg("smoothing"), py::arg("reduction"), py::arg("want_value"), py::arg("want_grad"),
          py::arg("gout"), py::arg("gscalar"));
    m.def(("nll_loss_" + sfx).c_str(), &nll_loss_b<T>, py::arg("x"), py::arg("target"), py::arg("weight"),
          py::arg("outer"), py::arg("C"), py::arg("inner"), py::arg("ignore_index"), py::arg("reduction"),
          py::arg("want_value"), py::arg("want_grad"), py::arg("gout"), py::arg("gscalar"));
    m.def(("kl_div_" + sfx).c_str(), &kl_div_b<T>, py::arg("x"), py::arg("t"), py::arg("log_target"),
          py::arg("none"), py::arg("divisor"), py::arg("want_value"), py::arg("want_grad"), py::arg("gout"),
          py::arg("gscalar"));
    m.def(("kl_divergence_" + sfx).c_str(), &row_loss_b<T, true>, py::arg("x"), py::arg("t"), py::arg("rows"),
          py::arg("C"), py::arg("reduction"), py::arg("want_value"), py::arg("want_grad"), py::arg("gout"),
          py::arg("gscalar"));
    m.def(("sparsemax_loss_" + sfx).c_str(), &row_loss_b<T, false>, py::arg("x"), py::arg("t"), py::arg("rows"),
          py::arg("C"), py::arg("reduction"), py::arg("want_value"), py::arg("want_grad"), py::arg("gout"),
          py::arg("gscalar"));
}

}  // namespace

void register_multiclass(py::module_& m) {
    register_typed<float>(m, "f32");
    register_typed<double>(m, "f64");
    m.def("multiclass_isa", [] { return std::string(multiclass_kernels().name); });
}

NNMAT_REGISTER_BINDINGS(register_multiclass);

}  // namespace nnmat
