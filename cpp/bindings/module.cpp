// nnmat._core: thin pybind11 bindings over the C++ kernels.
#include <pybind11/pybind11.h>

#include "bindings/registry.h"
#include "dispatch/cpu.h"

namespace nnmat {
void register_config(pybind11::module_& m);
void register_gemm(pybind11::module_& m);
}  // namespace nnmat

PYBIND11_MODULE(_core, m) {
    m.doc() = "nnmat C++ kernels (internal; use the nnmat package)";
    // NNMAT_ISA is read once, at import: an unknown or unsupported value makes
    // the import fail with a message naming NNMAT_ISA (ImportError), never a crash.
    nnmat::select_isa_from_environment();
    nnmat::register_config(m);
    nnmat::register_gemm(m);
    for (const auto& [name, f] : nnmat::sorted_bindings()) f(m);
}
