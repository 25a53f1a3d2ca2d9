// Optimizer update kernels (SGD, Adam, AdamW) for the avx2 path, compiled with
// this ISA's flags only.
#define NNMAT_ISA_NS avx2
#include "simd/avx2.h"

#include "optim/optim_kernels.h"
