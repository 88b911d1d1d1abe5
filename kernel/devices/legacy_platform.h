// The legacy PC platform a uniprocessor Linux guest needs, wired as a PC
// wires it: the 8259A pair, the 8254 (counter 0 on IRQ0), COM1 (0x3f8,
// IRQ4), the MC146818 RTC/CMOS, the 8042 (IRQ1, IRQ12) and the 0xcf9 reset
// control, behind one port dispatcher. The hypervisor's I/O-exit handler
// calls read()/write(); its injection path calls advance(), then
// interrupt_pending() and acknowledge_interrupt(); its timer is armed for
// next_event(). Everything takes `now` in PIT ticks (kTicksPerSecond).
//
// A multi-byte access to a claimed port is split into byte accesses at
// consecutive ports, as the ISA bus does (a word at 0x4d0 is both ELCRs).
// An access whose first port no device claims reads as a floating bus (all
// ones), is counted in `unclaimed` and returns false. Port 0x80 (the POST
// code port, which Linux's io_delay writes) is taken silently.
//
// Not copyable: the devices hold pointers to the PIC and to this object.
#pragma once

#include <stdint.h>

#include "kernel/devices/cmos_rtc.h"
#include "kernel/devices/device.h"
#include "kernel/devices/i8042.h"
#include "kernel/devices/pic8259.h"
#include "kernel/devices/pit8254.h"
#include "kernel/devices/reset_control.h"
#include "kernel/devices/uart16550.h"

namespace hv::devices {

inline constexpr uint16_t kPostCodePort = 0x80;
inline constexpr unsigned kPitIrq = 0;

class LegacyPlatform {
public:
    // console: COM1's transmitted bytes. reset: pulled by the 8042 or 0xcf9.
    // unix_seconds: the wall clock at tick `now`, for the RTC.
    LegacyPlatform(ByteSink console, ResetLine reset, uint64_t unix_seconds = mc146818::kDefaultEpoch,
                   uint64_t now = 0);
    LegacyPlatform(const LegacyPlatform&) = delete;
    LegacyPlatform& operator=(const LegacyPlatform&) = delete;

    // size is 1, 2 or 4. True if a device took the access.
    bool read(uint16_t port, unsigned size, uint64_t now, uint32_t& value);
    bool write(uint16_t port, unsigned size, uint32_t value, uint64_t now);

    void advance(uint64_t now) { pit.advance(now); }
    uint64_t next_event(uint64_t now) const { return pit.next_event(now); }
    bool interrupt_pending() const { return pic.pending(); }
    // Whether an interrupt could wake a vCPU idling in HLT: one is pending,
    // or the 8254's counter 0 will expire with IRQ0 open at the master 8259
    // (no device here receives input from outside). After advance(now).
    bool can_wake(uint64_t now) const {
        return interrupt_pending() || (next_event(now) != i8254::kNever && !(pic.master().imr() & 1));
    }
    uint8_t acknowledge_interrupt() { return pic.acknowledge(); }
    // Accesses the devices did not understand, and accesses no device claimed.
    uint64_t unhandled_count() const;

    // Saved state for live migration (include/hv/platform_state.h): every
    // device, post_code, the unclaimed accesses. restore() is all or
    // nothing: it checks the whole record first (version and size, each
    // device's rules, and that each 8259A input is at the level its device
    // last drove: IRQ0 the PIT's, IRQ1/IRQ12 the 8042's, IRQ4 COM1's, the
    // others low), and refuses it leaving every device unchanged, or takes
    // all of it. It drives no interrupt line (each side's level is set from
    // the record, and they agree), sends no console byte, pulls no reset.
    void save(hv_platform_state& out) const;
    static bool valid(const hv_platform_state& in);
    bool restore(const hv_platform_state& in);

    Pic8259Pair pic;  // first: the others are given lines into it
    Pit8254 pit;
    Uart16550 com1;
    CmosRtc cmos;
    I8042 kbc;
    ResetControl reset_control;
    Unhandled unclaimed;
    uint8_t post_code = 0;

private:
    bool claims(uint16_t port, unsigned size) const;
    uint8_t read_byte(uint16_t port, uint64_t now);
    void write_byte(uint16_t port, uint8_t value, uint64_t now);
};

}  // namespace hv::devices
