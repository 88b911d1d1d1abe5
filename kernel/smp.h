// Symmetric multiprocessing: the application processors (APs) of the MADT are
// started with INIT-SIPI-SIPI, each on its own stack, descriptor tables and
// PerCpu (kernel/percpu.h), each doing its own VMXON; then they idle (HLT with
// interrupts on) and run what is posted to them.
//
// CPU indices are dense: 0 is the BSP, 1..cpu_count()-1 the APs that came up,
// in MADT order.
#pragma once

#include <stdint.h>

#include "kernel/percpu.h"

namespace hv::mb2 {
struct BootInfo;
}
namespace hv::mm {
class FrameAllocator;
}

namespace hv::smp {

// On the BSP, once the kernel's address space is live: TSC calibration, the
// MADT, the local APIC, and every AP started in turn. Never fails the run: an
// AP that does not answer within its timeout is reported and left out, and
// without a MADT (or APIC) the kernel runs on the BSP alone, saying why. APs
// take their VMXON regions from frames while the BSP waits for them.
void start(const mb2::BootInfo& boot, mm::FrameAllocator& frames);

// CPUs online, the BSP included.
unsigned cpu_count();
// Index of the calling CPU.
unsigned current_cpu();

// Posts fn(arg) to cpu's work slot and kicks it; the CPU runs it from its idle
// loop, with interrupts disabled. Waits first for earlier work on that slot
// to finish. On the calling CPU itself, fn(arg) runs at once. Returns false
// (nothing posted) when cpu is not online.
bool run_on(unsigned cpu, WorkFn fn, void* arg);

// Waits until the work posted to cpu has run, for at most timeout_us: false
// if it has not by then (work may run for as long as it likes; a caller that
// waits for longer decides whether the CPU is still alive).
bool wait(unsigned cpu, uint64_t timeout_us);

// Sends the kick IPI (apic::kVectorKick) to cpu: it leaves HLT, sends EOI and
// goes on (later: leaves a guest through external-interrupt exiting).
void kick(unsigned cpu);

// Checks that every online AP did VMXON and computed the same controls as
// bsp (the BSP's, from vmx::enable); prints each mismatch. True if all agree.
bool check_vmx_controls(const vmx::Controls& bsp);

// Called by the interrupt path on a kick IPI.
void on_kick();

// Opens an interrupt window (STI, one instruction, CLI) so that a pending kick
// is taken and EOI'd. Work runs with interrupts disabled; a vCPU loop that
// leaves a guest on an external-interrupt exit (the kick) calls this before
// it enters again, or the still-pending IPI would make it exit at once.
void take_pending_interrupts();

// selftest=smp: reports PASS/FAIL/SKIP lines for bring-up, VMXON on every CPU
// (the BSP's included: it calls vmx::enable itself), posted work and IPIs,
// then ends the run.
[[noreturn]] void self_test(mm::FrameAllocator& frames);

}  // namespace hv::smp
