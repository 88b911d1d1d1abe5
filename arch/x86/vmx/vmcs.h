// Filling a VMCS: the controls, the host state (this CPU as it runs now) and a
// guest's initial state. The VMCS must be current (VMPTRLD) on this CPU.
#pragma once

#include <stdint.h>

#include "arch/x86/vmx/vmx.h"

namespace hv::vmx {

// Controls, CR0/CR4 guest/host masks and shadows, and the EPT pointer.
void write_controls(const Controls& c, uint64_t eptp);

// The host state a VM exit returns to: this CPU's control registers, GDT,
// IDT, TSS, EFER and PAT, and exit_rip (HOST_RSP is written at each entry).
void write_host_state(unsigned cpu, uint64_t exit_rip);

// A guest that starts at rip in 32-bit protected mode with flat 4 GiB
// segments, paging and interrupts off: what hypercall.h promises guests.
// Also the VM-entry controls, event injection and CR0/CR4 read shadows
// that go with that state (after write_controls()).
void write_guest_boot_state(const Controls& c, uint64_t rip);

}  // namespace hv::vmx
