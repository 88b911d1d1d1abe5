// What HV_HC_SET_VCPU_STATE accepts: a state VM entry would take, and one
// from which the hypervisor can always take its CPU back.
#pragma once

#include "arch/x86/vmx/vmx.h"
#include "include/hv/hypercall.h"

namespace hv {

bool vcpu_state_acceptable(const hv_vcpu_state& s, const vmx::Controls& c);

}  // namespace hv
