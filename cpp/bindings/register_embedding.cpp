// Bindings for the embedding losses (cpp/losses/embedding.h). The Python layer
// (src/nnmat/losses/_embedding.py) converts to C-contiguous arrays of one float dtype (labels to
// int64), checks label ranges and picks the upstream factor; these functions check shapes,
// allocate the outputs and run the kernels without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "common/threading.h"
#include "losses/embedding.h"

namespace nnmat {
namespace {

template <class T>
const T* cdata(const py::array& a, const char* name, int ndim) {
    const T* data = contiguous_data<T>(a, "", name);
    if (a.ndim() != ndim) throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions");
    return data;
}

const int64_t* label_data(const py::array& a, int64_t n) {
    if (!py::isinstance<py::array_t<int64_t>>(a)) throw py::type_error("labels: expected an int64 array");
    if (a.ndim() != 1 || a.shape(0) != n) throw py::value_error("labels: expected shape (n,)");
    if (!(a.flags() & py::array::c_style)) throw py::value_error("labels: expected a C-contiguous array");
    return static_cast<const int64_t*>(a.data());
}

template <class T>
py::array_t<T> new_array(std::vector<py::ssize_t> shape) { return py::array_t<T>(shape); }

template <class T>
const T* upstream_data(const py::object& gout, int64_t n) {
    if (gout.is_none()) return nullptr;
    const py::array g = gout.cast<py::array>();
    const T* p = cdata<T>(g, "grad_output", 1);
    if (g.shape(0) != n) throw py::value_error("grad_output: expected shape (n,)");
    return p;
}

template <class T>
py::tuple triplet_py(const py::array& a_, const py::array& p_, const py::array& n_, double margin, double pnorm,
                     double eps, bool swap, bool want_loss, bool want_grad, const py::object& gout, double gscale) {
    TripletArgs<T> A;
    A.a = cdata<T>(a_, "anchor", 2);
    A.p = cdata<T>(p_, "positive", 2);
    A.ng = cdata<T>(n_, "negative", 2);
    A.n = a_.shape(0);
    A.d = a_.shape(1);
    for (const py::array* o : {&p_, &n_})
        if (o->shape(0) != A.n || o->shape(1) != A.d) throw py::value_error("triplet: shapes differ");
    A.margin = margin; A.pnorm = pnorm; A.eps = eps; A.swap = swap; A.gscale = gscale;
    py::object loss = py::none(), grads = py::none();
    if (want_loss) {
        auto l = new_array<T>({py::ssize_t(A.n)});
        A.loss = l.mutable_data();
        loss = l;
    }
    if (want_grad) {
        auto ga = new_array<T>({py::ssize_t(A.n), py::ssize_t(A.d)});
        auto gp = new_array<T>({py::ssize_t(A.n), py::ssize_t(A.d)});
        auto gn = new_array<T>({py::ssize_t(A.n), py::ssize_t(A.d)});
        A.ga = ga.mutable_data(); A.gp = gp.mutable_data(); A.gn = gn.mutable_data();
        A.gout = upstream_data<T>(gout, A.n);
        grads = py::make_tuple(ga, gp, gn);
    }
    const int nt = get_num_threads();
    double total;
    {
        py::gil_scoped_release nogil;
        total = triplet_margin_loss<T>(A, nt);
    }
    return py::make_tuple(total, loss, grads);
}

template <class T>
py::tuple contrastive_py(const py::array& x1_, const py::array& x2_, const py::array& t_, double margin,
                         bool want_loss, bool want_grad, const py::object& gout, double gscale) {
    PairContrastiveArgs<T> A;
    A.x1 = cdata<T>(x1_, "x1", 2);
    A.x2 = cdata<T>(x2_, "x2", 2);
    A.target = cdata<T>(t_, "target", 1);
    A.n = x1_.shape(0);
    A.d = x1_.shape(1);
    if (x2_.shape(0) != A.n || x2_.shape(1) != A.d || t_.shape(0) != A.n)
        throw py::value_error("contrastive: shapes differ");
    A.margin = margin; A.gscale = gscale;
    py::object loss = py::none(), grads = py::none();
    if (want_loss) {
        auto l = new_array<T>({py::ssize_t(A.n)});
        A.loss = l.mutable_data();
        loss = l;
    }
    if (want_grad) {
        auto g1 = new_array<T>({py::ssize_t(A.n), py::ssize_t(A.d)});
        auto g2 = new_array<T>({py::ssize_t(A.n), py::ssize_t(A.d)});
        A.g1 = g1.mutable_data(); A.g2 = g2.mutable_data();
        A.gout = upstream_data<T>(gout, A.n);
        grads = py::make_tuple(g1, g2);
    }
    const int nt = get_num_threads();
    double total;
    {
        py::gil_scoped_release nogil;
        total = contrastive_loss<T>(A, nt);
    }
    return py::make_tuple(total, loss, grads);
}

template <class T>
py::tuple batch_contrastive_py(const py::array& x_, const py::array& labels_, double pos_margin, double neg_margin,
                               bool normalize, bool want_grad, double gscale) {
    const T* x = cdata<T>(x_, "embeddings", 2);
    const int64_t b = x_.shape(0), d = x_.shape(1);
    const int64_t* labels = label_data(labels_, b);
    py::object grad = py::none();
    T* g = nullptr;
    if (want_grad) {
        auto ga = new_array<T>({py::ssize_t(b), py::ssize_t(d)});
        g = ga.mutable_data();
        grad = ga;
    }
    const int nt = get_num_threads();
    double v;
    {
        py::gil_scoped_release nogil;
        v = batch_contrastive_loss<T>(b, d, x, labels, pos_margin, neg_margin, normalize, g, gscale, nt);
    }
    return py::make_tuple(v, grad);
}

template <class T>
py::tuple angular_py(const py::array& x_, const py::array& labels_, double alpha, bool normalize_negatives,
                     bool want_grad, double gscale) {
    const T* x = cdata<T>(x_, "embeddings", 2);
    const int64_t b = x_.shape(0), d = x_.shape(1);
    const int64_t* labels = label_data(labels_, b);
    py::object grad = py::none();
    T* g = nullptr;
    if (want_grad) {
        auto ga = new_array<T>({py::ssize_t(b), py::ssize_t(d)});
        g = ga.mutable_data();
        grad = ga;
    }
    const int nt = get_num_threads();
    double v;
    {
        py::gil_scoped_release nogil;
        v = angular_loss<T>(b, d, x, labels, alpha, normalize_negatives, g, gscale, nt);
    }
    return py::make_tuple(v, grad);
}

template <class T>
py::tuple center_loss_py(const py::array& x_, const py::array& labels_, const py::array& c_, bool want_loss,
                         bool want_grad, const py::object& gout, double gscale) {
    CenterArgs<T> A;
    A.x = cdata<T>(x_, "features", 2);
    A.centers = cdata<T>(c_, "centers", 2);
    A.m = x_.shape(0);
    A.k = x_.shape(1);
    A.c = c_.shape(0);
    if (c_.shape(1) != A.k) throw py::value_error("centers: expected shape (c, k)");
    A.labels = label_data(labels_, A.m);
    for (int64_t i = 0; i < A.m; ++i)
        if (A.labels[i] < 0 || A.labels[i] >= A.c) throw py::index_error("labels: class index out of range");
    A.gscale = gscale;
    py::object loss = py::none(), grad = py::none();
    if (want_loss) {
        auto l = new_array<T>({py::ssize_t(A.m)});
        A.loss = l.mutable_data();
        loss = l;
    }
    if (want_grad) {
        auto g = new_array<T>({py::ssize_t(A.m), py::ssize_t(A.k)});
        A.grad = g.mutable_data();
        A.gout = upstream_data<T>(gout, A.m);
        grad = g;
    }
    const int nt = get_num_threads();
    double total;
    {
        py::gil_scoped_release nogil;
        total = center_loss<T>(A, nt);
    }
    return py::make_tuple(total, loss, grad);
}

template <class T>
py::array center_update_py(const py::array& x_, const py::array& labels_, const py::array& c_, double alpha) {
    const T* x = cdata<T>(x_, "features", 2);
    const T* c = cdata<T>(c_, "centers", 2);
    const int64_t m = x_.shape(0), k = x_.shape(1), nc = c_.shape(0);
    if (c_.shape(1) != k) throw py::value_error("centers: expected shape (c, k)");
    const int64_t* labels = label_data(labels_, m);
    for (int64_t i = 0; i < m; ++i)
        if (labels[i] < 0 || labels[i] >= nc) throw py::index_error("labels: class index out of range");
    auto out = new_array<T>({py::ssize_t(nc), py::ssize_t(k)});
    T* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        center_update<T>(m, k, nc, x, labels, c, alpha, o);
    }
    return std::move(out);
}

template <class T>
void define_all(py::module_& m, const std::string& sfx) {
    m.def(("triplet_margin_loss" + sfx).c_str(), &triplet_py<T>, py::arg("anchor"), py::arg("positive"),
          py::arg("negative"), py::arg("margin"), py::arg("p"), py::arg("eps"), py::arg("swap"),
          py::arg("want_loss"), py::arg("want_grad"), py::arg("grad_output"), py::arg("gscale"));
    m.def(("contrastive_loss" + sfx).c_str(), &contrastive_py<T>, py::arg("x1"), py::arg("x2"), py::arg("target"),
          py::arg("margin"), py::arg("want_loss"), py::arg("want_grad"), py::arg("grad_output"), py::arg("gscale"));
    m.def(("batch_contrastive_loss" + sfx).c_str(), &batch_contrastive_py<T>, py::arg("embeddings"),
          py::arg("labels"), py::arg("pos_margin"), py::arg("neg_margin"), py::arg("normalize"),
          py::arg("want_grad"), py::arg("gscale"));
    m.def(("angular_loss" + sfx).c_str(), &angular_py<T>, py::arg("embeddings"), py::arg("labels"),
          py::arg("alpha"), py::arg("normalize_negatives"), py::arg("want_grad"), py::arg("gscale"));
    m.def(("center_loss" + sfx).c_str(), &center_loss_py<T>, py::arg("features"), py::arg("labels"),
          py::arg("centers"), py::arg("want_loss"), py::arg("want_grad"), py::arg("grad_output"), py::arg("gscale"));
    m.def(("center_update" + sfx).c_str(), &center_update_py<T>, py::arg("features"), py::arg("labels"),
          py::arg("centers"), py::arg("alpha"));
}

}  // namespace

void register_embedding(py::module_& m) {
    define_all<float>(m, "_f32");
    define_all<double>(m, "_f64");
}

NNMAT_REGISTER_BINDINGS(register_embedding);

}  // namespace nnmat
