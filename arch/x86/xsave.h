// The x87/SSE/AVX register state as one block of memory: FXSAVE/FXRSTOR
// (x87 and SSE, 512 bytes) and XSAVE/XRSTOR (every state component XCR0
// enables; Intel SDM Vol. 1, chapter 13). The kernel is built with
// -mgeneral-regs-only and never touches this state; it keeps each vCPU's.
#pragma once

#include <stdint.h>

namespace hv::x86 {

// XCR0 state components (Intel SDM Vol. 1, 13.1).
namespace xcr0 {
inline constexpr uint64_t X87 = 1ull << 0, SSE = 1ull << 1, AVX = 1ull << 2, BNDREGS = 1ull << 3,
                          BNDCSR = 1ull << 4, OPMASK = 1ull << 5, ZMM_HI256 = 1ull << 6, HI16_ZMM = 1ull << 7,
                          PKRU = 1ull << 9, TILECFG = 1ull << 17, TILEDATA = 1ull << 18;
inline constexpr uint64_t AVX512 = OPMASK | ZMM_HI256 | HI16_ZMM;
inline constexpr uint64_t AMX = TILECFG | TILEDATA;
}  // namespace xcr0

// The legacy region at the start of an FXSAVE or XSAVE area (Intel SDM
// Vol. 1, 10.5.1): the fields a fresh vCPU needs set.
inline constexpr unsigned kFxsaveBytes = 512;
inline constexpr unsigned kFcwOffset = 0, kMxcsrOffset = 24;
inline constexpr uint16_t kFcwInit = 0x37f;     // FNINIT's: every exception masked, 64-bit precision
inline constexpr uint32_t kMxcsrInit = 0x1f80;  // every SIMD exception masked

inline void xsetbv(uint32_t xcr, uint64_t v) {
    asm volatile("xsetbv" ::"c"(xcr), "a"(uint32_t(v)), "d"(uint32_t(v >> 32)) : "memory");
}
inline uint64_t xgetbv(uint32_t xcr) {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(xcr));
    return uint64_t(hi) << 32 | lo;
}
// The standard (uncompacted) format; area 64-byte aligned.
inline void xsave(void* area, uint64_t components) {
    asm volatile("xsave64 (%0)" ::"r"(area), "a"(uint32_t(components)), "d"(uint32_t(components >> 32))
                 : "memory");
}
inline void xrstor(const void* area, uint64_t components) {
    asm volatile("xrstor64 (%0)" ::"r"(area), "a"(uint32_t(components)), "d"(uint32_t(components >> 32))
                 : "memory");
}
// Area 16-byte aligned.
inline void fxsave(void* area) { asm volatile("fxsave64 (%0)" ::"r"(area) : "memory"); }
inline void fxrstor(const void* area) { asm volatile("fxrstor64 (%0)" ::"r"(area) : "memory"); }

// What this CPU offers, from CPUID.
struct XsaveFeatures {
    bool xsave;          // else FXSAVE only
    uint64_t supported;  // XCR0 bits the CPU allows (x87 | SSE without XSAVE)
    uint32_t bytes;      // an area for all of them
};
XsaveFeatures xsave_features();

// On each CPU before it runs a guest: CR4.OSFXSR (FXSAVE then saves the XMM
// registers too) and, with XSAVE, CR4.OSXSAVE and XCR0 = every supported
// component, which is what the hypervisor saves and restores with.
void enable_xsave(const XsaveFeatures& f);

}  // namespace hv::x86
