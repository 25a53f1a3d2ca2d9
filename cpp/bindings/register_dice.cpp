// Bindings for the dice losses (cpp/losses/dice.h). The Python layer
// (src/nnmat/losses/_dice.py) validates arguments, promotes dtypes, moves the
// reduced axes last and reshapes; these functions check the arrays they get,
// release the GIL around the kernel and return the results.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/dice.h"

namespace nnmat {
namespace {

template <class T>
const T* c_data(const py::array& a, const char* fn, const char* name, const std::vector<int64_t>& shape) {
    const T* data = contiguous_data<T>(a, fn, name);
    bool ok = int64_t(a.ndim()) == int64_t(shape.size());
    for (int i = 0; ok && i < int(a.ndim()); ++i) ok = int64_t(a.shape(i)) == shape[std::size_t(i)];
    if (!ok) throw py::value_error(std::string(fn) + ": " + name + " has the wrong shape");
    return data;
}

// p, y: (M, K) -> (sum of row losses, per-row values (M,) | None, grad (M, K) | None)
template <class T>
py::tuple dice_rows_py(const py::array& p, const py::array& y, double eps, bool want_values, bool want_grad,
                       const py::object& gout, double gfactor) {
    const char* fn = "dice_loss";
    if (p.ndim() != 2) throw py::value_error("dice_loss: input must be 2-D (rows, reduced elements)");
    const int64_t M = p.shape(0), K = p.shape(1);
    const T* pd = c_data<T>(p, fn, "input", {M, K});
    const T* yd = c_data<T>(y, fn, "target", {M, K});
    const T* gd = nullptr;
    if (!gout.is_none()) gd = c_data<T>(py::reinterpret_borrow<py::array>(gout), fn, "grad_output", {M});
    py::object values = py::none(), grad = py::none();
    T* vd = nullptr;
    T* grd = nullptr;
    if (want_values) { py::array_t<T> a(std::vector<py::ssize_t>{py::ssize_t(M)}); vd = a.mutable_data(); values = a; }
    if (want_grad) { py::array_t<T> a(std::vector<py::ssize_t>{py::ssize_t(M), py::ssize_t(K)}); grd = a.mutable_data(); grad = a; }
    const int nt = get_num_threads();
    double s;
    {
        py::gil_scoped_release nogil;
        s = dice_rows<T>(pd, yd, M, K, eps, vd, gd, gfactor, grd, nt);
    }
    return py::make_tuple(s, values, grad);
}

// x: (N, C, L); target: (N, C, L) of T (binary/multilabel) or (N, L) int64 labels (multiclass);
// class_mult: (C,) float64. -> (value, grad (N, C, L) | None)
template <class T>
py::tuple soft_dice_py(const py::array& x, const py::array& target, int mode, const py::array& class_mult,
                       bool log_loss, bool from_logits, double smooth, double eps, const py::object& ignore_index,
                       bool want_grad, double gfactor) {
    const char* fn = "soft_dice_loss";
    if (x.ndim() != 3) throw py::value_error("soft_dice_loss: input must be (N, C, L)");
    if (mode < 0 || mode > 2) throw py::value_error("soft_dice_loss: unknown mode");
    const int64_t N = x.shape(0), C = x.shape(1), L = x.shape(2);
    const T* xd = c_data<T>(x, fn, "input", {N, C, L});
    SoftDiceParams prm;
    prm.mode = DiceMode(mode);
    prm.from_logits = from_logits;
    prm.log_loss = log_loss;
    prm.smooth = smooth;
    prm.eps = eps;
    const T* yd = nullptr;
    const int64_t* ld = nullptr;
    if (prm.mode == DiceMode::Multiclass) {
        if (!py::isinstance<py::array_t<int64_t>>(target))
            throw py::type_error("soft_dice_loss: multiclass target must be an int64 array");
        if (!(target.flags() & py::array::c_style) || target.ndim() != 2 || target.shape(0) != N ||
            target.shape(1) != L)
            throw py::value_error("soft_dice_loss: multiclass target must be C-contiguous (N, L)");
        ld = static_cast<const int64_t*>(target.data());
    } else {
        yd = c_data<T>(target, fn, "target", {N, C, L});
    }
    if (!ignore_index.is_none()) {
        prm.has_ignore = true;
        if (prm.mode == DiceMode::Multiclass) prm.ignore_label = ignore_index.cast<int64_t>();
        else prm.ignore_value = ignore_index.cast<double>();
    }
    if (!py::isinstance<py::array_t<double>>(class_mult) || class_mult.ndim() != 1 || class_mult.shape(0) != C ||
        !(class_mult.flags() & py::array::c_style))
        throw py::value_error("soft_dice_loss: class_mult must be a contiguous float64 (C,) array");
    prm.class_mult = static_cast<const double*>(class_mult.data());
    double nsel = 0.0;
    for (int64_t c = 0; c < C; ++c) nsel += prm.class_mult[c];
    prm.n_selected = nsel;
    if (ld) {
        const int64_t bad = soft_dice_first_bad_label(ld, N * L, C, prm.has_ignore, prm.ignore_label);
        if (bad >= 0)
            throw py::index_error("soft_dice_loss: target label " + std::to_string(ld[bad]) +
                                  " is out of range for " + std::to_string(C) + " classes");
    }
    py::object grad = py::none();
    T* grd = nullptr;
    if (want_grad) {
        py::array_t<T> a(std::vector<py::ssize_t>{py::ssize_t(N), py::ssize_t(C), py::ssize_t(L)});
        grd = a.mutable_data();
        grad = a;
    }
    const int nt = get_num_threads();
    double v;
    {
        py::gil_scoped_release nogil;
        v = soft_dice<T>(xd, N, C, L, yd, ld, prm, gfactor, grd, nt);
    }
    return py::make_tuple(v, grad);
}

void register_dice(py::module_& m) {
    m.def("dice_rows_f32", &dice_rows_py<float>, py::arg("input"), py::arg("target"), py::arg("eps"),
          py::arg("want_values"), py::arg("want_grad"), py::arg("grad_output"), py::arg("gfactor"));
    m.def("dice_rows_f64", &dice_rows_py<double>, py::arg("input"), py::arg("target"), py::arg("eps"),
          py::arg("want_values"), py::arg("want_grad"), py::arg("grad_output"), py::arg("gfactor"));
    m.def("soft_dice_f32", &soft_dice_py<float>, py::arg("input"), py::arg("target"), py::arg("mode"),
          py::arg("class_mult"), py::arg("log_loss"), py::arg("from_logits"), py::arg("smooth"), py::arg("eps"),
          py::arg("ignore_index"), py::arg("want_grad"), py::arg("gfactor"));
    m.def("soft_dice_f64", &soft_dice_py<double>, py::arg("input"), py::arg("target"), py::arg("mode"),
          py::arg("class_mult"), py::arg("log_loss"), py::arg("from_logits"), py::arg("smooth"), py::arg("eps"),
          py::arg("ignore_index"), py::arg("want_grad"), py::arg("gfactor"));
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_dice);

}  // namespace nnmat
