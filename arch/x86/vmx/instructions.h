// The VMX instructions, each with its outcome decoded from RFLAGS (Intel SDM
// Vol. 3C, 31.2): CF=1 is VMfailInvalid (no current VMCS), ZF=1 is VMfailValid
// (the reason is in the VM-instruction error field).
#pragma once

#include <stdint.h>

#include "arch/x86/vmx/vmcs_fields.h"

namespace hv::vmx {

enum class VmxResult : uint8_t { Ok, FailInvalid, FailValid };

#define HV_VMX_RESULT(insn, ...)                                                                  \
    uint8_t cf, zf;                                                                               \
    asm volatile(insn "; setc %0; setz %1" : "=qm"(cf), "=qm"(zf) : __VA_ARGS__ : "cc", "memory"); \
    return cf ? VmxResult::FailInvalid : zf ? VmxResult::FailValid : VmxResult::Ok

inline VmxResult vmxon(const uint64_t& region_pa) { HV_VMX_RESULT("vmxon %2", "m"(region_pa)); }
inline VmxResult vmclear(const uint64_t& vmcs_pa) { HV_VMX_RESULT("vmclear %2", "m"(vmcs_pa)); }
inline VmxResult vmptrld(const uint64_t& vmcs_pa) { HV_VMX_RESULT("vmptrld %2", "m"(vmcs_pa)); }
inline VmxResult vmwrite(VmcsField f, uint64_t v) { HV_VMX_RESULT("vmwrite %3, %2", "r"(uint64_t(f)), "rm"(v)); }

// INVEPT descriptor (Intel SDM Vol. 3C, 31.3, INVEPT).
enum class InveptType : uint64_t { SingleContext = 1, AllContexts = 2 };
struct InveptDescriptor {
    uint64_t eptp, reserved;
};
inline VmxResult invept(InveptType type, const InveptDescriptor& d) {
    HV_VMX_RESULT("invept %2, %3", "m"(d), "r"(uint64_t(type)));
}
#undef HV_VMX_RESULT

inline uint64_t vmread(VmcsField f) {
    uint64_t v;
    asm volatile("vmread %1, %0" : "=rm"(v) : "r"(uint64_t(f)) : "cc");
    return v;
}

inline void vmxoff() { asm volatile("vmxoff" ::: "cc", "memory"); }

}  // namespace hv::vmx
