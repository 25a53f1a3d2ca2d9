// VMath array entry points for the generic path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS generic
#define NNMAT_ISA_NAME "generic"
#include "simd/generic.h"
#include "simd/vmath_apply.h"
