// Bindings for the box losses (cpp/losses/boxes.h). The Python layer
// (src/nnmat/losses/_detection.py) flattens the boxes to C-contiguous (n, 4) arrays of one float
// dtype, chooses the upstream factor and raises on inverted boxes; these functions check what they
// are given, allocate the outputs, and run the kernel without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/boxes.h"

namespace nnmat {
namespace {

// (kind, boxes1 (n,4), boxes2 (n,4), eps, want_loss, want_grad, grad_output (n,) or None, gscale)
//   -> (sum of per-box losses, per-box losses or None, grad (n,4) or None, bad1, bad2)
template <class T>
py::tuple box_loss_py(int kind, const py::array& b1_, const py::array& b2_, double eps, bool want_loss,
                      bool want_grad, const py::object& gout_, double gscale) {
    if (kind < 0 || kind > int(BoxLossKind::ciou)) throw py::value_error("box_loss: unknown kind");
    if (b1_.ndim() != 2 || b1_.shape(1) != 4) throw py::value_error("boxes1: expected shape (n, 4)");
    if (b2_.ndim() != 2 || b2_.shape(0) != b1_.shape(0) || b2_.shape(1) != 4)
        throw py::value_error("boxes2: expected the shape of boxes1");
    BoxLossArgs<T> a;
    a.n = b1_.shape(0);
    a.b1 = contiguous_data<T>(b1_, "box loss", "boxes1");
    a.b2 = contiguous_data<T>(b2_, "box loss", "boxes2");
    a.eps = eps;
    a.gscale = gscale;
    py::object loss = py::none(), grad = py::none();
    if (want_loss) {
        py::array_t<T> l(std::vector<py::ssize_t>{py::ssize_t(a.n)});
        a.loss = l.mutable_data();
        loss = l;
    }
    if (want_grad) {
        py::array_t<T> g(std::vector<py::ssize_t>{py::ssize_t(a.n), 4});
        a.grad = g.mutable_data();
        grad = g;
        if (!gout_.is_none()) {
            const py::array go = gout_.cast<py::array>();
            if (go.ndim() != 1 || go.shape(0) != a.n) throw py::value_error("grad_output: expected shape (n,)");
            a.gout = contiguous_data<T>(go, "box loss", "grad_output");
        }
    }
    const int nt = get_num_threads();
    double total;
    {
        py::gil_scoped_release nogil;
        total = box_loss<T>(BoxLossKind(kind), a, nt);
    }
    return py::make_tuple(total, loss, grad, a.bad1, a.bad2);
}

}  // namespace

void register_boxes(py::module_& m) {
    m.def("box_loss_f32", &box_loss_py<float>, py::arg("kind"), py::arg("boxes1"), py::arg("boxes2"),
          py::arg("eps"), py::arg("want_loss"), py::arg("want_grad"), py::arg("grad_output"),
          py::arg("gscale"));
    m.def("box_loss_f64", &box_loss_py<double>, py::arg("kind"), py::arg("boxes1"), py::arg("boxes2"),
          py::arg("eps"), py::arg("want_loss"), py::arg("want_grad"), py::arg("grad_output"),
          py::arg("gscale"));
}

NNMAT_REGISTER_BINDINGS(register_boxes);

}  // namespace nnmat
