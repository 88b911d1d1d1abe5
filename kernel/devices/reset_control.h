// The chipset's reset control register at port 0xcf9 (Intel ICH/PCH "RST_CNT",
// also what QEMU's PIIX and Q35 boards have), one of the paths Linux's
// reboot tries (reboot=pci, and after the keyboard controller's pulse).
//
// RST_CPU (bit 2) going from 0 to 1 resets the machine: a hard reset when
// SYS_RST (bit 1) or FULL_RST (bit 3) is set, else a soft one (an INIT on
// real chipsets). Either way the ResetLine is pulled, with the kind. Linux
// writes the hard-reset request first (bit 1) and then bits 1-3 together.
// The register reads back what was written in bits 1-3; a reset clears it.
//
// Only a byte access at 0xcf9 is this register: a wider access at 0xcf8 is
// the PCI configuration address, which is not modelled here.
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

namespace reset_control {
inline constexpr uint16_t kPort = 0xcf9;
inline constexpr uint8_t kSysRst = 0x02, kRstCpu = 0x04, kFullRst = 0x08;
inline constexpr uint8_t kWritable = kSysRst | kRstCpu | kFullRst;
}  // namespace reset_control

class ResetControl {
public:
    explicit ResetControl(ResetLine reset) : reset_(reset) {}

    static bool claims(uint16_t port) { return port == reset_control::kPort; }
    uint8_t read() const { return value_; }
    void write(uint8_t value);

    uint64_t resets() const { return resets_; }
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h). restore() refuses (changing
    // nothing) a value with bits other than SYS_RST and FULL_RST: RST_CPU
    // never stays set, its 0->1 write is the reset. It pulls no reset.
    void save(hv_reset_control_state& out) const;
    static bool valid(const hv_reset_control_state& in);
    bool restore(const hv_reset_control_state& in);

private:
    ResetLine reset_;
    uint8_t value_ = 0;
    uint64_t resets_ = 0;
};

}  // namespace hv::devices
