// Element-wise kernels (activations, element-wise losses) for the avx512 path,
// compiled with this ISA's flags only.
#define NNMAT_ISA_NS avx512
#include "simd/avx512.h"
#include "simd/vmath.h"

#include "elementwise/eltwise_kernels.h"
