// Test/timing binding for the vectorised elementary functions (cpp/simd/vmath.h):
//   _core.vmath_eval(name, x) -> f(x) elementwise with the ISA in use
//   _core.vmath_functions() -> list of names
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.h"
#include "bindings/registry.h"
#include "simd/vmath_table.h"

namespace nnmat {
namespace py = pybind11;
namespace {

int fn_index(const std::string& name) {
    for (int i = 0; i < vm_count; ++i)
        if (name == vmath_fn_names[i]) return i;
    throw py::value_error("vmath_eval: unknown function '" + name + "'");
}

template <class T>
py::array eval(int f, const py::array& x) {
    ArrayView<T> v = view_of<T>(x, "vmath_eval: x");
    if (v.ndim != 1 || (v.shape[0] > 1 && v.strides[0] != 1))
        throw py::value_error("vmath_eval: x must be a contiguous 1-D array");
    const int64_t n = v.shape[0];
    py::array_t<T> out(n);
    T* o = out.mutable_data();
    const T* xi = v.data;
    const VmathTable& t = vmath_kernels();
    void (*fn)(const T*, T*, int64_t);
    if constexpr (sizeof(T) == 4) fn = t.f32[f]; else fn = t.f64[f];
    {
        py::gil_scoped_release nogil;
        fn(xi, o, n);
    }
    return out;
}

void register_vmath(py::module_& m) {
    m.def("vmath_functions", []() {
        py::list l;
        for (int i = 0; i < vm_count; ++i) l.append(vmath_fn_names[i]);
        return l;
    });
    m.def(
        "vmath_eval",
        [](const std::string& name, const py::array& x) -> py::array {
            const int f = fn_index(name);
            if (py::isinstance<py::array_t<float>>(x)) return eval<float>(f, x);
            if (py::isinstance<py::array_t<double>>(x)) return eval<double>(f, x);
            throw py::type_error("vmath_eval: x must be float32 or float64, got dtype " +
                                 std::string(py::str(x.dtype())));
        },
        py::arg("name"), py::arg("x"),
        "Applies VMath<T>::<name> (cpp/simd/vmath.h) elementwise with the ISA in use (testing/timing).");
}

}  // namespace

NNMAT_REGISTER_BINDINGS(register_vmath);

}  // namespace nnmat
