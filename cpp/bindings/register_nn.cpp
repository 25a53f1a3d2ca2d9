// Bindings of the network engine (cpp/nn/network.h) for nnmat.nn. The Python
// layer builds the layer descriptions, owns the parameter and gradient arrays
// and validates user input with clear messages; this file re-checks what the
// engine relies on (dtype, contiguity, sizes, index ranges), keeps the arrays
// it points at alive, and releases the GIL around the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "nn/network.h"
#include "optim/optim.h"

namespace nnmat {
namespace {

template <class T>
T* matrix_data(const py::object& obj, const char* name, int64_t rows, int64_t cols, bool writeable) {
    const py::array arr = obj.cast<py::array>();
    T* p = contiguous_data<T>(arr, "network", name, rows * cols, writeable);
    if (arr.ndim() != 2 || arr.shape(0) != rows || arr.shape(1) != cols)
        throw py::value_error(std::string("network: ") + name + " must have shape (" + std::to_string(rows) + ", " +
                              std::to_string(cols) + ")");
    return p;
}

const int64_t* index_data(const py::object& obj, const char* name, int64_t n) {
    const py::array arr = obj.cast<py::array>();
    if (!py::isinstance<py::array_t<int64_t>>(arr)) throw py::type_error(std::string("network: ") + name + " must be int64");
    if (!(arr.flags() & py::array::c_style) || arr.ndim() != 1 || int64_t(arr.size()) != n)
        throw py::value_error(std::string("network: ") + name + " must be a contiguous 1-D array of " +
                              std::to_string(n) + " elements");
    return static_cast<const int64_t*>(arr.data());
}

template <class T>
struct PyNetwork {
    std::unique_ptr<Network<T>> net;
    py::list keep;   // the arrays the layer descriptions point at

    // Training task (set_task): data, targets, loss and optimizer of fit().
    bool has_task = false;
    bool has_loss = false;
    py::list task_keep;
    const T* X = nullptr;
    int64_t N = 0;
    NetLossSpec<T> spec;
    NetTargets<T> targets;
    Optimizer<T>* opt = nullptr;
    std::vector<T*> params;
    std::vector<const T*> grads;

    explicit PyNetwork(const py::list& specs) {
        std::vector<LayerSpec<T>> layers;
        for (const py::handle h : specs) {
            const py::tuple t = h.cast<py::tuple>();
            if (t.size() != 12) throw py::value_error("network: a layer description has 12 fields");
            LayerSpec<T> s;
            s.kind = LayerKind(t[0].cast<int>());
            if (int(s.kind) < 0 || int(s.kind) > int(LayerKind::flatten)) throw py::value_error("network: unknown layer kind");
            s.in = t[1].cast<int64_t>();
            s.out = t[2].cast<int64_t>();
            if (s.kind == LayerKind::dense) {
                s.W = matrix_data<T>(t[3], "weight", s.out, s.in, false);
                s.dW = matrix_data<T>(t[5], "weight gradient", s.out, s.in, true);
                if (!t[4].is_none()) {
                    s.b = contiguous_data<T>(t[4], "network", "bias", s.out);
                    s.db = contiguous_data<T>(t[6], "network", "bias gradient", s.out, true);
                }
            }
            const int act = t[7].cast<int>();
            if (act < 0 || act >= int(Act::count)) throw py::value_error("network: unknown activation id");
            s.act = Act(act);
            s.ap.p0 = t[8].cast<double>();
            s.ap.p1 = t[9].cast<double>();
            s.p = t[10].cast<double>();
            s.seed = t[11].cast<uint64_t>();
            layers.push_back(s);
            keep.append(t);
        }
        net.reset(new Network<T>(layers));
    }

    void forward(const py::object& x, const py::object& out, bool training) {
        const py::array xa = x.cast<py::array>();
        if (xa.ndim() != 2) throw py::value_error("network: input must be 2-D");
        const int64_t n = xa.shape(0);
        const T* xp = matrix_data<T>(x, "input", n, net->in_features(), false);
        T* op = matrix_data<T>(out, "out", n, net->out_features(), true);
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        const T* y = net->forward(xp, n, training, nt);
        if (n * net->out_features() > 0) std::memcpy(op, y, std::size_t(n * net->out_features()) * sizeof(T));
    }

    void backward(const py::object& g, const py::object& dx) {
        const int64_t n = net->rows();
        const T* gp = matrix_data<T>(g, "grad_output", n, net->out_features(), false);
        T* dp = dx.is_none() ? nullptr : matrix_data<T>(dx, "grad_input", n, net->in_features(), true);
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        net->backward(gp, dp, nt);
    }

    void set_task(const py::object& X_, const py::object& y_index, const py::object& y_value,
                  const py::object& sample_weight, int kind, int ew, double p0, double p1,
                  const py::object& class_weight, int64_t ignore_index, double smoothing,
                  const py::object& optimizer, const py::list& plist, const py::list& glist) {
        has_task = false;
        task_keep = py::list();
        const py::array xa = X_.cast<py::array>();
        if (xa.ndim() != 2) throw py::value_error("network: X must be 2-D");
        N = xa.shape(0);
        X = matrix_data<T>(X_, "X", N, net->in_features(), false);
        task_keep.append(X_);
        spec = NetLossSpec<T>();
        targets = NetTargets<T>();
        if (kind < -1 || kind > int(NetLoss::elementwise)) throw py::value_error("network: unknown loss kind");
        // kind -1: the loss is computed in Python (forward_batch / backward_update).
        if (kind >= 0) spec.kind = NetLoss(kind);
        const int64_t C = net->out_features();
        if (kind < 0) {
        } else if (spec.kind == NetLoss::elementwise) {
            if (ew < 0 || ew >= int(EwLoss::count)) throw py::value_error("network: unknown element-wise loss");
            spec.ew = EwLoss(ew);
            spec.p0 = p0;
            spec.p1 = p1;
            targets.value = matrix_data<T>(y_value, "y", N, C, false);
            task_keep.append(y_value);
        } else {
            targets.index = index_data(y_index, "y", N);
            task_keep.append(y_index);
            spec.class_weight = contiguous_data<T>(class_weight, "network", "weight", C, false, true);
            task_keep.append(class_weight);
            spec.ignore_index = ignore_index;
            spec.smoothing = smoothing;
        }
        targets.sample_weight = contiguous_data<T>(sample_weight, "network", "sample_weight", N, false, true);
        task_keep.append(sample_weight);
        opt = nullptr;
        params.clear();
        grads.clear();
        if (!optimizer.is_none()) {
            opt = &optimizer.cast<Optimizer<T>&>();
            if (plist.size() != glist.size() || plist.size() != opt->sizes().size())
                throw py::value_error("network: the optimizer's segments do not match the parameters");
            for (std::size_t i = 0; i < plist.size(); ++i) {
                const int64_t sz = opt->sizes()[i];
                params.push_back(contiguous_data<T>(plist[i], "network", "parameter", sz, true));
                grads.push_back(contiguous_data<T>(glist[i], "network", "gradient", sz));
            }
            task_keep.append(optimizer);
            task_keep.append(plist);
            task_keep.append(glist);
        }
        has_task = true;
        has_loss = kind >= 0;
    }

    static void update(void* ctx, int nt) {
        PyNetwork* s = static_cast<PyNetwork*>(ctx);
        if (s->opt) s->opt->step(s->params.data(), s->grads.data(), nt);
    }

    const int64_t* batch_index(const py::object& idx, int64_t start, int64_t count) const {
        if (!has_task) throw py::value_error("network: no training task set");
        const py::array a = idx.cast<py::array>();
        if (!py::isinstance<py::array_t<int64_t>>(a) || !(a.flags() & py::array::c_style) || a.ndim() != 1)
            throw py::type_error("network: batch indices must be a contiguous 1-D int64 array");
        if (start < 0 || count < 0 || start + count > int64_t(a.size()))
            throw py::index_error("network: batch outside the index array");
        const int64_t* p = static_cast<const int64_t*>(a.data()) + start;
        for (int64_t i = 0; i < count; ++i)
            if (p[i] < 0 || p[i] >= N) throw py::index_error("network: row index out of range");
        return p;
    }

    py::tuple train_batch(const py::object& idx, int64_t start, int64_t count) {
        if (!has_loss) throw py::value_error("network: the task has no C++ loss");
        const int64_t* p = batch_index(idx, start, count);
        const int nt = get_num_threads();
        StepResult r;
        {
            py::gil_scoped_release nogil;
            r = net->train_step(X, p, count, spec, targets, &PyNetwork::update, this, nt);
        }
        return py::make_tuple(r.loss, r.weight, r.correct, r.counted);
    }

    // Forward on a batch of the task's rows; the output is a view of the engine's buffer.
    py::array forward_batch(const py::object& self, const py::object& idx, int64_t start, int64_t count,
                            bool training) {
        const int64_t* p = batch_index(idx, start, count);
        const int nt = get_num_threads();
        const T* y;
        {
            py::gil_scoped_release nogil;
            y = net->forward_rows(X, p, count, training, nt);
        }
        return py::array_t<T>({py::ssize_t(count), py::ssize_t(net->out_features())}, y, self);
    }

    // Backward from a gradient of the last forward's output, then the optimizer's step.
    void backward_update(const py::object& g) {
        const T* gp = matrix_data<T>(g, "grad_output", net->rows(), net->out_features(), false);
        const int nt = get_num_threads();
        py::gil_scoped_release nogil;
        net->backward(gp, nullptr, nt);
        update(this, nt);
    }
};

template <class T>
void register_network(py::module_& m, const char* name) {
    using W = PyNetwork<T>;
    py::class_<W>(m, name)
        .def(py::init<const py::list&>(), py::arg("layers"))
        .def_property_readonly("in_features", [](const W& w) { return w.net->in_features(); })
        .def_property_readonly("out_features", [](const W& w) { return w.net->out_features(); })
        .def_property_readonly("capacity", [](const W& w) { return w.net->capacity(); })
        .def_property_readonly("rows", [](const W& w) { return w.net->rows(); })
        .def_property("forward_count", [](const W& w) { return w.net->forward_count(); },
                      [](W& w, uint64_t c) { w.net->set_forward_count(c); })
        .def("reserve", [](W& w, int64_t n) {
            if (n < 0) throw py::value_error("network: negative row count");
            w.net->reserve(n);
        })
        .def("forward", &W::forward, py::arg("x"), py::arg("out"), py::arg("training"))
        .def("backward", &W::backward, py::arg("grad_output"), py::arg("grad_input"))
        .def("set_task", &W::set_task)
        .def("clear_task", [](W& w) { w.has_task = false; w.task_keep = py::list(); w.opt = nullptr; })
        .def("train_batch", &W::train_batch)
        .def("forward_batch", [](py::object self, const py::object& idx, int64_t start, int64_t count, bool training) {
            return self.cast<W&>().forward_batch(self, idx, start, count, training);
        })
        .def("backward_update", &W::backward_update);
}

void register_nn(py::module_& m) {
    register_network<float>(m, "Network_f32");
    register_network<double>(m, "Network_f64");
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_nn);

}  // namespace nnmat
