// Binding files register themselves: a family's register_<family>.cpp ends with
//   NNMAT_REGISTER_BINDINGS(register_<family>);
// and module.cpp calls every registered function at import, in name order (each
// adds its own, distinct names). New families need no edit elsewhere.
#pragma once
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace nnmat {

using RegisterFn = void (*)(pybind11::module_&);

inline std::vector<std::pair<std::string, RegisterFn>>& binding_registry() {
    static std::vector<std::pair<std::string, RegisterFn>> fns;
    return fns;
}

// The registered functions sorted by name: the order of the module's
// definitions (and so of its generated stub) must not depend on the order of
// static initialisation, which changes with link order and LTO.
inline std::vector<std::pair<std::string, RegisterFn>> sorted_bindings() {
    auto fns = binding_registry();
    std::sort(fns.begin(), fns.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return fns;
}

struct RegisterBindings {
    RegisterBindings(const char* name, RegisterFn f) { binding_registry().emplace_back(name, f); }
};

}  // namespace nnmat

#define NNMAT_REGISTER_BINDINGS(fn) static const ::nnmat::RegisterBindings nnmat_registered_##fn(#fn, &fn)
