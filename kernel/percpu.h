// Per-CPU state, one PerCpu per CPU the kernel runs on, reachable from that
// CPU through its GS base (IA32_GS_BASE points at the CPU's PerCpu, whose
// first field points at itself, so `mov %gs:0` yields the object). The VMCS
// host-state area copies IA32_GS_BASE, so it survives VM exits.
//
// Fields written by one CPU and read by another are accessed with __atomic
// builtins; the rest belongs to the CPU itself.
#pragma once

#include <stdint.h>

#include "arch/x86/vmx/vmx.h"
#include "kernel/limits.h"

namespace hv {

using WorkFn = void (*)(void* arg);

// A CPU's one-entry work queue: Free -> Claimed (a poster owns fn/arg) ->
// Posted (the owner CPU may run it) -> Free (it ran; smp::wait returns).
enum class WorkState : uint32_t { Free, Claimed, Posted };

struct WorkSlot {
    WorkFn fn;
    void* arg;
    WorkState state;   // atomic
    uint64_t done;     // atomic: functions run so far
};

enum class CpuState : uint32_t {
    Absent,    // not started (or not listed)
    Starting,  // INIT-SIPI-SIPI sent
    Alive,     // reached ap_entry(): the trampoline's parameters are consumed
    Online,    // set up (tables, GS, APIC, VMXON tried) and about to idle
    Failed,    // did not answer in time: left out
};

struct PerCpu {
    PerCpu* self;  // must stay first: this_cpu() reads %gs:0
    unsigned index;
    uint32_t apic_id;
    uint64_t stack_top;
    CpuState state;  // atomic
    uint64_t kicks;  // atomic: kick IPIs taken

    // VMX: each CPU does its own VMXON with its own region.
    bool vmx_on;
    vmx::Controls vmx_controls;
    char vmx_why[160];  // why not, when vmx_on is false

    WorkSlot work;

    // The name of the guest this CPU runs or is about to enter, nullptr when
    // none (atomic): what a CPU that waits for this one in vain reports.
    const char* guest;
};

PerCpu& percpu(unsigned cpu);

// This CPU's PerCpu. Valid once smp::start() has set the BSP's GS base, and
// on every AP from its first instruction in ap_entry().
inline PerCpu* this_cpu() {
    PerCpu* p;
    asm volatile("movq %%gs:0, %0" : "=r"(p));
    return p;
}

}  // namespace hv
