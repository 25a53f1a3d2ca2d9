// Element-wise kernels (activations, element-wise losses) for the avx2 path,
// compiled with this ISA's flags only.
#define NNMAT_ISA_NS avx2
#include "simd/avx2.h"
#include "simd/vmath.h"

#include "elementwise/eltwise_kernels.h"
