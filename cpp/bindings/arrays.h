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

// Data pointer of a C-contiguous T array (any shape) that a kernel reads as a flat
// buffer: exactly n elements (n < 0: any number), writeable when asked. None gives
// null when `optional`, a TypeError otherwise. Messages name "<fn>: <name>".
template <class T>
T* contiguous_data(const py::object& obj, const char* fn, const char* name, int64_t n = -1,
                   bool writeable = false, bool optional = false) {
    const std::string what = (fn && *fn ? std::string(fn) + ": " : std::string()) + name;
    if (obj.is_none()) {
        if (optional) return nullptr;
        throw py::type_error(what + " must not be None");
    }
    const py::array arr = obj.cast<py::array>();
    const ArrayView<T> v = view_of<T>(arr, what.c_str(), writeable);
    if (!(arr.flags() & py::array::c_style)) throw py::value_error(what + " must be C-contiguous");
    if (n >= 0 && int64_t(arr.size()) != n)
        throw py::value_error(what + " has " + std::to_string(arr.size()) + " elements, expected " +
                              std::to_string(n));
    return v.data;
}

}  // namespace nnmat
