// Optimizer update kernels (SGD, Adam, AdamW) for the avx512 path, compiled with
// this ISA's flags only.
#define NNMAT_ISA_NS avx512
#include "simd/avx512.h"

#include "optim/optim_kernels.h"
