// Encodings of the guest non-register state (Intel SDM Vol. 3C, 25.4.2):
// the interruptibility state and the activity state.
#pragma once

#include <stdint.h>

namespace hv::vmx {

// Interruptibility state (Table 25-3); bits 31:5 are reserved.
namespace interruptibility {
inline constexpr uint32_t BLOCKING_BY_STI = 1u << 0, BLOCKING_BY_MOV_SS = 1u << 1, BLOCKING_BY_SMI = 1u << 2,
                          BLOCKING_BY_NMI = 1u << 3, ENCLAVE_INTERRUPTION = 1u << 4;
}

// Activity state (25.4.2): what the logical processor does after VM entry.
enum class ActivityState : uint32_t { Active = 0, Hlt = 1, Shutdown = 2, WaitForSipi = 3 };

}  // namespace hv::vmx
