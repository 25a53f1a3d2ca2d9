// Bindings for the WGAN-GP gradient penalty (cpp/losses/gan.h). The Python layer
// (src/nnmat/losses/_gan.py) validates arguments, promotes dtypes and makes inputs
// contiguous; this checks the arrays it is given, releases the GIL around the
// kernel and returns (sum, per-sample penalties or None, grad or None).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/gan.h"

namespace nnmat {
namespace {

template <class T>
py::array_t<T> new_like(const py::array& a) {
    std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
    return py::array_t<T>(shape);
}

// g: (B, ...) C-contiguous -> (sum of penalties, per-sample (B,) | None, grad (g's shape) | None)
template <class T>
py::tuple gradient_penalty_py(const py::array& g, double target, double eps, bool one_sided,
                              bool want_value, bool want_per_sample, bool want_grad, const py::object& gout,
                              double gfactor) {
    const char* fn = "gradient_penalty";
    if (g.ndim() < 1) throw py::value_error("gradient_penalty: grads must have a batch dimension");
    const int64_t B = int64_t(g.shape(0));
    const int64_t n = int64_t(g.size());
    const int64_t D = B > 0 ? n / B : 0;
    const T* gd = contiguous_data<T>(g, fn, "grads", n);
    const T* od = nullptr;
    py::array gout_arr;
    if (!gout.is_none()) {
        gout_arr = py::reinterpret_borrow<py::array>(gout);
        od = contiguous_data<T>(gout_arr, fn, "grad_output", B);
    }
    py::object per = py::none(), grad = py::none();
    T* pd = nullptr;
    T* grd = nullptr;
    if (want_per_sample) { py::array_t<T> a(std::vector<py::ssize_t>{py::ssize_t(B)}); pd = a.mutable_data(); per = a; }
    if (want_grad) { auto a = new_like<T>(g); grd = a.mutable_data(); grad = a; }
    const int nt = get_num_threads();
    double s;
    {
        py::gil_scoped_release nogil;
        s = gradient_penalty_forward_backward<T>(gd, B, D, target, eps, one_sided, want_value, pd, od, gfactor,
                                                 grd, nt);
    }
    return py::make_tuple(s, per, grad);
}

void register_gan(py::module_& m) {
    m.def("gradient_penalty_f32", &gradient_penalty_py<float>, py::arg("grads"), py::arg("target"),
          py::arg("eps"), py::arg("one_sided"), py::arg("want_value"), py::arg("want_per_sample"),
          py::arg("want_grad"), py::arg("grad_output"), py::arg("gfactor"));
    m.def("gradient_penalty_f64", &gradient_penalty_py<double>, py::arg("grads"), py::arg("target"),
          py::arg("eps"), py::arg("one_sided"), py::arg("want_value"), py::arg("want_per_sample"),
          py::arg("want_grad"), py::arg("grad_output"), py::arg("gfactor"));
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_gan);

}  // namespace nnmat
