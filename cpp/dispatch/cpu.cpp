#include "dispatch/cpu.h"

#include <atomic>
#if defined(__x86_64__) || defined(__i386__)
#define NNMAT_X86_CPUID 1
#include <cpuid.h>
#endif
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace nnmat {
namespace {

#ifdef NNMAT_X86_CPUID
uint64_t read_xcr0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t(edx) << 32) | eax;
}

Isa detect() {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::generic;
    const bool osxsave = ecx & (1u << 27);
    const bool avx = ecx & (1u << 28);
    const bool fma = ecx & (1u << 12);
    if (!osxsave || !avx) return Isa::generic;
    const uint64_t xcr0 = read_xcr0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
    if (!os_ymm) return Isa::generic;
    if (__get_cpuid_max(0, nullptr) < 7) return Isa::generic;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool avx2 = ebx & (1u << 5);
    const bool f = ebx & (1u << 16), dq = ebx & (1u << 17);
    const bool bw = ebx & (1u << 30), vl = ebx & (1u << 31);
    Isa best = Isa::generic;
    if (avx2 && fma) best = Isa::avx2;
    if (best == Isa::avx2 && os_zmm && f && dq && bw && vl) best = Isa::avx512;
    // Never report a level this build has no kernels for.
    while (!isa_compiled(best)) best = Isa(int(best) - 1);
    return best;
}
#else
Isa detect() { return Isa::generic; }  // not x86: the portable kernels only
#endif

const KernelTable* table_for(Isa isa) {
    switch (isa) {
#ifdef NNMAT_BUILD_AVX512
        case Isa::avx512: return &avx512::kernel_table;
#endif
#ifdef NNMAT_BUILD_AVX2
        case Isa::avx2: return &avx2::kernel_table;
#endif
        default: return &generic::kernel_table;
    }
}

const Isa g_detected = detect();
std::atomic<int> g_current{int(g_detected)};

}  // namespace

bool isa_compiled(Isa isa) {
    switch (isa) {
        case Isa::generic: return true;
#ifdef NNMAT_BUILD_AVX2
        case Isa::avx2: return true;
#endif
#ifdef NNMAT_BUILD_AVX512
        case Isa::avx512: return true;
#endif
        default: return false;
    }
}

Isa detected_isa() { return g_detected; }
Isa current_isa() { return Isa(g_current.load(std::memory_order_relaxed)); }
const KernelTable& kernels() { return *table_for(current_isa()); }

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        default: return "generic";
    }
}

Isa parse_isa(const std::string& name) {
    if (name == "generic") return Isa::generic;
    if (name == "avx2") return Isa::avx2;
    if (name == "avx512") return Isa::avx512;
    throw std::invalid_argument("unknown ISA '" + name + "': expected one of 'generic', 'avx2', 'avx512'");
}

void set_isa(Isa isa) {
    if (int(isa) > int(g_detected)) {
        throw std::invalid_argument(std::string("ISA '") + isa_name(isa) +
                                    "' is not available: this CPU/OS/build supports up to '" +
                                    isa_name(g_detected) + "'");
    }
    g_current.store(int(isa), std::memory_order_relaxed);
}

void select_isa_from_environment() {
    const char* env = std::getenv("NNMAT_ISA");
    if (env == nullptr || env[0] == '\0') return;
    Isa isa;
    try {
        isa = parse_isa(env);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("NNMAT_ISA: ") + e.what());
    }
    try {
        set_isa(isa);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("NNMAT_ISA=") + env + ": " + e.what());
    }
}

std::string cpu_brand() {
#ifndef NNMAT_X86_CPUID
    return "unknown";
#else
    unsigned regs[12];
    if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000004u) return "unknown";
    for (unsigned i = 0; i < 3; ++i)
        __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
    char buf[49];
    std::memcpy(buf, regs, 48);
    buf[48] = '\0';
    std::string s(buf);
    const auto b = s.find_first_not_of(' ');
    const auto e = s.find_last_not_of(' ');
    return b == std::string::npos ? "unknown" : s.substr(b, e - b + 1);
#endif
}

}  // namespace nnmat
