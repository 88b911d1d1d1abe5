// What HV_HC_SET_STATE accepts (docs/hypercalls.md, "The state record"): a
// record VM entry would take, whose registers the hypervisor can load
// without faulting itself (a non-canonical LSTAR, an XSAVE header XRSTOR
// refuses, DR6 bits 63:32), from which it can always take its CPU back, and
// whose devices are states the device models could reach by themselves.
// Pure: the host tests run it.
#pragma once

#include <stdint.h>

#include "arch/x86/vmx/vmx.h"
#include "include/hv/hypercall.h"

namespace hv {

// What the destination's CPU offers.
struct StateLimits {
    const vmx::Controls& controls;  // the fixed CR0/CR4 bits and the XSAVE features
    uint32_t mxcsr_mask;            // MXCSR bits the CPU has (FXSAVE's MXCSR_MASK)
    unsigned linear_bits;           // for the canonical checks
    uint64_t tsc_hz;                // the platform's clock: PIT ticks from the TSC
    unsigned vcpus;                 // the destination guest's vCPUs
};

// nullptr when the record is acceptable, else the rule it breaks, named
// after the field ("vcpu.cr0: PG without PE").
const char* state_refusal(const hv_guest_state& s, const StateLimits& limits);

// XSETBV's #GP conditions (Intel SDM Vol. 1, 13.3), for a CPU that supports
// the components `supported`.
bool xcr0_acceptable(uint64_t v, uint64_t supported);

}  // namespace hv
