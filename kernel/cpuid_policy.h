// What CPUID tells a guest: the processor's answer, less what the hypervisor
// does not give guests, plus what only the hypervisor knows (the TSC rate).
// One policy for every guest; docs/cpuid-msr.md is its reference page.
//
// Pure: given the processor's answer, the guest's CR4 and the measured TSC
// rate, it returns the guest's. Host-tested (hosttests/cpuid_policy_test.cpp).
#pragma once

#include <stdint.h>

namespace hv::cpuid_policy {

struct Regs {
    uint32_t eax, ebx, ecx, edx;
};

struct GuestFacts {
    uint64_t tsc_hz;  // as the hypervisor measured it
    uint64_t cr4;     // the guest's CR4 (OSXSAVE and PKE are reported from it)
};

// The highest hypervisor leaf and its 12-byte signature, "MicroHiVisor".
inline constexpr uint32_t kHypervisorLeaf = 0x40000000;

Regs guest_view(uint32_t leaf, uint32_t sub, Regs host, const GuestFacts& g);

}  // namespace hv::cpuid_policy
