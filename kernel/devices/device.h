// What the legacy PC device models (kernel/devices/) share: the wires a
// device is given (an interrupt line, a byte sink, a reset line) and the
// counter of accesses it did not understand.
//
// The devices are plain state machines: no VMX, no port-I/O instruction, no
// kernel global. The hypervisor's I/O-exit handler calls their read/write;
// they answer through the wires they were given at construction. That is
// what lets the same files be compiled into the host tests.
//
// The wires are a function pointer plus a context rather than classes with
// virtual functions, for the reasons mm/platform.h gives: no vtable and no
// __cxa_pure_virtual in the kernel, constant-initialisable, and any number of
// instances (one per test) can coexist.
//
// None of the devices takes a lock: one guest's platform is driven by the
// CPU that runs its (single) vCPU, and the caller serialises.
#pragma once

#include <stdint.h>

#include "include/hv/platform_state.h"

namespace hv::devices {

// The unit of every `now` a device is given: ticks of the 8254's input clock
// (1.193182 MHz), counted by the caller from the TSC. One unit for all the
// devices, so that the PIT's counts, the UART and the RTC's clock agree.
inline constexpr uint64_t kTicksPerSecond = 1193182;

// An interrupt request line as the device drives it. set_level() says the
// line's new level; what the receiver makes of it (an edge-triggered 8259A
// input latches a rising edge, a level-triggered one follows the level) is
// the receiver's business. A device calls it only when the level changes,
// or low-then-high to make a fresh edge (a pulse).
struct IrqLine {
    void (*fn)(void* ctx, unsigned pin, bool high) = nullptr;
    void* ctx = nullptr;
    unsigned pin = 0;

    void set_level(bool high) const {
        if (fn) fn(ctx, pin, high);
    }
    // A rising edge that leaves the line high, for outputs that strobe
    // (the 8254 in modes 2-5): whatever the line was, the receiver sees one
    // new request.
    void pulse() const {
        set_level(false);
        set_level(true);
    }
};

// Where a device's output bytes go (the UART's transmitter).
struct ByteSink {
    void (*fn)(void* ctx, uint8_t byte) = nullptr;
    void* ctx = nullptr;

    void put(uint8_t byte) const {
        if (fn) fn(ctx, byte);
    }
};

// Which path asked for the machine to be reset.
enum class ResetSource : uint8_t {
    KeyboardPulse,       // i8042 command 0xfe (or any 0xf0-0xff pulse of output line 0)
    KeyboardOutputPort,  // i8042 command 0xd1 writing the output port with bit 0 (reset, active low) clear
    ResetControlHard,    // port 0xcf9: RST_CPU 0->1 with SYS_RST (or FULL_RST) set
    ResetControlSoft,    // port 0xcf9: RST_CPU 0->1 without them (an INIT on real chipsets)
};

// The platform's reset line: the hypervisor ends the guest with outcome
// `reset` when it is pulled.
struct ResetLine {
    void (*fn)(void* ctx, ResetSource source) = nullptr;
    void* ctx = nullptr;

    void request(ResetSource source) const {
        if (fn) fn(ctx, source);
    }
};

// Accesses a device ignored because it does not model them (an unknown
// command, a mode it does not implement, a write to a read-only register, a
// register offset beyond its range). The latest one is kept so that a log
// line can name it.
struct Unhandled {
    uint64_t count = 0;
    uint16_t last_port = 0;  // the port, or the register offset for a device at a base
    uint8_t last_value = 0;  // the value written; 0 for a read
    bool last_was_write = false;

    void note(uint16_t port, uint8_t value, bool write) {
        ++count;
        last_port = port;
        last_value = value;
        last_was_write = write;
    }

    // Saved state: a diagnostic, so restore takes any counts; only the
    // record's reserved field is checked (by the device that owns it).
    void save(hv_unhandled_state& out) const {
        out = hv_unhandled_state{};
        out.count = count;
        out.last_port = last_port;
        out.last_value = last_value;
        out.last_was_write = last_was_write;
    }
    static bool valid(const hv_unhandled_state& in) { return in.reserved == 0; }
    void restore(const hv_unhandled_state& in) {
        count = in.count;
        last_port = in.last_port;
        last_value = in.last_value;
        last_was_write = in.last_was_write != 0;
    }
};

// Saved-state checks shared by the devices' restore(): a flag is 0 or 1, a
// reserved area is all zero.
inline bool is_flag(uint8_t v) { return v <= 1; }
inline bool all_zero(const uint8_t* p, unsigned n) {
    for (unsigned i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

}  // namespace hv::devices
