// VM-execution, VM-exit and VM-entry control bits (Intel SDM Vol. 3C, 25.6-25.8).
#pragma once

#include <stdint.h>

namespace hv::vmx {

namespace pin {
inline constexpr uint32_t EXTERNAL_INTERRUPT_EXITING = 1u << 0, NMI_EXITING = 1u << 3, VIRTUAL_NMIS = 1u << 5,
                          PREEMPTION_TIMER = 1u << 6;
}

namespace proc {
inline constexpr uint32_t INTERRUPT_WINDOW_EXITING = 1u << 2, USE_TSC_OFFSETTING = 1u << 3,
                          HLT_EXITING = 1u << 7, INVLPG_EXITING = 1u << 9, MWAIT_EXITING = 1u << 10,
                          RDPMC_EXITING = 1u << 11, RDTSC_EXITING = 1u << 12, CR3_LOAD_EXITING = 1u << 15,
                          CR3_STORE_EXITING = 1u << 16, CR8_LOAD_EXITING = 1u << 19,
                          CR8_STORE_EXITING = 1u << 20, USE_TPR_SHADOW = 1u << 21,
                          NMI_WINDOW_EXITING = 1u << 22, MOV_DR_EXITING = 1u << 23,
                          UNCONDITIONAL_IO_EXITING = 1u << 24, USE_IO_BITMAPS = 1u << 25,
                          MONITOR_TRAP_FLAG = 1u << 27, USE_MSR_BITMAPS = 1u << 28, MONITOR_EXITING = 1u << 29,
                          PAUSE_EXITING = 1u << 30, ACTIVATE_SECONDARY_CONTROLS = 1u << 31;
}

namespace proc2 {
inline constexpr uint32_t VIRTUALIZE_APIC_ACCESSES = 1u << 0, ENABLE_EPT = 1u << 1,
                          DESCRIPTOR_TABLE_EXITING = 1u << 2, ENABLE_RDTSCP = 1u << 3, ENABLE_VPID = 1u << 5,
                          WBINVD_EXITING = 1u << 6, UNRESTRICTED_GUEST = 1u << 7, ENABLE_INVPCID = 1u << 12,
                          ENABLE_PML = 1u << 17, ENABLE_XSAVES = 1u << 20;
}

namespace exit_ctl {
inline constexpr uint32_t SAVE_DEBUG_CONTROLS = 1u << 2, HOST_ADDRESS_SPACE_SIZE = 1u << 9,
                          ACK_INTERRUPT_ON_EXIT = 1u << 15, SAVE_IA32_PAT = 1u << 18, LOAD_IA32_PAT = 1u << 19,
                          SAVE_IA32_EFER = 1u << 20, LOAD_IA32_EFER = 1u << 21;
}

namespace entry_ctl {
inline constexpr uint32_t LOAD_DEBUG_CONTROLS = 1u << 2, IA32E_MODE_GUEST = 1u << 9, LOAD_IA32_PAT = 1u << 14,
                          LOAD_IA32_EFER = 1u << 15;
}

// IA32_VMX_BASIC (Intel SDM Vol. 3D, A.1).
namespace basic {
inline constexpr uint64_t REVISION_MASK = 0x7fffffff;
inline constexpr uint64_t TRUE_CONTROLS = 1ull << 55;
inline constexpr unsigned MEMORY_TYPE_SHIFT = 50;
}

// IA32_VMX_EPT_VPID_CAP (Intel SDM Vol. 3D, A.10).
namespace ept_cap {
inline constexpr uint64_t EXECUTE_ONLY = 1ull << 0, PAGE_WALK_4 = 1ull << 6, MEMORY_TYPE_WB = 1ull << 14,
                          PDE_2MB = 1ull << 16, PDPTE_1GB = 1ull << 17, INVEPT = 1ull << 20,
                          ACCESSED_DIRTY = 1ull << 21, INVEPT_SINGLE_CONTEXT = 1ull << 25,
                          INVEPT_ALL_CONTEXT = 1ull << 26;
}

// Bits of IA32_FEATURE_CONTROL (Intel SDM Vol. 4, MSR 3AH).
namespace feature_control {
inline constexpr uint64_t LOCK = 1ull << 0, VMXON_OUTSIDE_SMX = 1ull << 2;
}

}  // namespace hv::vmx
