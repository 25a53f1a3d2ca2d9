// Bindings for the element-wise kernels (activations, element-wise losses, sums).
// The Python layer (src/nnmat/activations/_elementwise.py, src/nnmat/losses/_elementwise.py)
// promotes dtypes, makes inputs contiguous and allocates outputs; these functions
// check what they are given and release the GIL around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "elementwise/eltwise.h"

namespace nnmat {
namespace {

void check_act(int act) {
    if (act < 0 || act >= int(Act::count)) throw py::value_error("unknown activation id " + std::to_string(act));
}

template <class T>
void act_forward_py(int act, const py::array& x_, const py::array& y_, double p0, double p1) {
    check_act(act);
    const int64_t n = int64_t(x_.size());
    const T* x = contiguous_data<T>(x_, "", "x", n);
    T* y = contiguous_data<T>(y_, "", "out", n, true);
    ActParams p;
    p.p0 = p0;
    p.p1 = p1;
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    act_forward<T>(Act(act), x, y, n, p, nt);
}

template <class T>
void act_backward_py(int act, const py::array& x_, const py::array& g_, const py::array& dx_, double p0,
                     double p1) {
    check_act(act);
    const int64_t n = int64_t(x_.size());
    const T* x = contiguous_data<T>(x_, "", "x", n);
    const T* g = contiguous_data<T>(g_, "", "grad_output", n);
    T* dx = contiguous_data<T>(dx_, "", "out", n, true);
    ActParams p;
    p.p0 = p0;
    p.p1 = p1;
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    act_backward<T>(Act(act), x, g, dx, n, p, nt);
}

template <class T>
void act_backward_y_py(int act, const py::array& y_, const py::array& g_, const py::array& dx_) {
    check_act(act);
    if (!act_backward_y_supported(Act(act)))
        throw py::value_error("backward from the output is available for sigmoid and tanh only");
    const int64_t n = int64_t(y_.size());
    const T* y = contiguous_data<T>(y_, "", "output", n);
    const T* g = contiguous_data<T>(g_, "", "grad_output", n);
    T* dx = contiguous_data<T>(dx_, "", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    act_backward_y<T>(Act(act), y, g, dx, n, nt);
}

// y, g, dx: C-contiguous, the softmax axis last (rows of C).
template <class T>
void softmax_backward_y_py(const py::array& y_, const py::array& g_, const py::array& dx_, int64_t C, bool log) {
    const int64_t n = int64_t(y_.size());
    if (C <= 0 || n % C != 0) throw py::value_error("softmax backward: bad row length");
    const T* y = contiguous_data<T>(y_, "", "output", n);
    const T* g = contiguous_data<T>(g_, "", "grad_output", n);
    T* dx = contiguous_data<T>(dx_, "", "out", n, true);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    softmax_backward_y<T>(y, g, dx, n / C, C, log, nt);
}

// Returns (sum of the loss, domain_error).
template <class T>
py::tuple ew_loss_py(int which, const py::array& x_, const py::object& y_, const py::object& w_,
                     const py::object& pw_, const py::object& gout_, const py::object& loss_,
                     const py::object& grad_, double gscale, double p0, double p1, bool want_value) {
    if (which < 0 || which >= int(EwLoss::count)) throw py::value_error("unknown loss id " + std::to_string(which));
    EwLossArgs<T> a;
    a.n = int64_t(x_.size());
    a.x = contiguous_data<T>(x_, "", "input", a.n);
    // target: an array of n elements, or a Python float used for every element
    if (py::isinstance<py::float_>(y_) || py::isinstance<py::int_>(y_)) a.y_const = y_.cast<double>();
    else a.y = contiguous_data<T>(y_, "", "target", a.n);
    a.w = contiguous_data<T>(w_, "", "weight", a.n, false, true);
    a.pw = contiguous_data<T>(pw_, "", "pos_weight", a.n, false, true);
    a.gout = contiguous_data<T>(gout_, "", "grad_output", a.n, false, true);
    a.loss = contiguous_data<T>(loss_, "", "loss out", a.n, true, true);
    a.grad = contiguous_data<T>(grad_, "", "grad out", a.n, true, true);
    a.gscale = gscale;
    a.p0 = p0;
    a.p1 = p1;
    a.want_value = want_value;
    int bad = 0;
    a.bad = &bad;
    const int nt = get_num_threads();
    double s;
    {
        py::gil_scoped_release nogil;
        s = ew_loss<T>(EwLoss(which), a, nt);
    }
    return py::make_tuple(s, bad != 0);
}

template <class T>
double sum_py(const py::array& x_) {
    const int64_t n = int64_t(x_.size());
    const T* x = contiguous_data<T>(x_, "", "x", n);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    return sum<T>(x, n, nt);
}

void register_eltwise(py::module_& m) {
    m.def("act_forward_f32", &act_forward_py<float>);
    m.def("act_forward_f64", &act_forward_py<double>);
    m.def("act_backward_f32", &act_backward_py<float>);
    m.def("act_backward_f64", &act_backward_py<double>);
    m.def("act_backward_y_f32", &act_backward_y_py<float>);
    m.def("act_backward_y_f64", &act_backward_y_py<double>);
    m.def("softmax_backward_y_f32", &softmax_backward_y_py<float>);
    m.def("softmax_backward_y_f64", &softmax_backward_y_py<double>);
    m.def("ew_loss_f32", &ew_loss_py<float>);
    m.def("ew_loss_f64", &ew_loss_py<double>);
    m.def("sum_f32", &sum_py<float>, "Sum in a fixed order (blocks of 4096, partials in double).");
    m.def("sum_f64", &sum_py<double>, "Sum in a fixed order (blocks of 4096, partials in double).");
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_eltwise);

}  // namespace nnmat
