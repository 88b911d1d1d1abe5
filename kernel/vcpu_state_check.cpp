#include "kernel/vcpu_state_check.h"

#include "arch/x86/cpu.h"
#include "arch/x86/vmx/guest_state.h"

namespace hv {
namespace {

namespace blocking = vmx::interruptibility;

// The control and flag registers against VMX's fixed bits (Intel SDM Vol.
// 3C, 27.3.1.1): VM entry would refuse these and stop the guest.
bool registers_ok(const hv_vcpu_state& s, const vmx::Controls& c) {
    constexpr uint64_t kEferValid = x86::efer::SCE | x86::efer::LME | x86::efer::LMA | x86::efer::NXE;
    constexpr uint64_t kRflagsReserved = 0xffffffffffc08028ull;  // bits 3, 5, 15, 22-63
    // Unrestricted guest: PE and PG may be 0 whatever IA32_VMX_CR0_FIXED0 says.
    uint64_t cr0_fixed0 = c.cr0_fixed0 & ~(x86::cr0::PE | x86::cr0::PG);
    return (s.cr0 & cr0_fixed0) == cr0_fixed0 && !(s.cr0 & ~c.cr0_fixed1) &&
           (s.cr4 & c.cr4_fixed0) == c.cr4_fixed0 && !(s.cr4 & ~c.cr4_fixed1) && !(s.efer & ~kEferValid) &&
           (s.rflags & x86::rflags::FIXED1) && !(s.rflags & kRflagsReserved);
}

// The interruptibility state as VM entry checks it (27.3.1.5), for an entry
// that injects nothing and does not enter SMM, with the activity state active.
bool interruptibility_ok(uint32_t i, uint64_t rflags) {
    constexpr uint32_t kKnown = blocking::BLOCKING_BY_STI | blocking::BLOCKING_BY_MOV_SS |
                                blocking::BLOCKING_BY_SMI | blocking::BLOCKING_BY_NMI |
                                blocking::ENCLAVE_INTERRUPTION;
    constexpr uint32_t kStiOrMovSs = blocking::BLOCKING_BY_STI | blocking::BLOCKING_BY_MOV_SS;
    if (i & ~kKnown) return false;  // bits 31:5 reserved
    if ((i & kStiOrMovSs) == kStiOrMovSs) return false;
    if ((i & blocking::BLOCKING_BY_STI) && !(rflags & x86::rflags::IF)) return false;
    // Blocking by SMI only in SMM; no guest of ours runs an enclave.
    if (i & (blocking::BLOCKING_BY_SMI | blocking::ENCLAVE_INTERRUPTION)) return false;
    // With STI or MOV-SS blocking and TF set, VM entry requires the pending
    // single-step trap (pending debug exceptions' BS bit), which the state
    // does not carry: refused rather than a failed VM entry.
    if ((i & kStiOrMovSs) && (rflags & x86::rflags::TF)) return false;
    return true;
}

}  // namespace

// Beyond what VM entry checks: only the active state. A guest that executes
// HLT is stopped (HLT exiting; nothing could wake it), so HLT is refused
// rather than entered; in shutdown or wait-for-SIPI a vCPU takes neither the
// VMX-preemption timer nor the kick's external-interrupt exit, and its CPU
// would be lost to the hypervisor for good. GET_VCPU_STATE of a paused guest
// always reports the active state: a pause happens between two instructions.
bool vcpu_state_acceptable(const hv_vcpu_state& s, const vmx::Controls& c) {
    return registers_ok(s, c) && s.activity == uint32_t(vmx::ActivityState::Active) &&
           interruptibility_ok(s.interruptibility, s.rflags);
}

}  // namespace hv
