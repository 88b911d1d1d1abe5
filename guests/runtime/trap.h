// Exceptions a guest provokes on purpose: install_traps() loads an IDT for
// vectors 0-31 (guests/runtime/trap.asm), and each try_* executes one
// instruction with a fixup armed. If it faults, the handler resumes after it
// and the call returns the vector (13 for #GP); otherwise -1. Any other
// exception ends the guest with status 126 and the vector named.
#pragma once

#include <stdint.h>

extern "C" volatile uint64_t hv_trap_fixup;  // where the handler resumes; 0: none armed
extern "C" volatile int64_t hv_trap_vector;

namespace hv::guest {

inline constexpr int kVectorUd = 6, kVectorGp = 13;

void install_traps();

// The fixup is the label after the instruction; the handler disarms it.
#define HV_TRY_BEGIN "leaq 1f(%%rip), %%r11\n\tmovq %%r11, hv_trap_fixup(%%rip)\n\t"
#define HV_TRY_END "\n1:\tmovq $0, hv_trap_fixup(%%rip)"

inline int try_wrmsr(uint32_t msr, uint64_t v) {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "wrmsr" HV_TRY_END ::"c"(msr), "a"(uint32_t(v)), "d"(uint32_t(v >> 32))
                 : "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_rdmsr(uint32_t msr, uint64_t& v) {
    uint32_t lo = 0, hi = 0;
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "rdmsr" HV_TRY_END : "+a"(lo), "+d"(hi) : "c"(msr) : "r11", "memory");
    v = uint64_t(hi) << 32 | lo;
    return int(hv_trap_vector);
}

inline int try_write_cr0(uint64_t v) {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "mov %0, %%cr0" HV_TRY_END ::"r"(v) : "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_write_cr4(uint64_t v) {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "mov %0, %%cr4" HV_TRY_END ::"r"(v) : "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_xsetbv(uint32_t xcr, uint64_t v) {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "xsetbv" HV_TRY_END ::"c"(xcr), "a"(uint32_t(v)), "d"(uint32_t(v >> 32))
                 : "r11", "memory");
    return int(hv_trap_vector);
}

// Instructions of features CPUID does not offer (guests/badregs.cpp).
inline int try_monitor() {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "monitor" HV_TRY_END ::"a"(0x2000ull), "c"(0), "d"(0) : "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_mwait() {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "mwait" HV_TRY_END ::"a"(0), "c"(0) : "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_rdpmc() {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "rdpmc" HV_TRY_END ::"c"(0) : "rax", "rdx", "r11", "memory");
    return int(hv_trap_vector);
}

inline int try_wbinvd() {
    hv_trap_vector = -1;
    asm volatile(HV_TRY_BEGIN "wbinvd" HV_TRY_END ::: "r11", "memory");
    return int(hv_trap_vector);
}

#undef HV_TRY_BEGIN
#undef HV_TRY_END

inline uint64_t read_cr0() {
    uint64_t v;
    asm volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

inline uint64_t read_cr4() {
    uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

}  // namespace hv::guest
