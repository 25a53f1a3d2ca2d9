// Helpers shared by the binding files: typed, strided views of numpy arrays
// (no copies), with errors that name the offending argument.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace nnmat {
namespace py = pybind11;

template <class T>
struct ArrayView {
    T* data;
    int ndim;
    int64_t shape[32];
    int64_t strides[32];   // in elements
};

template <class T>
const char* dtype_name() { return sizeof(T) == 4 ? "float32" : "float64"; }

template <class T>
ArrayView<T> view_of(const py::array& arr, const char* name, bool writeable = false) {
    if (!py::isinstance<py::array_t<T>>(arr))
        throw py::type_error(std::string(name) + ": expected a " + dtype_name<T>() + " array, got dtype " +
                             std::string(py::str(arr.dtype())));
    if (writeable && !arr.writeable())
        throw py::value_error(std::string(name) + ": output array is read-only");
    ArrayView<T> v;
    v.data = static_cast<T*>(const_cast<void*>(arr.data()));
    v.ndim = int(arr.ndim());
    if (v.ndim > 32) throw py::value_error(std::string(name) + ": too many dimensions");
    for (int i = 0; i < v.ndim; ++i) {
        v.shape[i] = arr.shape(i);
        const int64_t s = arr.strides(i);
        if (s % int64_t(sizeof(T)) != 0)
            throw py::value_error(std::string(name) + ": strides must be a multiple of the item size");
        v.strides[i] = s / int64_t(sizeof(T));
    }
    return v;
}

}  // namespace nnmat
