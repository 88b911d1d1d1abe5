// A paused guest's state record (struct hv_guest_state, docs/hypercalls.md):
// taken out of its VMCS, its register context and its devices on its own
// CPU when it parks, and put back there when it resumes. What a migration
// carries from the source to the destination.
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/guest_state.h"
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

// CR0 and CR4 are not here: the record holds the guest's view of them.
constexpr NaturalField kFields[] = {
    {&hv_vcpu_state::rsp, F::GUEST_RSP},
    {&hv_vcpu_state::rip, F::GUEST_RIP},
    {&hv_vcpu_state::rflags, F::GUEST_RFLAGS},
    {&hv_vcpu_state::cr3, F::GUEST_CR3},
    {&hv_vcpu_state::efer, F::GUEST_IA32_EFER},
    {&hv_vcpu_state::pat, F::GUEST_IA32_PAT},
    {&hv_vcpu_state::dr7, F::GUEST_DR7},
    {&hv_vcpu_state::gdtr_base, F::GUEST_GDTR_BASE},
    {&hv_vcpu_state::idtr_base, F::GUEST_IDTR_BASE},
    {&hv_vcpu_state::sysenter_cs, F::GUEST_SYSENTER_CS},
    {&hv_vcpu_state::sysenter_esp, F::GUEST_SYSENTER_ESP},
    {&hv_vcpu_state::sysenter_eip, F::GUEST_SYSENTER_EIP},
    {&hv_vcpu_state::pending_debug_exceptions, F::GUEST_PENDING_DBG_EXCEPTIONS},
};

// The VM-entry interruption information (Intel SDM Vol. 3C, 25.8.3).
constexpr uint32_t kEventValid = 1u << 31, kEventErrorCode = 1u << 11;
bool software_event(uint32_t info) {
    const uint32_t type = info >> 8 & 7;
    return type == 4 || type == 5 || type == 6;  // INT n, INT1, INT3/INTO
}

}  // namespace

// On the guest's CPU, its VMCS current, between two slices: the registers
// VM exit saved, the context run_slice() saved, the devices as they are.
void Vcpu::export_state() {
    hv_guest_state& s = exported_;
    s = hv_guest_state{};
    s.magic = HV_STATE_MAGIC, s.version = HV_STATE_VERSION, s.size = sizeof s;
    s.flags = vm_.pc() ? HV_STATE_PC_PLATFORM : 0;
    s.vcpu_index = uint16_t(index_), s.vcpu_count = uint16_t(vm_.vcpu_count());
    hv_vcpu_state& v = s.vcpu;
    v.rax = regs_.rax, v.rbx = regs_.rbx, v.rcx = regs_.rcx, v.rdx = regs_.rdx;
    v.rsi = regs_.rsi, v.rdi = regs_.rdi, v.rbp = regs_.rbp;
    v.r8 = regs_.r8, v.r9 = regs_.r9, v.r10 = regs_.r10, v.r11 = regs_.r11;
    v.r12 = regs_.r12, v.r13 = regs_.r13, v.r14 = regs_.r14, v.r15 = regs_.r15;
    for (const NaturalField& f : kFields) v.*f.member = vmx::vmread(f.field);
    v.cr0 = cr0_view(), v.cr4 = cr4_view();
    for (const SegmentFields& f : kSegments) {
        hv_segment& g = v.*f.member;
        g.selector = uint16_t(vmx::vmread(f.selector));
        g.base = vmx::vmread(f.base);
        g.limit = uint32_t(vmx::vmread(f.limit));
        g.access_rights = uint32_t(vmx::vmread(f.ar));
    }
    v.gdtr_limit = uint32_t(vmx::vmread(F::GUEST_GDTR_LIMIT));
    v.idtr_limit = uint32_t(vmx::vmread(F::GUEST_IDTR_LIMIT));
    v.interruptibility = uint32_t(vmx::vmread(F::GUEST_INTERRUPTIBILITY_INFO));
    // The VMCS is always active between slices; HLT is the hypervisor's idle.
    v.activity = !started_ ? HV_ACTIVITY_WAIT_START : halted_ ? HV_ACTIVITY_HLT : HV_ACTIVITY_ACTIVE;
    // An event queued for the next entry: one of ours being injected, or one
    // whose delivery the last exit interrupted (requeue_interrupted_event).
    const uint32_t event = uint32_t(vmx::vmread(F::VM_ENTRY_INTR_INFO_FIELD));
    if (event & kEventValid) {
        v.pending_event = event;
        if (event & kEventErrorCode) v.pending_error_code = uint32_t(vmx::vmread(F::VM_ENTRY_EXCEPTION_ERROR_CODE));
        if (software_event(event)) v.pending_instruction_len = uint32_t(vmx::vmread(F::VM_ENTRY_INSTRUCTION_LEN));
    }
    v.tsc = x86::rdtsc() + vm_.tsc_offset();
    context_.save_to(s);
    // The platform is the VM's; a PC guest has one vCPU, whose record carries it.
    if (vm_.pc()) vm_.save_platform(s);
}

// At the resume, on the guest's CPU, its VMCS current. pending_ was accepted
// by state_refusal() when it was set: nothing below can fail.
void Vcpu::import_state() {
    const hv_guest_state& s = pending_;
    const hv_vcpu_state& v = s.vcpu;
    regs_ = GuestRegs{v.rax, v.rbx, v.rcx, v.rdx, v.rsi, v.rdi, v.rbp, v.r8,
                      v.r9,  v.r10, v.r11, v.r12, v.r13, v.r14, v.r15};
    for (const NaturalField& f : kFields) vmx::vmwrite(f.field, v.*f.member);
    set_cr0_cr4(v.cr0, v.cr4);
    for (const SegmentFields& f : kSegments) {
        const hv_segment& g = v.*f.member;
        vmx::vmwrite(f.selector, g.selector);
        vmx::vmwrite(f.base, g.base);
        vmx::vmwrite(f.limit, g.limit);
        vmx::vmwrite(f.ar, g.access_rights);
    }
    vmx::vmwrite(F::GUEST_GDTR_LIMIT, v.gdtr_limit);
    vmx::vmwrite(F::GUEST_IDTR_LIMIT, v.idtr_limit);
    vmx::vmwrite(F::GUEST_INTERRUPTIBILITY_INFO, v.interruptibility);
    vmx::vmwrite(F::GUEST_ACTIVITY_STATE, uint32_t(vmx::ActivityState::Active));
    halted_ = v.activity == HV_ACTIVITY_HLT;
    // A vCPU the source had not started waits for the guest's
    // HV_HC_START_VCPU here (claimed_ was set with the record).
    started_ = v.activity != HV_ACTIVITY_WAIT_START;
    vmx::vmwrite(F::VM_ENTRY_INTR_INFO_FIELD, v.pending_event);
    vmx::vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, v.pending_error_code);
    vmx::vmwrite(F::VM_ENTRY_INSTRUCTION_LEN, v.pending_instruction_len);
    // The VM-entry control must agree with EFER.LMA (Intel SDM Vol. 3C, 27.3.1.1).
    uint64_t entry = vmx::vmread(F::VM_ENTRY_CONTROLS) & ~uint64_t(vmx::entry_ctl::IA32E_MODE_GUEST);
    if (v.efer & x86::efer::LMA) entry |= vmx::entry_ctl::IA32E_MODE_GUEST;
    vmx::vmwrite(F::VM_ENTRY_CONTROLS, entry);
    context_.restore_from(s);
    // The guest's TSC goes on from the records' (Vm::request_resume set the
    // offset; the caller writes it): the downtime does not show, and it
    // never runs backwards. The platform comes with vCPU 0's record.
    if (index_ == 0) vm_.restore_platform(s);
}

}  // namespace hv
