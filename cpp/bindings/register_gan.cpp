// Bindings for the GAN losses (cpp/losses/gan.h). The Python layer
// (src/nnmat/losses/_gan.py) validates arguments, promotes dtypes, makes inputs
// contiguous and composes the losses from streams; these functions check the
// arrays they are given, release the GIL around the kernel and return
// (sum, terms or None, grad or None).
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
const T* contiguous_data(const py::array& a, const char* fn, const char* name, int64_t expected_size) {
    const ArrayView<T> v = view_of<T>(a, name);
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(fn) + ": " + name + " must be C-contiguous");
    if (int64_t(a.size()) != expected_size)
        throw py::value_error(std::string(fn) + ": " + name + " has the wrong number of elements");
    return v.data;
}

template <class T>
py::array_t<T> new_like(const py::array& a) {
    std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
    return py::array_t<T>(shape);
}

// x: any shape, C-contiguous -> (sum, terms (x's shape) | None, grad (x's shape) | None)
template <class T>
py::tuple gan_stream_py(const py::array& x, int kind, double scale, double p, bool want_value,
                        bool want_terms, bool want_grad, const py::object& gout, double gfactor) {
    const char* fn = "gan_stream";
    if (kind < 0 || kind > 2) throw py::value_error("gan_stream: unknown term kind");
    const int64_t n = int64_t(x.size());
    const T* xd = contiguous_data<T>(x, fn, "x", n);
    const T* gd = nullptr;
    py::array gout_arr;
    if (!gout.is_none()) {
        gout_arr = py::reinterpret_borrow<py::array>(gout);
        gd = contiguous_data<T>(gout_arr, fn, "grad_output", n);
    }
    py::object terms = py::none(), grad = py::none();
    T* td = nullptr;
    T* grd = nullptr;
    if (want_terms) { auto a = new_like<T>(x); td = a.mutable_data(); terms = a; }
    if (want_grad) { auto a = new_like<T>(x); grd = a.mutable_data(); grad = a; }
    const int nt = get_num_threads();
    double s;
    {
        py::gil_scoped_release nogil;
        s = gan_stream<T>(GanTerm(kind), scale, p, xd, n, want_value, td, gd, gfactor, grd, nt);
    }
    return py::make_tuple(s, terms, grad);
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
    m.def("gan_stream_f32", &gan_stream_py<float>, py::arg("x"), py::arg("kind"), py::arg("scale"),
          py::arg("p"), py::arg("want_value"), py::arg("want_terms"), py::arg("want_grad"),
          py::arg("grad_output"), py::arg("gfactor"));
    m.def("gan_stream_f64", &gan_stream_py<double>, py::arg("x"), py::arg("kind"), py::arg("scale"),
          py::arg("p"), py::arg("want_value"), py::arg("want_terms"), py::arg("want_grad"),
          py::arg("grad_output"), py::arg("gfactor"));
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
