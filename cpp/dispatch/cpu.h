// CPU detection and the choice of kernel table. Detection (CPUID + XGETBV)
// runs once; NNMAT_ISA=generic|avx2|avx512 forces a lower level.
#pragma once
#include <string>
#include "dispatch/kernel_table.h"

namespace nnmat {

Isa detected_isa();                  // best level this CPU and OS support (and this build has)
Isa current_isa();                   // level in use
const KernelTable& kernels();        // table in use
void set_isa(Isa isa);               // throws std::invalid_argument above detected_isa()
Isa parse_isa(const std::string& name);   // throws std::invalid_argument on unknown names
const char* isa_name(Isa isa);
// Reads NNMAT_ISA (if set) and selects; throws std::invalid_argument with a clear
// message on an unknown or unsupported value.
void select_isa_from_environment();
std::string cpu_brand();
bool isa_compiled(Isa isa);

}  // namespace nnmat
