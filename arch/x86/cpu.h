// Thin wrappers over x86-64 instructions. Everything here is one instruction
// (or a fixed sequence) with the compiler barriers it needs; no policy.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::x86 {

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};

inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t{hi} << 32) | lo;
}

inline void wrmsr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" ::"c"(msr), "a"(uint32_t(value)), "d"(uint32_t(value >> 32)) : "memory");
}

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

#define HV_CR_ACCESSORS(n)                                              \
    inline uint64_t read_cr##n() {                                      \
        uint64_t v;                                                     \
        asm volatile("mov %%cr" #n ", %0" : "=r"(v));                   \
        return v;                                                       \
    }                                                                   \
    inline void write_cr##n(uint64_t v) { asm volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
HV_CR_ACCESSORS(0)
HV_CR_ACCESSORS(2)
HV_CR_ACCESSORS(3)
HV_CR_ACCESSORS(4)
#undef HV_CR_ACCESSORS

// Debug registers 0-3 and 6 (DR7 of a guest lives in its VMCS).
#define HV_DR_ACCESSORS(n)                                              \
    inline uint64_t read_dr##n() {                                      \
        uint64_t v;                                                     \
        asm volatile("mov %%dr" #n ", %0" : "=r"(v));                   \
        return v;                                                       \
    }                                                                   \
    inline void write_dr##n(uint64_t v) { asm volatile("mov %0, %%dr" #n ::"r"(v)); }
HV_DR_ACCESSORS(0)
HV_DR_ACCESSORS(1)
HV_DR_ACCESSORS(2)
HV_DR_ACCESSORS(3)
HV_DR_ACCESSORS(6)
#undef HV_DR_ACCESSORS

inline uint64_t read_rflags() {
    uint64_t v;
    asm volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

// The linear-address width (CPUID.80000008H:EAX[15:8]: 48, or 57 with
// 5-level paging); an address is canonical when bits 63 down to it agree.
inline unsigned linear_address_bits() { return (cpuid(0x80000008).eax >> 8) & 0xff; }
inline bool is_canonical(uint64_t a, unsigned bits) {
    return uint64_t(int64_t(a << (64 - bits)) >> (64 - bits)) == a;
}

inline void pause() { asm volatile("pause"); }
inline void cli() { asm volatile("cli" ::: "memory"); }
[[noreturn]] inline void halt_forever() {
    for (;;) asm volatile("cli; hlt");
}

// Control-register bits (Intel SDM Vol. 3A, 2.5).
namespace cr0 {
inline constexpr uint64_t PE = 1ull << 0, MP = 1ull << 1, EM = 1ull << 2, TS = 1ull << 3, ET = 1ull << 4,
                          NE = 1ull << 5, WP = 1ull << 16, AM = 1ull << 18, NW = 1ull << 29, CD = 1ull << 30,
                          PG = 1ull << 31;
}
namespace cr4 {
inline constexpr uint64_t PAE = 1ull << 5, PGE = 1ull << 7, OSFXSR = 1ull << 9, OSXMMEXCPT = 1ull << 10,
                          LA57 = 1ull << 12, VMXE = 1ull << 13, PCIDE = 1ull << 17, OSXSAVE = 1ull << 18,
                          PKE = 1ull << 22, CET = 1ull << 23;
}
namespace efer {
inline constexpr uint64_t SCE = 1ull << 0, LME = 1ull << 8, LMA = 1ull << 10, NXE = 1ull << 11;
}
// RFLAGS bits (Intel SDM Vol. 1, 3.4.3).
namespace rflags {
inline constexpr uint64_t FIXED1 = 1ull << 1, TF = 1ull << 8, IF = 1ull << 9;
}

// Architectural MSRs used by this kernel (Intel SDM Vol. 4).
enum class Msr : uint32_t {
    IA32_TIME_STAMP_COUNTER = 0x10,
    IA32_FEATURE_CONTROL = 0x3a,
    IA32_DEBUGCTL = 0x1d9,
    IA32_BIOS_SIGN_ID = 0x8b,  // the microcode revision, in bits 63:32
    IA32_MISC_ENABLE = 0x1a0,
    IA32_SYSENTER_CS = 0x174,
    IA32_SYSENTER_ESP = 0x175,
    IA32_SYSENTER_EIP = 0x176,
    IA32_PAT = 0x277,
    IA32_VMX_BASIC = 0x480,
    IA32_VMX_PINBASED_CTLS = 0x481,
    IA32_VMX_PROCBASED_CTLS = 0x482,
    IA32_VMX_EXIT_CTLS = 0x483,
    IA32_VMX_ENTRY_CTLS = 0x484,
    IA32_VMX_MISC = 0x485,
    IA32_VMX_CR0_FIXED0 = 0x486,
    IA32_VMX_CR0_FIXED1 = 0x487,
    IA32_VMX_CR4_FIXED0 = 0x488,
    IA32_VMX_CR4_FIXED1 = 0x489,
    IA32_VMX_PROCBASED_CTLS2 = 0x48b,
    IA32_VMX_EPT_VPID_CAP = 0x48c,
    IA32_VMX_TRUE_PINBASED_CTLS = 0x48d,
    IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e,
    IA32_VMX_TRUE_EXIT_CTLS = 0x48f,
    IA32_VMX_TRUE_ENTRY_CTLS = 0x490,
    IA32_EFER = 0xc0000080,
    IA32_STAR = 0xc0000081,
    IA32_LSTAR = 0xc0000082,
    IA32_CSTAR = 0xc0000083,
    IA32_FMASK = 0xc0000084,
    IA32_FS_BASE = 0xc0000100,
    IA32_GS_BASE = 0xc0000101,
    IA32_KERNEL_GS_BASE = 0xc0000102,
};

inline uint64_t rdmsr(Msr m) { return rdmsr(uint32_t(m)); }
inline void wrmsr(Msr m, uint64_t v) { wrmsr(uint32_t(m), v); }

}  // namespace hv::x86
