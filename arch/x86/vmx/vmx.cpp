#include "arch/x86/vmx/vmx.h"

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/xsave.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/console.h"
#include "mm/frame_allocator.h"

namespace hv::vmx {
namespace {

using x86::Msr;
using x86::rdmsr;

constexpr uint32_t kCpuid1EcxVmx = 1u << 5;
constexpr uint64_t kMemoryTypeWriteBack = 6;

// A control MSR's low half holds the bits that must be 1 (allowed 0-settings
// are 0 there), its high half the bits that may be 1 (Intel SDM Vol. 3D, A.3).
// Returns the control word; `missing` gets the wanted bits the CPU cannot set.
uint32_t adjust(uint32_t wanted, uint64_t cap, uint32_t& missing) {
    uint32_t must = uint32_t(cap), may = uint32_t(cap >> 32);
    missing = wanted & ~may;
    return (wanted | must) & may;
}

bool fail(char* why, size_t n, const char* fmt, uint64_t a = 0) {
    format(why, n, fmt, a);
    return false;
}

}  // namespace

bool enable(mm::FrameAllocator& frames, Controls& c, char* why, size_t n) {
    if (!(x86::cpuid(1).ecx & kCpuid1EcxVmx))
        return fail(why, n, "VMX not supported by this CPU: CPUID.1:ECX.VMX[bit 5] = 0");

    // IA32_FEATURE_CONTROL: firmware may lock it with VMX off; we may only set
    // it while it is unlocked (writing a locked MSR is a #GP).
    uint64_t fc = rdmsr(Msr::IA32_FEATURE_CONTROL);
    if (!(fc & feature_control::LOCK)) {
        fc |= feature_control::VMXON_OUTSIDE_SMX | feature_control::LOCK;
        x86::wrmsr(Msr::IA32_FEATURE_CONTROL, fc);
    } else if (!(fc & feature_control::VMXON_OUTSIDE_SMX)) {
        return fail(why, n,
                    "VMX not supported by this CPU: disabled by firmware (IA32_FEATURE_CONTROL = 0x%lx, locked "
                    "without VMXON outside SMX)",
                    fc);
    }

    uint64_t basic = rdmsr(Msr::IA32_VMX_BASIC);
    c.vmcs_revision = uint32_t(basic & basic::REVISION_MASK);
    if (((basic >> basic::MEMORY_TYPE_SHIFT) & 0xf) != kMemoryTypeWriteBack)
        return fail(why, n, "VMX unusable: VMCS memory type is not write-back (IA32_VMX_BASIC = 0x%lx)", basic);
    bool true_ctls = basic & basic::TRUE_CONTROLS;

    uint32_t missing;
    uint64_t pin_cap = rdmsr(true_ctls ? Msr::IA32_VMX_TRUE_PINBASED_CTLS : Msr::IA32_VMX_PINBASED_CTLS);
    c.pin = adjust(pin::EXTERNAL_INTERRUPT_EXITING | pin::NMI_EXITING, pin_cap, missing);
    if (missing) return fail(why, n, "VMX unusable: pin-based controls 0x%lx not supported", missing);
    c.preemption_timer = (pin_cap >> 32) & pin::PREEMPTION_TIMER;
    if (c.preemption_timer) c.pin |= pin::PREEMPTION_TIMER;
    c.preemption_timer_shift = unsigned(rdmsr(Msr::IA32_VMX_MISC) & 0x1f);
    // No MSR bitmap: every RDMSR/WRMSR exits, so the guest sees only the MSRs
    // we emulate. Unconditional I/O exiting: the guest owns no port.
    // The TPR shadow: a guest's MOV to CR8 goes to its own virtual-APIC page,
    // not to this CPU's local APIC, whose TPR would otherwise block the
    // hypervisor's own IPIs (every CPU with EPT has it).
    const uint64_t proc_cap = rdmsr(true_ctls ? Msr::IA32_VMX_TRUE_PROCBASED_CTLS : Msr::IA32_VMX_PROCBASED_CTLS);
    // TSC offsetting: a migrated guest's TSC goes on from the source's.
    c.proc = adjust(proc::HLT_EXITING | proc::UNCONDITIONAL_IO_EXITING | proc::USE_TPR_SHADOW |
                        proc::USE_TSC_OFFSETTING | proc::ACTIVATE_SECONDARY_CONTROLS,
                    proc_cap, missing);
    if (missing) return fail(why, n, "VMX unusable: processor-based controls 0x%lx not supported", missing);
    // Where the CPU lets us: MONITOR/MWAIT exit (CPUID offers no MONITOR;
    // a deep C-state hint could stop the preemption timer) and RDPMC exits
    // (the host's counters are not the guest's).
    uint32_t unused;
    c.proc |= adjust(proc::MWAIT_EXITING | proc::MONITOR_EXITING | proc::RDPMC_EXITING, proc_cap, unused) &
              (proc::MWAIT_EXITING | proc::MONITOR_EXITING | proc::RDPMC_EXITING);
    uint64_t proc2_cap = rdmsr(Msr::IA32_VMX_PROCBASED_CTLS2);
    // WBINVD exits where it can (a guest flushing every cache of the CPU is
    // the host's business: guest memory is write-back and coherent).
    c.proc2 = adjust(proc2::ENABLE_EPT | proc2::UNRESTRICTED_GUEST, proc2_cap, missing) |
              (uint32_t(proc2_cap >> 32) & proc2::WBINVD_EXITING);
    if (missing & proc2::ENABLE_EPT) return fail(why, n, "VMX unusable: no EPT (secondary controls 0x%lx)", missing);
    if (missing) return fail(why, n, "VMX unusable: no unrestricted guest (secondary controls 0x%lx)", missing);
    // DR7 and IA32_DEBUGCTL are the guest's from its VMCS: loaded at entry,
    // saved at exit (which then sets DR7 to 0x400 and clears DEBUGCTL).
    c.exit = adjust(exit_ctl::HOST_ADDRESS_SPACE_SIZE | exit_ctl::SAVE_DEBUG_CONTROLS | exit_ctl::SAVE_IA32_EFER |
                        exit_ctl::LOAD_IA32_EFER | exit_ctl::SAVE_IA32_PAT | exit_ctl::LOAD_IA32_PAT,
                    rdmsr(true_ctls ? Msr::IA32_VMX_TRUE_EXIT_CTLS : Msr::IA32_VMX_EXIT_CTLS), missing);
    if (missing) return fail(why, n, "VMX unusable: VM-exit controls 0x%lx not supported", missing);
    c.entry = adjust(entry_ctl::LOAD_DEBUG_CONTROLS | entry_ctl::LOAD_IA32_EFER | entry_ctl::LOAD_IA32_PAT,
                     rdmsr(true_ctls ? Msr::IA32_VMX_TRUE_ENTRY_CTLS : Msr::IA32_VMX_ENTRY_CTLS), missing);
    if (missing) return fail(why, n, "VMX unusable: VM-entry controls 0x%lx not supported", missing);
    // A guest starts in 32-bit mode; the CPU sets this control itself at each
    // VM exit from EFER.LMA once the guest has entered long mode.
    c.entry &= ~entry_ctl::IA32E_MODE_GUEST;

    c.ept_caps = rdmsr(Msr::IA32_VMX_EPT_VPID_CAP);
    constexpr uint64_t kNeeded = ept_cap::PAGE_WALK_4 | ept_cap::MEMORY_TYPE_WB | ept_cap::INVEPT;
    if ((c.ept_caps & kNeeded) != kNeeded)
        return fail(why, n, "VMX unusable: EPT lacks 4-level walks, write-back tables or INVEPT (caps 0x%lx)",
                    c.ept_caps);
    // All-context INVEPT serves cross-CPU flush requests (kernel/tlb.cpp),
    // which do not name an EPTP; every EPT-capable Intel CPU has it.
    if (!(c.ept_caps & ept_cap::INVEPT_ALL_CONTEXT))
        return fail(why, n, "VMX unusable: INVEPT lacks the all-context type (caps 0x%lx)", c.ept_caps);
    // PML logs what sets an EPT D bit: it needs the A/D bits too (SDM 29.3.6).
    c.pml = (proc2_cap >> 32 & proc2::ENABLE_PML) && (c.ept_caps & ept_cap::ACCESSED_DIRTY);

    c.cr0_fixed0 = rdmsr(Msr::IA32_VMX_CR0_FIXED0);
    c.cr0_fixed1 = rdmsr(Msr::IA32_VMX_CR0_FIXED1);
    c.cr4_fixed0 = rdmsr(Msr::IA32_VMX_CR4_FIXED0);
    c.cr4_fixed1 = rdmsr(Msr::IA32_VMX_CR4_FIXED1);

    uint64_t region = frames.alloc();
    if (!region) return fail(why, n, "VMX unusable: no frame for the VMXON region");
    *x86::phys_to_virt<uint32_t>(region) = c.vmcs_revision;

    uint64_t cr0 = x86::read_cr0(), cr4 = x86::read_cr4();
    x86::write_cr4((cr4 | c.cr4_fixed0 | x86::cr4::VMXE) & c.cr4_fixed1);
    x86::write_cr0((cr0 | c.cr0_fixed0) & c.cr0_fixed1);
    if (vmxon(region) != VmxResult::Ok) {
        x86::write_cr0(cr0);
        x86::write_cr4(cr4);
        frames.free(region);
        return fail(why, n, "VMXON failed (region at 0x%lx)", region);
    }
    c.xsave = x86::xsave_features();
    x86::enable_xsave(c.xsave);
    return true;
}

}  // namespace hv::vmx
