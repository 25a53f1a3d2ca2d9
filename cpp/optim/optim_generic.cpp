// Optimizer update kernels (SGD, Adam, AdamW) for the generic path, compiled with
// this ISA's flags only.
#define NNMAT_ISA_NS generic
#include "simd/generic.h"

#include "optim/optim_kernels.h"
