// A paused vCPU's state, taken out of its VMCS and put back: what a
// migration carries from the source to the destination (struct hv_vcpu_state).
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/vm.h"

namespace hv {
namespace {

using F = vmx::VmcsField;

struct SegmentFields {
    hv_segment hv_vcpu_state::*member;
    F selector, base, limit, ar;
};

constexpr SegmentFields kSegments[] = {
    {&hv_vcpu_state::es, F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_AR_BYTES},
    {&hv_vcpu_state::cs, F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_AR_BYTES},
    {&hv_vcpu_state::ss, F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_AR_BYTES},
    {&hv_vcpu_state::ds, F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_AR_BYTES},
    {&hv_vcpu_state::fs, F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_AR_BYTES},
    {&hv_vcpu_state::gs, F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_AR_BYTES},
    {&hv_vcpu_state::ldtr, F::GUEST_LDTR_SELECTOR, F::GUEST_LDTR_BASE, F::GUEST_LDTR_LIMIT, F::GUEST_LDTR_AR_BYTES},
    {&hv_vcpu_state::tr, F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_AR_BYTES},
};

struct NaturalField {
    uint64_t hv_vcpu_state::*member;
    F field;
};

constexpr NaturalField kFields[] = {
    {&hv_vcpu_state::rsp, F::GUEST_RSP},
    {&hv_vcpu_state::rip, F::GUEST_RIP},
    {&hv_vcpu_state::rflags, F::GUEST_RFLAGS},
    {&hv_vcpu_state::cr0, F::GUEST_CR0},
    {&hv_vcpu_state::cr3, F::GUEST_CR3},
    {&hv_vcpu_state::cr4, F::GUEST_CR4},
    {&hv_vcpu_state::efer, F::GUEST_IA32_EFER},
    {&hv_vcpu_state::pat, F::GUEST_IA32_PAT},
    {&hv_vcpu_state::dr7, F::GUEST_DR7},
    {&hv_vcpu_state::gdtr_base, F::GUEST_GDTR_BASE},
    {&hv_vcpu_state::idtr_base, F::GUEST_IDTR_BASE},
    {&hv_vcpu_state::sysenter_cs, F::GUEST_SYSENTER_CS},
    {&hv_vcpu_state::sysenter_esp, F::GUEST_SYSENTER_ESP},
    {&hv_vcpu_state::sysenter_eip, F::GUEST_SYSENTER_EIP},
};

}  // namespace

void Vm::export_state() {
    hv_vcpu_state& s = exported_;
    s = hv_vcpu_state{};
    s.rax = regs_.rax, s.rbx = regs_.rbx, s.rcx = regs_.rcx, s.rdx = regs_.rdx;
    s.rsi = regs_.rsi, s.rdi = regs_.rdi, s.rbp = regs_.rbp;
    s.r8 = regs_.r8, s.r9 = regs_.r9, s.r10 = regs_.r10, s.r11 = regs_.r11;
    s.r12 = regs_.r12, s.r13 = regs_.r13, s.r14 = regs_.r14, s.r15 = regs_.r15;
    for (const NaturalField& f : kFields) s.*f.member = vmx::vmread(f.field);
    for (const SegmentFields& f : kSegments) {
        hv_segment& g = s.*f.member;
        g.selector = uint16_t(vmx::vmread(f.selector));
        g.base = vmx::vmread(f.base);
        g.limit = uint32_t(vmx::vmread(f.limit));
        g.access_rights = uint32_t(vmx::vmread(f.ar));
    }
    s.gdtr_limit = uint32_t(vmx::vmread(F::GUEST_GDTR_LIMIT));
    s.idtr_limit = uint32_t(vmx::vmread(F::GUEST_IDTR_LIMIT));
    s.interruptibility = uint32_t(vmx::vmread(F::GUEST_INTERRUPTIBILITY_INFO));
    s.activity = uint32_t(vmx::vmread(F::GUEST_ACTIVITY_STATE));
}

void Vm::import_state() {
    const hv_vcpu_state& s = pending_;
    regs_ = GuestRegs{s.rax, s.rbx, s.rcx, s.rdx, s.rsi, s.rdi, s.rbp, s.r8,
                      s.r9,  s.r10, s.r11, s.r12, s.r13, s.r14, s.r15};
    for (const NaturalField& f : kFields) vmx::vmwrite(f.field, s.*f.member);
    for (const SegmentFields& f : kSegments) {
        const hv_segment& g = s.*f.member;
        vmx::vmwrite(f.selector, g.selector);
        vmx::vmwrite(f.base, g.base);
        vmx::vmwrite(f.limit, g.limit);
        vmx::vmwrite(f.ar, g.access_rights);
    }
    vmx::vmwrite(F::GUEST_GDTR_LIMIT, s.gdtr_limit);
    vmx::vmwrite(F::GUEST_IDTR_LIMIT, s.idtr_limit);
    vmx::vmwrite(F::GUEST_INTERRUPTIBILITY_INFO, s.interruptibility);
    vmx::vmwrite(F::GUEST_ACTIVITY_STATE, s.activity);
    // The VM-entry control must agree with EFER.LMA (Intel SDM Vol. 3C, 27.3.1.1).
    uint64_t entry = vmx::vmread(F::VM_ENTRY_CONTROLS) & ~uint64_t(vmx::entry_ctl::IA32E_MODE_GUEST);
    if (s.efer & x86::efer::LMA) entry |= vmx::entry_ctl::IA32E_MODE_GUEST;
    vmx::vmwrite(F::VM_ENTRY_CONTROLS, entry);
}

}  // namespace hv
