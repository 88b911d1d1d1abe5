// RDMSR and WRMSR: every one exits (no MSR bitmap), so a guest sees only the
// MSRs emulated here. Those whose guest value the VMCS holds are read and
// written there; those VM entry and exit do not switch are kept per vCPU
// (kernel/vcpu_context.h). Any other MSR, or a value the processor would
// refuse, is a #GP for the guest, as for an MSR its CPU does not have.
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/vm.h"

namespace hv {
namespace {

using F = vmx::VmcsField;
using x86::Msr;

constexpr uint64_t kEferGuestWritable = x86::efer::SCE | x86::efer::LME | x86::efer::NXE;

// What a guest reads of the platform MSRs a stock Linux touches
// (../shared/linux-guest.md), with the writes it may make:
// - IA32_FEATURE_CONTROL: locked, VMX off (no nesting); writes #GP, as on a
//   locked register.
// - IA32_BIOS_SIGN_ID: microcode revision 0; Linux writes 0 before reading it
//   (the write is the architectural way to latch it) and that is accepted.
// - IA32_MISC_ENABLE: fast strings on, BTS and PEBS unavailable (no
//   debug store), XD not disabled; a write must leave it as it is but for
//   the fast-strings bit, which reads back.
constexpr uint64_t kFeatureControlLocked = 1;
constexpr uint64_t kMiscEnableFastStrings = 1u << 0, kMiscEnableBtsUnavailable = 1u << 11,
                   kMiscEnablePebsUnavailable = 1u << 12;
constexpr uint64_t kMiscEnable = kMiscEnableFastStrings | kMiscEnableBtsUnavailable | kMiscEnablePebsUnavailable;

// IA32_PAT: eight memory types, each 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB)
// or 7 (UC-); any other value is a #GP (Intel SDM Vol. 3A, 13.12.2).
bool valid_pat(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        const unsigned t = unsigned(v >> (8 * i)) & 0xff;
        if (t == 2 || t == 3 || t > 7) return false;
    }
    return true;
}

bool read_vmcs_msr(uint32_t msr, uint64_t& v) {
    switch (Msr(msr)) {
    case Msr::IA32_EFER:
        v = vmx::vmread(F::GUEST_IA32_EFER);
        return true;
    case Msr::IA32_FS_BASE:
        v = vmx::vmread(F::GUEST_FS_BASE);
        return true;
    case Msr::IA32_GS_BASE:
        v = vmx::vmread(F::GUEST_GS_BASE);
        return true;
    case Msr::IA32_SYSENTER_CS:
        v = vmx::vmread(F::GUEST_SYSENTER_CS);
        return true;
    case Msr::IA32_SYSENTER_ESP:
        v = vmx::vmread(F::GUEST_SYSENTER_ESP);
        return true;
    case Msr::IA32_SYSENTER_EIP:
        v = vmx::vmread(F::GUEST_SYSENTER_EIP);
        return true;
    case Msr::IA32_PAT:
        v = vmx::vmread(F::GUEST_IA32_PAT);
        return true;
    case Msr::IA32_FEATURE_CONTROL:
        v = kFeatureControlLocked;
        return true;
    case Msr::IA32_TIME_STAMP_COUNTER:  // CPUID.1:EDX.TSC promises it
        v = x86::rdtsc() + vmx::vmread(F::TSC_OFFSET);  // what RDTSC reads in the guest
        return true;
    case Msr::IA32_DEBUGCTL:  // the guest's, in the VMCS (docs/vcpu.md)
        v = vmx::vmread(F::GUEST_IA32_DEBUGCTL);
        return true;
    case Msr::IA32_BIOS_SIGN_ID:
        v = 0;
        return true;
    case Msr::IA32_MISC_ENABLE:
        v = kMiscEnable;
        return true;
    default:
        return false;
    }
}

bool write_vmcs_msr(uint32_t msr, uint64_t v, unsigned linear_bits) {
    switch (Msr(msr)) {
    case Msr::IA32_EFER: {
        // LMA is the CPU's to set (writes to it are ignored); LME may not
        // change while paging is on; every other bit is reserved (Intel SDM
        // Vol. 4, C0000080H).
        uint64_t efer = vmx::vmread(F::GUEST_IA32_EFER), requested = v & ~x86::efer::LMA;
        bool paging = vmx::vmread(F::GUEST_CR0) & x86::cr0::PG;
        if ((requested & ~kEferGuestWritable) || (paging && ((requested ^ efer) & x86::efer::LME))) return false;
        vmx::vmwrite(F::GUEST_IA32_EFER, requested | (efer & x86::efer::LMA));
        return true;
    }
    case Msr::IA32_FS_BASE:
    case Msr::IA32_GS_BASE:
        // VM entry would refuse a non-canonical base; WRMSR refuses it first.
        if (!x86::is_canonical(v, linear_bits)) return false;
        vmx::vmwrite(Msr(msr) == Msr::IA32_FS_BASE ? F::GUEST_FS_BASE : F::GUEST_GS_BASE, v);
        return true;
    case Msr::IA32_SYSENTER_CS:
        vmx::vmwrite(F::GUEST_SYSENTER_CS, uint32_t(v));
        return true;
    case Msr::IA32_SYSENTER_ESP:
    case Msr::IA32_SYSENTER_EIP:
        if (!x86::is_canonical(v, linear_bits)) return false;  // VM entry checks them too
        vmx::vmwrite(Msr(msr) == Msr::IA32_SYSENTER_ESP ? F::GUEST_SYSENTER_ESP : F::GUEST_SYSENTER_EIP, v);
        return true;
    case Msr::IA32_PAT:
        if (!valid_pat(v)) return false;
        vmx::vmwrite(F::GUEST_IA32_PAT, v);
        return true;
    case Msr::IA32_BIOS_SIGN_ID:
        return true;
    case Msr::IA32_DEBUGCTL:
        // No LBR, BTF or BTS here (no debug store, CPUID says): only 0.
        if (v) return false;
        vmx::vmwrite(F::GUEST_IA32_DEBUGCTL, 0);
        return true;
    case Msr::IA32_MISC_ENABLE:
        return (v & ~kMiscEnableFastStrings) == (kMiscEnable & ~kMiscEnableFastStrings);
    default:
        return false;
    }
}

}  // namespace

Vcpu::Next Vcpu::on_msr(bool write) {
    uint32_t msr = uint32_t(regs_.rcx);
    uint64_t v = (regs_.rdx << 32) | uint32_t(regs_.rax);
    // The two sets are disjoint: false from both is an MSR guests do not
    // have or a value refused.
    bool ok = write ? write_vmcs_msr(msr, v, context_.linear_address_bits()) || context_.write_msr(msr, v)
                    : read_vmcs_msr(msr, v) || context_.read_msr(msr, v);
    if (!ok) {
        inject_gp();  // the instruction is not skipped: the fault comes from it
        return Next::Resume;
    }
    if (!write) {
        regs_.rax = uint32_t(v);
        regs_.rdx = v >> 32;
    }
    skip_instruction();
    return Next::Resume;
}

}  // namespace hv
