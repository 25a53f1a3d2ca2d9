// Bindings for matrix products: validate with the GIL held, release it around
// the kernel. The Python layer (src/nnmat/_matmul.py) does dtype promotion,
// broadcasting and out= handling; these functions check what they are given.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "common/threading.h"
#include "dispatch/cpu.h"
#include "elementwise/eltwise.h"
#include "gemm/gemm.h"

namespace nnmat {
namespace {

inline void gemm_call(const GemmProblem<float>& P, int nt) { kernels().gemm_f32(P, nt); }
inline void gemm_call(const GemmProblem<double>& P, int nt) { kernels().gemm_f64(P, nt); }

std::string mismatch(int64_t got, int64_t expected) {
    std::ostringstream s;
    s << "matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc signature "
         "(n?,k),(k,m?)->(n?,m?) (size "
      << got << " is different from " << expected << ")";
    return s.str();
}

template <class T>
GemmProblem<T> problem2d(const ArrayView<T>& a, const ArrayView<T>& b, const ArrayView<T>& c) {
    GemmProblem<T> P;
    const int da = a.ndim - 2, db = b.ndim - 2, dc = c.ndim - 2;
    P.m = a.shape[da]; P.k = a.shape[da + 1]; P.n = b.shape[db + 1];
    P.a = a.data; P.rsa = a.strides[da]; P.csa = a.strides[da + 1];
    P.b = b.data; P.rsb = b.strides[db]; P.csb = b.strides[db + 1];
    P.c = c.data; P.rsc = c.strides[dc]; P.csc = c.strides[dc + 1];
    return P;
}

// c = a @ b for checked 2-D views, with the GIL released.
template <class T>
void product2d(const ArrayView<T>& a, const ArrayView<T>& b, const ArrayView<T>& c) {
    const GemmProblem<T> P = problem2d(a, b, c);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    gemm_call(P, nt);
}

// 2-D fast path: a (m, k) @ b (k, n) -> new C-contiguous (m, n).
template <class T>
py::array matmul2d(const py::array& a_, const py::array& b_) {
    const ArrayView<T> a = view_of<T>(a_, "a"), b = view_of<T>(b_, "b");
    if (a.ndim != 2 || b.ndim != 2) throw py::value_error("matmul2d: both operands must be 2-D");
    if (a.shape[1] != b.shape[0]) throw py::value_error(mismatch(b.shape[0], a.shape[1]));
    py::array_t<T> out(std::vector<py::ssize_t>{py::ssize_t(a.shape[0]), py::ssize_t(b.shape[1])});
    product2d(a, b, view_of<T>(out, "out", true));
    return std::move(out);
}

// Byte range [lo, hi) spanned by a view's elements (an empty view spans nothing).
template <class T>
void extent(const ArrayView<T>& v, uintptr_t& lo, uintptr_t& hi) {
    intptr_t first = 0, last = 0;
    for (int i = 0; i < v.ndim; ++i) {
        if (v.shape[i] == 0) { lo = hi = 0; return; }
        const intptr_t span = intptr_t(v.shape[i] - 1) * intptr_t(v.strides[i]) * intptr_t(sizeof(T));
        if (span < 0) first += span; else last += span;
    }
    lo = reinterpret_cast<uintptr_t>(v.data) + uintptr_t(first);
    hi = reinterpret_cast<uintptr_t>(v.data) + uintptr_t(last) + sizeof(T);
}
template <class T>
bool may_overlap(const ArrayView<T>& x, const ArrayView<T>& y) {
    uintptr_t xl, xh, yl, yh;
    extent(x, xl, xh);
    extent(y, yl, yh);
    return xl < xh && yl < yh && xl < yh && yl < xh;
}

// 2-D fast path with out=: a (m, k) @ b (k, n) written into out (m, n), any
// strides. Returns false, computing nothing, when out's memory range meets a's
// or b's (the caller then computes into a temporary). Shape errors raise.
template <class T>
bool matmul2d_out(const py::array& a_, const py::array& b_, const py::array& out_) {
    const ArrayView<T> a = view_of<T>(a_, "a"), b = view_of<T>(b_, "b"), c = view_of<T>(out_, "out", true);
    if (a.ndim != 2 || b.ndim != 2 || c.ndim != 2) throw py::value_error("matmul2d_out: operands must be 2-D");
    if (a.shape[1] != b.shape[0]) throw py::value_error(mismatch(b.shape[0], a.shape[1]));
    if (c.shape[0] != a.shape[0] || c.shape[1] != b.shape[1])
        throw py::value_error("out: has the wrong shape for the matmul result");
    if (may_overlap(c, a) || may_overlap(c, b)) return false;
    product2d(a, b, c);
    return true;
}

// N-D: a (..., m, k), b (..., k, n), out (..., m, n), all with the same batch
// shape (broadcast dimensions as zero strides). out must not overlap a or b.
template <class T>
void matmul_into(const py::array& a_, const py::array& b_, const py::array& out_) {
    const ArrayView<T> a = view_of<T>(a_, "a"), b = view_of<T>(b_, "b"), c = view_of<T>(out_, "out", true);
    if (a.ndim < 2 || a.ndim != b.ndim || a.ndim != c.ndim)
        throw py::value_error("matmul_into: operands must have the same number (>= 2) of dimensions");
    const int nb = a.ndim - 2;
    for (int i = 0; i < nb; ++i)
        if (a.shape[i] != c.shape[i] || b.shape[i] != c.shape[i])
            throw py::value_error("matmul_into: batch dimensions differ");
    if (a.shape[nb + 1] != b.shape[nb]) throw py::value_error(mismatch(b.shape[nb], a.shape[nb + 1]));
    if (c.shape[nb] != a.shape[nb] || c.shape[nb + 1] != b.shape[nb + 1])
        throw py::value_error("out: has the wrong shape for the matmul result");
    int64_t batch = 1;
    for (int i = 0; i < nb; ++i) batch *= c.shape[i];
    std::vector<int64_t> oa(batch), ob(batch), oc(batch);
    for (int64_t idx = 0; idx < batch; ++idx) {
        int64_t rem = idx, xa = 0, xb = 0, xc = 0;
        for (int d = nb - 1; d >= 0; --d) {
            const int64_t i = rem % c.shape[d];
            rem /= c.shape[d];
            xa += i * a.strides[d]; xb += i * b.strides[d]; xc += i * c.strides[d];
        }
        oa[idx] = xa; ob[idx] = xb; oc[idx] = xc;
    }
    const GemmProblem<T> P = problem2d(a, b, c);
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    gemm_batched<T>(P, oa.data(), ob.data(), oc.data(), batch, nt);
}

// c = alpha * a @ b + beta * c (+ bias per column), with 2-D views a, b, c.
template <class T>
void gemm_into(const py::array& a_, const py::array& b_, const py::array& c_, double alpha, double beta,
               const py::object& bias_, int act, double p0, double p1) {
    const ArrayView<T> a = view_of<T>(a_, "a"), b = view_of<T>(b_, "b"), c = view_of<T>(c_, "c", true);
    if (a.ndim != 2 || b.ndim != 2 || c.ndim != 2) throw py::value_error("gemm: a, b and c must be 2-D");
    if (a.shape[1] != b.shape[0]) {
        std::ostringstream s;
        s << "gemm: inner dimensions differ: op(a) is " << a.shape[0] << "x" << a.shape[1] << ", op(b) is "
          << b.shape[0] << "x" << b.shape[1];
        throw py::value_error(s.str());
    }
    if (c.shape[0] != a.shape[0] || c.shape[1] != b.shape[1]) {
        std::ostringstream s;
        s << "gemm: c has shape (" << c.shape[0] << ", " << c.shape[1] << "), expected (" << a.shape[0] << ", "
          << b.shape[1] << ")";
        throw py::value_error(s.str());
    }
    GemmProblem<T> P = problem2d(a, b, c);
    P.alpha = T(alpha);
    P.beta = T(beta);
    if (!bias_.is_none()) {
        const ArrayView<T> bias = view_of<T>(bias_.cast<py::array>(), "bias");
        if (bias.ndim != 1 || bias.shape[0] != P.n) {
            std::ostringstream s;
            s << "bias: expected shape (" << P.n << ",)";
            throw py::value_error(s.str());
        }
        P.bias = bias.data;
        P.bias_stride = bias.strides[0];
    }
    // Fused activation (nnmat.linear): applied to each C tile after its last write.
    ActEpilogue<T> ep{};
    if (act > 0) {
        if (act >= int(Act::count)) throw py::value_error("gemm: unknown activation id");
        if (c.shape[0] > 0 && c.shape[1] > 1 && c.strides[1] != 1)
            throw py::value_error("gemm: a fused activation needs c with unit column stride");
        ActParams ap;
        ap.p0 = p0;
        ap.p1 = p1;
        ep = make_act_epilogue<T>(Act(act), ap);
        P.epilogue = &act_epilogue<T>;
        P.epilogue_ctx = &ep;
    }
    const int nt = get_num_threads();
    py::gil_scoped_release nogil;
    gemm_call(P, nt);
}

}  // namespace

void register_gemm(py::module_& m) {
    m.def("matmul2d_f32", &matmul2d<float>, py::arg("a"), py::arg("b"));
    m.def("matmul2d_f64", &matmul2d<double>, py::arg("a"), py::arg("b"));
    m.def("matmul2d_out_f32", &matmul2d_out<float>, py::arg("a"), py::arg("b"), py::arg("out"));
    m.def("matmul2d_out_f64", &matmul2d_out<double>, py::arg("a"), py::arg("b"), py::arg("out"));
    m.def("matmul_into_f32", &matmul_into<float>, py::arg("a"), py::arg("b"), py::arg("out"));
    m.def("matmul_into_f64", &matmul_into<double>, py::arg("a"), py::arg("b"), py::arg("out"));
    m.def("gemm_into_f32", &gemm_into<float>, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha"),
          py::arg("beta"), py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("p0") = 0.0,
          py::arg("p1") = 0.0);
    m.def("gemm_into_f64", &gemm_into<double>, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha"),
          py::arg("beta"), py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("p0") = 0.0,
          py::arg("p1") = 0.0);
}

}  // namespace nnmat
