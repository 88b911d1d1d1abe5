// Turning VMX on: the feature checks, IA32_FEATURE_CONTROL, the CR0/CR4 fixed
// bits and VMXON, and the VM-execution controls computed from the capability
// MSRs (the TRUE_* ones where IA32_VMX_BASIC says they exist).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/xsave.h"

namespace hv::mm {
class FrameAllocator;
}

namespace hv::vmx {

// The controls this hypervisor runs every guest with, already adjusted to the
// capability MSRs (bits the CPU forces to 1 are set, bits it cannot set are
// absent; what we need and the CPU lacks is reported by enable()).
struct Controls {
    uint32_t pin, proc, proc2, exit, entry;
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint32_t vmcs_revision;
    uint64_t ept_caps;
    // The VMX-preemption timer counts down once every 2^preemption_timer_shift
    // TSC ticks (IA32_VMX_MISC[4:0]); absent (false) on CPUs without it, and
    // then guests on one CPU run one after the other instead of time-sliced.
    bool preemption_timer;
    unsigned preemption_timer_shift;
    // Page-modification logging with EPT A/D bits can be turned on (per VM,
    // dirty_log=pml); not set in proc2 here.
    bool pml;
    // How guests' x87/SSE/AVX state is kept (kernel/vcpu_context.h).
    x86::XsaveFeatures xsave;
};

// Checks that this CPU can run our guests (VMX, EPT with 4-level walks and
// write-back tables, unrestricted guest, INVEPT) and turns VMX on: sets and
// locks IA32_FEATURE_CONTROL when the firmware left it unlocked, applies the
// CR0/CR4 fixed bits, and executes VMXON. On failure returns false with a
// one-line reason in why ("VMX not supported by this CPU: ..." when VMX is
// absent), leaving the CPU as it was.
bool enable(mm::FrameAllocator& frames, Controls& out, char* why, size_t why_size);

}  // namespace hv::vmx
