// Binding files register themselves: a family's register_<family>.cpp ends with
//   NNMAT_REGISTER_BINDINGS(register_<family>);
// and module.cpp calls every registered function at import (order irrelevant:
// each adds its own, distinct names). New families need no edit elsewhere.
#pragma once
#include <pybind11/pybind11.h>

#include <vector>

namespace nnmat {

using RegisterFn = void (*)(pybind11::module_&);

inline std::vector<RegisterFn>& binding_registry() {
    static std::vector<RegisterFn> fns;
    return fns;
}

struct RegisterBindings {
    explicit RegisterBindings(RegisterFn f) { binding_registry().push_back(f); }
};

}  // namespace nnmat

#define NNMAT_REGISTER_BINDINGS(fn) static const ::nnmat::RegisterBindings nnmat_registered_##fn(&fn)
