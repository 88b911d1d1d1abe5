// The CPUs of this machine, from ACPI's MADT (ACPI 6.5, 5.2.12), found through
// the RSDP copies GRUB hands over in Multiboot2 tags 14/15.
//
// Firmware tables are untrusted input: every signature, checksum and length is
// checked before a field is read, and a bad table is a message, never a fault.
// parse_madt() is a pure function of its bytes, so it can be tested anywhere.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/limits.h"

namespace hv::mb2 {
struct BootInfo;
}

namespace hv::x86::acpi {

// MADT interrupt controller structure types (ACPI 6.5, table 5.21) we read.
enum class MadtType : uint8_t {
    ProcessorLocalApic = 0,
    LocalApicAddressOverride = 5,
    ProcessorLocalX2Apic = 9,
};

// Local APIC flags of types 0 and 9 (ACPI 6.5, table 5.23).
namespace lapic_flags {
inline constexpr uint32_t ENABLED = 1u << 0;
inline constexpr uint32_t ONLINE_CAPABLE = 1u << 1;  // disabled now, may be started (ACPI 6.3+)
}  // namespace lapic_flags

struct Cpu {
    uint32_t apic_id;    // the (x2)APIC ID the INIT-SIPI-SIPI targets
    uint32_t uid;        // ACPI processor UID
    bool online_capable;  // listed disabled-but-startable rather than enabled
};

struct Madt {
    uint64_t lapic_base;  // physical, from the table (or the override entry)
    bool pcat_compat;     // dual 8259s present (they are masked before use of the APIC)
    Cpu cpus[kMaxCpus];
    unsigned cpu_count;
    unsigned cpus_left_out;  // usable entries beyond kMaxCpus
};

// Parses a whole MADT (header included, len bytes). The checksum is checked
// here too. Returns false with a one-line reason in why.
bool parse_madt(const uint8_t* table, size_t len, Madt& out, char* why, size_t why_size);

// Finds, maps (write-back, through the direct map) and parses the MADT: the
// new RSDP tag's XSDT first, then the RSDT. Returns false with the reason
// when there is no usable RSDP, root table or MADT.
bool find_madt(const mb2::BootInfo& boot, Madt& out, char* why, size_t why_size);

}  // namespace hv::x86::acpi
