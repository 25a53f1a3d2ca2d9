// Picks a kernel family's per-ISA table for the ISA in use (cpp/dispatch/cpu.h).
// A family declares its table type and one instance per ISA namespace, e.g.
//   namespace generic { extern const EltwiseTable eltwise_table; }   (+ avx2, avx512)
// and defines its accessor with NNMAT_SELECT_TABLE(EltwiseTable, eltwise_table).
#pragma once
#include "dispatch/cpu.h"

#if defined(NNMAT_BUILD_AVX512)
#define NNMAT_SELECT_AVX512_(name) case ::nnmat::Isa::avx512: return ::nnmat::avx512::name;
#else
#define NNMAT_SELECT_AVX512_(name)
#endif
#if defined(NNMAT_BUILD_AVX2)
#define NNMAT_SELECT_AVX2_(name) case ::nnmat::Isa::avx2: return ::nnmat::avx2::name;
#else
#define NNMAT_SELECT_AVX2_(name)
#endif

// Expands to a switch returning the `name` table of the ISA in use.
#define NNMAT_SELECT_TABLE(name)                 \
    switch (::nnmat::current_isa()) {            \
        NNMAT_SELECT_AVX512_(name)               \
        NNMAT_SELECT_AVX2_(name)                 \
        default: return ::nnmat::generic::name;  \
    }
