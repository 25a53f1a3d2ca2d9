// Bindings of the optimizers (cpp/optim/optim.h): classes Optimizer_f32 and
// Optimizer_f64 wrapping nnmat::Optimizer<T> directly, so another binding file
// (the network engine) can take the C++ object with py::cast<Optimizer<T>&>(obj).
// The public API is src/nnmat/nn/optim.py; these check what they are given
// (with the GIL held) and release the GIL around the update.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "optim/optim.h"

namespace nnmat {
namespace {

OptimKind parse_kind(const std::string& k) {
    if (k == "sgd") return OptimKind::sgd;
    if (k == "adam") return OptimKind::adam;
    if (k == "adamw") return OptimKind::adamw;
    throw py::value_error("Optimizer: unknown kind '" + k + "' (expected 'sgd', 'adam' or 'adamw')");
}

const char* kind_name(OptimKind k) {
    switch (k) {
        case OptimKind::sgd: return "sgd";
        case OptimKind::adam: return "adam";
        case OptimKind::adamw: return "adamw";
    }
    return "?";
}

template <class T>
void step_py(Optimizer<T>& opt, const py::list& params, const py::list& grads) {
    const std::vector<int64_t>& sizes = opt.sizes();
    const std::size_t ns = sizes.size();
    if (params.size() != ns || grads.size() != ns)
        throw py::value_error("Optimizer.step: expected " + std::to_string(ns) + " parameter and gradient arrays, got " +
                              std::to_string(params.size()) + " and " + std::to_string(grads.size()));
    std::vector<T*> p(ns);
    std::vector<const T*> g(ns);
    for (std::size_t s = 0; s < ns; ++s) {
        const std::string pn = "params[" + std::to_string(s) + "]", gn = "grads[" + std::to_string(s) + "]";
        p[s] = contiguous_data<T>(params[s], "Optimizer.step", pn.c_str(), sizes[s], true);
        g[s] = contiguous_data<T>(grads[s], "Optimizer.step", gn.c_str(), sizes[s]);
    }
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    opt.step(p.data(), g.data(), nt);
}

template <class T>
void register_class(py::module_& m, const char* name) {
    using O = Optimizer<T>;
    py::class_<O>(m, name,
                  "Internal optimizer over flat parameter segments (nnmat.nn.optim is the public API).")
        .def(py::init([](const std::string& kind, double lr, double weight_decay, bool maximize, double momentum,
                         double dampening, bool nesterov, double beta1, double beta2, double eps, bool amsgrad) {
                 OptimConfig c;
                 c.kind = parse_kind(kind);
                 c.lr = lr;
                 c.weight_decay = weight_decay;
                 c.maximize = maximize;
                 c.momentum = momentum;
                 c.dampening = dampening;
                 c.nesterov = nesterov;
                 c.beta1 = beta1;
                 c.beta2 = beta2;
                 c.eps = eps;
                 c.amsgrad = amsgrad;
                 return new O(c);
             }),
             py::kw_only(), py::arg("kind"), py::arg("lr") = 1e-3, py::arg("weight_decay") = 0.0,
             py::arg("maximize") = false, py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
             py::arg("nesterov") = false, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
             py::arg("amsgrad") = false)
        .def("set_sizes", &O::set_sizes, py::arg("sizes"),
             "Fixes the segments and zeroes the state and the step count (state views taken before become invalid).")
        .def_property_readonly("sizes", &O::sizes)
        .def("step", &step_py<T>, py::arg("params"), py::arg("grads"),
             "One update of every segment (C-contiguous arrays of the right dtype and sizes).")
        .def_property_readonly("kind", [](O& o) { return std::string(kind_name(o.config().kind)); })
        .def_property("lr", [](O& o) { return o.config().lr; }, [](O& o, double v) { o.config().lr = v; })
        .def_property("weight_decay", [](O& o) { return o.config().weight_decay; },
                      [](O& o, double v) { o.config().weight_decay = v; })
        .def_property("maximize", [](O& o) { return o.config().maximize; }, [](O& o, bool v) { o.config().maximize = v; })
        .def_property("momentum", [](O& o) { return o.config().momentum; },
                      [](O& o, double v) { o.config().momentum = v; })
        .def_property("dampening", [](O& o) { return o.config().dampening; },
                      [](O& o, double v) { o.config().dampening = v; })
        .def_property("nesterov", [](O& o) { return o.config().nesterov; }, [](O& o, bool v) { o.config().nesterov = v; })
        .def_property("beta1", [](O& o) { return o.config().beta1; }, [](O& o, double v) { o.config().beta1 = v; })
        .def_property("beta2", [](O& o) { return o.config().beta2; }, [](O& o, double v) { o.config().beta2 = v; })
        .def_property("eps", [](O& o) { return o.config().eps; }, [](O& o, double v) { o.config().eps = v; })
        .def_property("amsgrad", [](O& o) { return o.config().amsgrad; }, [](O& o, bool v) { o.config().amsgrad = v; })
        .def_property("steps", &O::steps, &O::set_steps)
        .def_property_readonly("num_state", &O::num_state)
        .def(
            "state",
            [](py::object self, int which, int seg) {
                O& o = self.cast<O&>();
                if (which < 0 || which >= o.num_state())
                    throw py::index_error("Optimizer.state: which=" + std::to_string(which) + " out of range (" +
                                          std::to_string(o.num_state()) + " state buffers)");
                if (seg < 0 || seg >= int(o.sizes().size()))
                    throw py::index_error("Optimizer.state: segment " + std::to_string(seg) + " out of range (" +
                                          std::to_string(o.sizes().size()) + " segments)");
                T* ptr = o.state(which, seg);
                const py::ssize_t n = py::ssize_t(o.sizes()[std::size_t(seg)]);
                return py::array_t<T>({n}, {py::ssize_t(sizeof(T))}, ptr, self);
            },
            py::arg("which"), py::arg("seg"),
            "Writeable view of a state buffer of one segment (keeps the optimizer alive; invalid after set_sizes).")
        .def_property_readonly("dtype", [](O&) { return py::dtype::of<T>(); });
}

void register_optim(py::module_& m) {
    register_class<float>(m, "Optimizer_f32");
    register_class<double>(m, "Optimizer_f64");
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_optim);

}  // namespace nnmat
