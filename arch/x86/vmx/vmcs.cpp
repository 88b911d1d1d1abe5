#include "arch/x86/vmx/vmcs.h"

#include "arch/x86/cpu.h"
#include "arch/x86/descriptor_tables.h"
#include "arch/x86/vmx/instructions.h"

namespace hv::vmx {
namespace {

using F = VmcsField;

void w(F f, uint64_t v) { vmwrite(f, v); }

// Segment access rights in the VMCS format (Intel SDM Vol. 3C, Table 25-2).
constexpr uint32_t kArCode32 = 0xc09b;   // G, D/B, P, S, type 11 (execute/read, accessed)
constexpr uint32_t kArData32 = 0xc093;   // G, D/B, P, S, type 3 (read/write, accessed)
constexpr uint32_t kArTss32Busy = 0x8b;  // P, type 11 (busy 32-bit TSS)
constexpr uint32_t kArUnusable = 1u << 16;

constexpr uint64_t kDefaultPat = 0x0007040600070406ull;  // the power-on value
constexpr uint64_t kDr7Init = 0x400;
constexpr uint64_t kRflagsFixed = 1ull << 1;
constexpr uint64_t kRflagsIf = 1ull << 9;
// Guests start with RFLAGS.IF set although they never take an interrupt: with
// external-interrupt exiting, IF does not gate the exit (SDM 25.2 and 26.3),
// but Bochs 2.7 takes the exit only when the guest's IF is 1. With IF clear a
// kick (TLB flush, pause) waited for the guest's next exit of another kind:
// a harvest with the source on another CPU cost ~975K cycles instead of ~85K.
constexpr uint64_t kGuestRflags = kRflagsFixed | kRflagsIf;

// The guest owns a CR0/CR4 bit unless VMX fixes it; the fixed ones are
// host-owned (set in the guest/host mask) and the guest reads the shadow. With
// unrestricted guest, CR0.PE and CR0.PG are the guest's despite FIXED0.
// CR0.CD and CR0.NW are the host's too: VM entry and exit leave them as they
// are (Intel SDM Vol. 3C, 28.5.1), so a guest's would stay for the host and
// the next guest on the CPU; a guest's writes go to the shadow only
// (kernel/vm_cr.cpp), as KVM keeps them.
uint64_t cr0_host_owned(const Controls& c) {
    return (c.cr0_fixed0 & ~(x86::cr0::PE | x86::cr0::PG)) | ~c.cr0_fixed1 | x86::cr0::CD | x86::cr0::NW;
}
uint64_t cr4_host_owned(const Controls& c) { return c.cr4_fixed0 | ~c.cr4_fixed1; }

constexpr uint64_t kGuestCr0 = x86::cr0::PE | x86::cr0::ET | x86::cr0::NE;
constexpr uint64_t kGuestCr4 = 0;

}  // namespace

void write_controls(const Controls& c, uint64_t eptp) {
    w(F::PIN_BASED_VM_EXEC_CONTROL, c.pin);
    w(F::CPU_BASED_VM_EXEC_CONTROL, c.proc);
    w(F::SECONDARY_VM_EXEC_CONTROL, c.proc2);
    w(F::VM_EXIT_CONTROLS, c.exit);
    w(F::EXCEPTION_BITMAP, 0);
    w(F::PAGE_FAULT_ERROR_CODE_MASK, 0);
    w(F::PAGE_FAULT_ERROR_CODE_MATCH, 0);
    w(F::CR3_TARGET_COUNT, 0);
    w(F::VM_EXIT_MSR_STORE_COUNT, 0);
    w(F::VM_EXIT_MSR_LOAD_COUNT, 0);
    w(F::VM_ENTRY_MSR_LOAD_COUNT, 0);
    // No TPR-below-threshold exits: the guest's TPR gates no interrupt of
    // ours (it takes none), it is only kept for it.
    w(F::TPR_THRESHOLD, 0);
    // The guest's TSC is the CPU's until a migration gives it another.
    w(F::TSC_OFFSET, 0);
    w(F::CR0_GUEST_HOST_MASK, cr0_host_owned(c));
    w(F::CR4_GUEST_HOST_MASK, cr4_host_owned(c));
    w(F::EPT_POINTER, eptp);
    w(F::VMCS_LINK_POINTER, ~0ull);
}

void write_host_state(unsigned cpu, uint64_t exit_rip) {
    using namespace x86;
    w(F::HOST_CR0, read_cr0());
    w(F::HOST_CR3, read_cr3());
    w(F::HOST_CR4, read_cr4());
    w(F::HOST_CS_SELECTOR, kKernelCode);
    w(F::HOST_SS_SELECTOR, kKernelData);
    w(F::HOST_DS_SELECTOR, kKernelData);
    w(F::HOST_ES_SELECTOR, kKernelData);
    w(F::HOST_FS_SELECTOR, 0);
    w(F::HOST_GS_SELECTOR, 0);
    w(F::HOST_TR_SELECTOR, kTss);
    w(F::HOST_FS_BASE, rdmsr(Msr::IA32_FS_BASE));
    w(F::HOST_GS_BASE, rdmsr(Msr::IA32_GS_BASE));
    w(F::HOST_TR_BASE, tss_base(cpu));
    w(F::HOST_GDTR_BASE, current_gdtr().base);
    w(F::HOST_IDTR_BASE, current_idtr().base);
    w(F::HOST_IA32_SYSENTER_CS, 0);
    w(F::HOST_IA32_SYSENTER_ESP, 0);
    w(F::HOST_IA32_SYSENTER_EIP, 0);
    w(F::HOST_IA32_EFER, rdmsr(Msr::IA32_EFER));
    w(F::HOST_IA32_PAT, rdmsr(Msr::IA32_PAT));
    w(F::HOST_RIP, exit_rip);
}

void write_guest_boot_state(const Controls& c, uint64_t rip) {
    // Not in IA-32e mode, nothing to inject, CR0 and CR4 read as at reset:
    // also for a vCPU whose fields a state record had set before it started.
    w(F::VM_ENTRY_CONTROLS, c.entry);
    w(F::VM_ENTRY_INTR_INFO_FIELD, 0);
    w(F::CR0_READ_SHADOW, kGuestCr0);
    w(F::CR4_READ_SHADOW, kGuestCr4);
    struct Seg {
        F sel, base, limit, ar;
    };
    static constexpr Seg kData[] = {
        {F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_AR_BYTES},
        {F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_AR_BYTES},
        {F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_AR_BYTES},
        {F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_AR_BYTES},
        {F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_AR_BYTES},
    };
    for (const Seg& s : kData) {
        w(s.sel, 0x10);
        w(s.base, 0);
        w(s.limit, 0xffffffff);
        w(s.ar, kArData32);
    }
    w(F::GUEST_CS_SELECTOR, 0x08);
    w(F::GUEST_CS_BASE, 0);
    w(F::GUEST_CS_LIMIT, 0xffffffff);
    w(F::GUEST_CS_AR_BYTES, kArCode32);
    w(F::GUEST_LDTR_SELECTOR, 0);
    w(F::GUEST_LDTR_BASE, 0);
    w(F::GUEST_LDTR_LIMIT, 0);
    w(F::GUEST_LDTR_AR_BYTES, kArUnusable);
    w(F::GUEST_TR_SELECTOR, 0);
    w(F::GUEST_TR_BASE, 0);
    w(F::GUEST_TR_LIMIT, 0xff);
    w(F::GUEST_TR_AR_BYTES, kArTss32Busy);
    w(F::GUEST_GDTR_BASE, 0);
    w(F::GUEST_GDTR_LIMIT, 0);
    w(F::GUEST_IDTR_BASE, 0);
    w(F::GUEST_IDTR_LIMIT, 0);

    w(F::GUEST_CR0, (kGuestCr0 | (c.cr0_fixed0 & ~(x86::cr0::PE | x86::cr0::PG))) & c.cr0_fixed1);
    w(F::GUEST_CR3, 0);
    w(F::GUEST_CR4, (kGuestCr4 | c.cr4_fixed0) & c.cr4_fixed1);
    w(F::GUEST_DR7, kDr7Init);
    w(F::GUEST_RSP, 0);
    w(F::GUEST_RIP, rip);
    w(F::GUEST_RFLAGS, kGuestRflags);
    w(F::GUEST_PENDING_DBG_EXCEPTIONS, 0);
    w(F::GUEST_INTERRUPTIBILITY_INFO, 0);
    w(F::GUEST_ACTIVITY_STATE, 0);
    w(F::GUEST_SYSENTER_CS, 0);
    w(F::GUEST_SYSENTER_ESP, 0);
    w(F::GUEST_SYSENTER_EIP, 0);
    w(F::GUEST_IA32_DEBUGCTL, 0);
    w(F::GUEST_IA32_PAT, kDefaultPat);
    w(F::GUEST_IA32_EFER, 0);
}

}  // namespace hv::vmx
