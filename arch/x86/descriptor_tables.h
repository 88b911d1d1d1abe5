// GDT, TSS (with IST stacks for #DF, NMI and #MC) and IDT of one CPU.
#pragma once

#include <stdint.h>

namespace hv::x86 {

// Selectors of the kernel's GDT; the VMCS host-state area uses them too.
inline constexpr uint16_t kKernelCode = 0x08;
inline constexpr uint16_t kKernelData = 0x10;
inline constexpr uint16_t kTss = 0x18;

struct __attribute__((packed)) DescriptorTableRegister {
    uint16_t limit;
    uint64_t base;
};

// The frame exception_stubs.asm builds, lowest address first.
struct ExceptionFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;  // pushed by the CPU
};

// Loads this CPU's GDT, TSS and IDT. cpu indexes the per-CPU tables.
void load_descriptor_tables(unsigned cpu);

DescriptorTableRegister current_gdtr();
DescriptorTableRegister current_idtr();
uint64_t tss_base(unsigned cpu);

}  // namespace hv::x86
