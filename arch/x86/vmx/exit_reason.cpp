#include "arch/x86/vmx/exit_reason.h"

namespace hv::vmx {

const char* exit_reason_name(uint32_t r) {
    static const char* const kNames[kExitReasonCount] = {
        "EXCEPTION_NMI", "EXTERNAL_INTERRUPT", "TRIPLE_FAULT", "INIT_SIGNAL", "SIPI", "IO_SMI", "OTHER_SMI",
        "INTERRUPT_WINDOW", "NMI_WINDOW", "TASK_SWITCH", "CPUID", "GETSEC", "HLT", "INVD", "INVLPG", "RDPMC",
        "RDTSC", "RSM", "VMCALL", "VMCLEAR", "VMLAUNCH", "VMPTRLD", "VMPTRST", "VMREAD", "VMRESUME",
        "VMWRITE", "VMXOFF", "VMXON", "CR_ACCESS", "DR_ACCESS", "IO_INSTRUCTION", "RDMSR", "WRMSR",
        "ENTRY_FAILURE_GUEST_STATE", "ENTRY_FAILURE_MSR_LOADING", "reserved(35)", "MWAIT",
        "MONITOR_TRAP_FLAG", "reserved(38)", "MONITOR", "PAUSE", "ENTRY_FAILURE_MACHINE_CHECK",
        "reserved(42)", "TPR_BELOW_THRESHOLD", "APIC_ACCESS", "VIRTUALIZED_EOI", "GDTR_IDTR_ACCESS",
        "LDTR_TR_ACCESS", "EPT_VIOLATION", "EPT_MISCONFIG", "INVEPT", "RDTSCP", "PREEMPTION_TIMER",
        "INVVPID", "WBINVD", "XSETBV", "APIC_WRITE", "RDRAND", "INVPCID", "VMFUNC", "ENCLS", "RDSEED",
        "PML_FULL", "XSAVES", "XRSTORS",
    };
    return r < kExitReasonCount ? kNames[r] : "unknown";
}

const char* instruction_error_name(uint32_t e) {
    static const char* const kNames[] = {
        "no error",
        "VMCALL executed in VMX root operation",
        "VMCLEAR with invalid physical address",
        "VMCLEAR with VMXON pointer",
        "VMLAUNCH with non-clear VMCS",
        "VMRESUME with non-launched VMCS",
        "VMRESUME after VMXOFF",
        "VM entry with invalid control field(s)",
        "VM entry with invalid host-state field(s)",
        "VMPTRLD with invalid physical address",
        "VMPTRLD with VMXON pointer",
        "VMPTRLD with incorrect VMCS revision identifier",
        "VMREAD/VMWRITE from/to unsupported VMCS component",
        "VMWRITE to read-only VMCS component",
        "reserved (14)",
        "VMXON executed in VMX root operation",
        "VM entry with invalid executive-VMCS pointer",
        "VM entry with non-launched executive VMCS",
        "VM entry with executive-VMCS pointer not VMXON pointer",
        "VMCALL with non-clear VMCS",
        "VMCALL with invalid VM-exit control fields",
        "reserved (21)",
        "VMCALL with incorrect MSEG revision identifier",
        "VMXOFF under dual-monitor treatment of SMIs and SMM",
        "VMCALL with invalid SMM-monitor features",
        "VM entry with invalid VM-execution control fields in executive VMCS",
        "VM entry with events blocked by MOV SS",
        "reserved (27)",
        "invalid operand to INVEPT/INVVPID",
    };
    return e < sizeof kNames / sizeof *kNames ? kNames[e] : "unknown VM-instruction error";
}

}  // namespace hv::vmx
