// A guest's general registers while it is not running. The layout is shared
// with arch/x86/vmx/entry.asm (R_* offsets); RSP and RIP live in the VMCS.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv {

struct GuestRegs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
static_assert(offsetof(GuestRegs, rdi) == 40 && offsetof(GuestRegs, r15) == 112, "entry.asm's R_* offsets");

// General register number n as instructions encode it (0 = RAX, ..., 15 =
// R15) in r; nullptr for 4, RSP, which lives in the VMCS.
inline uint64_t* gpr(GuestRegs& r, unsigned n) {
    static constexpr uint64_t GuestRegs::*kByNumber[16] = {
        &GuestRegs::rax, &GuestRegs::rcx, &GuestRegs::rdx, &GuestRegs::rbx, nullptr,         &GuestRegs::rbp,
        &GuestRegs::rsi, &GuestRegs::rdi, &GuestRegs::r8,  &GuestRegs::r9,  &GuestRegs::r10, &GuestRegs::r11,
        &GuestRegs::r12, &GuestRegs::r13, &GuestRegs::r14, &GuestRegs::r15};
    return n < 16 && kByNumber[n] ? &(r.*kByNumber[n]) : nullptr;
}

}  // namespace hv

extern "C" uint64_t vmx_run(hv::GuestRegs* regs, uint64_t launched);
extern "C" char vmx_exit_entry[];
