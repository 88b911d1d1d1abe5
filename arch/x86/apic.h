// The local APIC, one interface over both of its programming models (Intel
// SDM Vol. 3A, chapters 11 and 11.12): xAPIC (registers in a 4 KiB MMIO page)
// and x2APIC (the same registers as MSRs 0x800 + offset/16, 32-bit IDs, a
// 64-bit ICR and no delivery-status bit). x2APIC is used whenever
// CPUID.1:ECX.x2APIC says the CPU has it; every CPU then runs in that mode.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::x86::apic {

enum class Mode : uint8_t { XApic, X2Apic };

// ICR delivery modes (Intel SDM Vol. 3A, 11.6.1), already in place (bits 10:8).
enum class Delivery : uint32_t {
    Fixed = 0u << 8,
    Nmi = 4u << 8,
    Init = 5u << 8,
    StartUp = 6u << 8,
};

// Interrupt vectors this kernel gives the local APIC. The kick vector is high
// so that it wins over anything a future device might use; the spurious
// vector's low 4 bits must be 1s on older APICs (11.9).
inline constexpr uint8_t kVectorKick = 0xf0;
inline constexpr uint8_t kVectorSpurious = 0xff;

// On the BSP, before any other call: chooses the mode, maps the xAPIC page
// (uncached) into the direct map when xAPIC is used (madt_base: the MADT's
// address, 0 to take IA32_APIC_BASE's), masks the 8259s, and enables this
// CPU's APIC. Returns false with a reason when the APIC is unusable.
bool init_bsp(uint64_t madt_base, char* why, size_t why_size);

// On each AP: puts its APIC in the BSP's mode and enables it.
void init_ap();

Mode mode();
const char* mode_name();
uint32_t id();  // this CPU's (x2)APIC ID
void eoi();

// Sends an IPI to the CPU with APIC ID dest. Init is sent as level-assert
// (its de-assert is obsolete since the Pentium 4, SDM 11.6.1); for StartUp
// the vector is the page number of the real-mode entry point.
void send_ipi(uint32_t dest, Delivery mode, uint8_t vector = 0);

// xAPIC: waits until the ICR's delivery status says the IPI was accepted, up
// to timeout_us. x2APIC has no such bit (a WRMSR to the ICR completes the
// send): true at once.
bool wait_delivery(uint64_t timeout_us);

}  // namespace hv::x86::apic
