// VMath array entry points for the avx2 path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS avx2
#define NNMAT_ISA_NAME "avx2"
#include "simd/avx2.h"
#include "simd/vmath_apply.h"
