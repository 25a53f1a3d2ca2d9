// VMath array entry points for the avx512 path (compiled with this ISA's flags only).
#define NNMAT_ISA_NS avx512
#define NNMAT_ISA_NAME "avx512"
#include "simd/avx512.h"
#include "simd/vmath_apply.h"
