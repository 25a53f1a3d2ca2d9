// Bindings for the LPIPS feature distance (cpp/losses/perceptual.h). The Python layer
// (src/nnmat/losses/_perceptual.py) validates arguments, runs the feature network and
// reshapes features to (N, C, P); this checks the arrays, releases the GIL around the
// kernel and returns the results.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/perceptual.h"

namespace nnmat {
namespace {

// a, b: (N, C, P); w: (C,); gout: (N,) | None
// -> (sum of per-sample values, values (N,), grad (N, C, P) | None)
template <class T>
py::tuple lpips_py(const py::array& a, const py::array& b, const py::array& w, double eps, bool want_grad,
                   const py::object& gout, double gscale) {
    const char* fn = "perceptual_loss";
    if (a.ndim() != 3) throw py::value_error("perceptual_loss: features must be (N, C, P)");
    const int64_t N = a.shape(0), C = a.shape(1), P = a.shape(2);
    if (b.ndim() != 3 || b.shape(0) != N || b.shape(1) != C || b.shape(2) != P)
        throw py::value_error("perceptual_loss: target features must have the input features' shape");
    if (w.ndim() != 1 || w.shape(0) != C)
        throw py::value_error("perceptual_loss: lpips weights must have shape (C,)");
    const T* ad = contiguous_data<T>(a, fn, "input features", N * C * P);
    const T* bd = contiguous_data<T>(b, fn, "target features", N * C * P);
    const T* wd = contiguous_data<T>(w, fn, "lpips weights", C);
    const T* gd = contiguous_data<T>(gout, fn, "grad_output", N, false, true);
    py::array_t<T> values(std::vector<py::ssize_t>{py::ssize_t(N)});
    T* vd = values.mutable_data();
    py::object grad = py::none();
    T* grd = nullptr;
    if (want_grad) {
        py::array_t<T> g(std::vector<py::ssize_t>{py::ssize_t(N), py::ssize_t(C), py::ssize_t(P)});
        grd = g.mutable_data();
        grad = g;
    }
    const int nt = get_num_threads();
    double s;
    {
        py::gil_scoped_release nogil;
        s = lpips_forward_backward<T>(ad, bd, wd, N, C, P, eps, vd, gd, gscale, grd, nt);
    }
    return py::make_tuple(s, values, grad);
}

void register_perceptual(py::module_& m) {
    m.def("lpips_f32", &lpips_py<float>, py::arg("a"), py::arg("b"), py::arg("w"), py::arg("eps"),
          py::arg("want_grad"), py::arg("grad_output"), py::arg("gscale"));
    m.def("lpips_f64", &lpips_py<double>, py::arg("a"), py::arg("b"), py::arg("w"), py::arg("eps"),
          py::arg("want_grad"), py::arg("grad_output"), py::arg("gscale"));
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_perceptual);

}  // namespace nnmat
