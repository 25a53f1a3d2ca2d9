// Element-wise kernels (activations, element-wise losses) for the generic path,
// compiled with this ISA's flags only.
#define NNMAT_ISA_NS generic
#include "simd/generic.h"
#include "simd/vmath.h"

#include "elementwise/eltwise_kernels.h"
