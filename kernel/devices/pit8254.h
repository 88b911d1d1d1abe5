// The 8254 programmable interval timer (counters at 0x40-0x42, control word
// at 0x43) and the two bits of the chipset's port 0x61 that belong to it
// (counter 2's gate and OUT2, plus the refresh toggle).
//
// Time: the device owns no clock. Every call takes `now`, a count of PIT
// input ticks (kInputHz, 1193182 Hz) that the caller derives from the TSC
// (tsc_to_pit_ticks). Counters are functions of `now`: a count is loaded at
// the tick of the write that completes it and reaches terminal count n
// ticks later (the one-clock load delay of the real part, 838 ns, is not
// modelled, nor the one-clock width of the mode 2/4/5 strobe).
//
// Counter 0's OUT is IRQ0. advance(now) delivers the expiries due by `now`
// on that line - a rising edge per expiry, so an edge-triggered 8259A input
// latches exactly one request - and next_event() says when the next one
// falls, for the caller's timer (the VMX-preemption timer). read() and
// write() advance first, so an expiry that fell before a guest access is
// delivered before the access changes the counter.
//
// At power-on no counter counts and every OUT is low (the datasheet leaves
// them undefined; there is no BIOS to have programmed them). A control word
// sets OUT as the chip does - low in mode 0, high in the others - so the first
// programming of counter 0 in modes 2-5 is itself a rising edge on IRQ0: one
// early tick, which Linux takes in its stride as it does on hardware.
//
// Missed periods: when advance() finds several periodic expiries due (the
// guest was descheduled, the timer fired late) it delivers one edge, counts
// the rest in coalesced(), and keeps the counter's phase (the next expiry is
// the next multiple of the period from the load, not `now` + period). The
// guest sees at most one pending tick, never a flood; a guest that keeps
// time by counting ticks loses the coalesced ones, which Linux, keeping time
// with the TSC, does not do.
//
// Modelled: all six modes (1 and 5 need a rising gate, which only counter 2
// has, from port 0x61 bit 0), binary and BCD counting, the LSB / MSB /
// LSB-then-MSB access modes, the counter latch command, the read-back command
// (count and status), counts of 0 meaning 65536 (10000 in BCD), a new count
// in modes 2/3 taking effect at the end of the current period. Not modelled:
// counter 1's refresh output (the port 0x61 refresh bit toggles from `now`),
// the speaker, the NMI sources of port 0x61 (read as 0).
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

namespace i8254 {
inline constexpr uint64_t kInputHz = kTicksPerSecond;
inline constexpr uint64_t kNever = ~0ull;  // next_event() when nothing is armed
inline constexpr uint16_t kCounter0 = 0x40, kCounter2 = 0x42, kControl = 0x43;
inline constexpr uint16_t kPortB = 0x61;  // system control port B (NMI status and control)
// Control word: SC1-SC0 (counter, 3 = read-back), RW1-RW0, M2-M0, BCD.
inline constexpr unsigned kCwSelectShift = 6;
inline constexpr uint8_t kCwSelectReadBack = 3;
inline constexpr unsigned kCwAccessShift = 4;
inline constexpr uint8_t kCwAccessMask = 0x30;
inline constexpr unsigned kCwModeShift = 1;
inline constexpr uint8_t kCwModeMask = 0x0e;
inline constexpr uint8_t kCwBcd = 0x01;
// Read-back command: COUNT and STATUS are active low; CNT2-CNT0 select.
inline constexpr uint8_t kReadBackNoCount = 0x20, kReadBackNoStatus = 0x10;
inline constexpr uint8_t kReadBackCounter0 = 0x02;  // counter i: kReadBackCounter0 << i
// Status byte: OUTPUT, NULL COUNT, then the counter's RW, mode and BCD bits.
inline constexpr uint8_t kStatusOutput = 0x80, kStatusNullCount = 0x40, kStatusProgramMask = 0x3f;
// Port 0x61.
inline constexpr uint8_t kPortBGate2 = 0x01;         // counter 2's gate
inline constexpr uint8_t kPortBSpeakerData = 0x02;   // OUT2 to the speaker (not modelled)
inline constexpr uint8_t kPortBWritable = 0x0f;      // bits 2-3: parity/channel check enables (kept)
inline constexpr uint8_t kPortBRefreshToggle = 0x10;
inline constexpr uint8_t kPortBOut2 = 0x20;
inline constexpr uint64_t kRefreshHalfPeriod = 18;   // the refresh request toggles every ~15 us
}  // namespace i8254

enum class PitAccess : uint8_t { Latch = 0, Lsb = 1, Msb = 2, LsbMsb = 3 };

enum class PitMode : uint8_t {
    InterruptOnTerminalCount = 0,  // OUT low from the count write, high at terminal count
    HardwareOneShot = 1,           // OUT low from the gate trigger to terminal count
    RateGenerator = 2,             // periodic: OUT low for the last tick of each period
    SquareWave = 3,                // periodic: OUT high for the first half of each period
    SoftwareStrobe = 4,            // OUT strobes low once, at terminal count
    HardwareStrobe = 5,            // as 4, started by a gate trigger
};

// Ticks <-> TSC without 128-bit division (the kernel links no libgcc).
constexpr uint64_t tsc_to_pit_ticks(uint64_t tsc, uint64_t tsc_hz) {
    return (tsc / tsc_hz) * i8254::kInputHz + (tsc % tsc_hz) * i8254::kInputHz / tsc_hz;
}
constexpr uint64_t pit_ticks_to_tsc(uint64_t ticks, uint64_t tsc_hz) {
    return (ticks / i8254::kInputHz) * tsc_hz + (ticks % i8254::kInputHz) * tsc_hz / i8254::kInputHz;
}

// One counter. Its counting element is a function of time: loaded with n at
// t0, it reads n - (now - t0) (modulo the counter's range, or the period).
class PitCounter {
public:
    void control(uint8_t cw, uint64_t now);  // a control word for this counter (RW != latch)
    void latch_count(uint64_t now);
    void latch_status(uint64_t now);
    uint8_t read(uint64_t now);
    void write(uint8_t value, uint64_t now);
    void set_gate(bool high, uint64_t now);
    // A count written in modes 2/3 while counting waits for the period's end.
    void normalize(uint64_t now);

    bool out(uint64_t now) const;
    // OUT between strobes: the level a write leaves the line at.
    bool nominal_out(uint64_t now) const;
    // The counting element now, as the counter codes it (binary or BCD).
    uint16_t read_count(uint64_t now) const;
    // The first expiry (OUT's rising edge, or its strobe) strictly after t.
    uint64_t event_after(uint64_t t) const;
    bool running() const { return running_; }
    bool periodic() const { return mode_ == PitMode::RateGenerator || mode_ == PitMode::SquareWave; }
    PitMode mode() const { return mode_; }
    PitAccess access() const { return access_; }
    bool bcd() const { return bcd_; }
    uint32_t period() const { return n_; }  // ticks of the count in force (binary)
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h). valid(): a state a counter
    // can be in, whatever drives its gate (the rules that need the chip -
    // the time, counter 0's line - are Pit8254::valid's). restore() takes
    // only what valid() accepts, else changes nothing.
    void save(hv_pit_counter_state& out) const;
    static bool valid(const hv_pit_counter_state& in);
    bool restore(const hv_pit_counter_state& in);

private:
    uint32_t modulus() const { return bcd_ ? 10000 : 65536; }
    uint32_t initial_count() const;  // the count register's value in ticks (0 -> max)
    uint32_t count_at(uint64_t now) const;
    void load(uint64_t now);  // the count register is complete

    PitMode mode_ = PitMode::InterruptOnTerminalCount;
    PitAccess access_ = PitAccess::LsbMsb;
    uint8_t mode_bits_ = 0;  // M2-M0 as written (6 and 7 are 2 and 3), for the status byte
    bool bcd_ = false;
    bool configured_ = false;
    bool loaded_ = false;   // a count was written since the control word
    uint16_t cr_ = 0;       // count register, as written (binary or BCD)
    uint8_t cr_lsb_ = 0;    // first byte of an LSB-then-MSB write
    bool write_msb_ = false, read_msb_ = false;
    bool count_latched_ = false, status_latched_ = false;
    uint16_t latched_count_ = 0;
    uint8_t latched_status_ = 0;
    bool null_count_ = true;
    bool gate_ = true;
    // Counting element.
    bool running_ = false;
    uint64_t t0_ = 0;
    uint32_t n_ = 0;
    bool fired_ = false;      // one-shots: terminal count already passed (kept across a gate pause)
    uint32_t frozen_ = 0;     // the count while not running
    bool idle_out_ = false;   // OUT while not running
    bool reload_pending_ = false;
    uint64_t reload_at_ = 0;
    uint32_t reload_n_ = 0;
};

class Pit8254 {
public:
    explicit Pit8254(IrqLine irq0) : irq_(irq0) {}
    Pit8254(const Pit8254&) = delete;
    Pit8254& operator=(const Pit8254&) = delete;

    static bool claims(uint16_t port) { return (port >= i8254::kCounter0 && port <= i8254::kControl) || port == i8254::kPortB; }
    uint8_t read(uint16_t port, uint64_t now);
    void write(uint16_t port, uint8_t value, uint64_t now);

    // Delivers counter 0's expiries due by `now` (at most one edge).
    void advance(uint64_t now);
    // When counter 0 next expires (an absolute tick, >= now), or kNever.
    uint64_t next_event(uint64_t now) const { return next_due_ == i8254::kNever || next_due_ > now ? next_due_ : now; }

    const PitCounter& counter(unsigned i) const { return ch_[i]; }
    uint64_t expiries() const { return expiries_; }    // edges delivered on IRQ0
    uint64_t coalesced() const { return coalesced_; }  // periodic expiries folded into a delivered one
    uint64_t unhandled_count() const { return unhandled.count + ch_[0].unhandled.count + ch_[1].unhandled.count + ch_[2].unhandled.count; }
    Unhandled unhandled;

    // Saved state. restore() refuses (changing nothing) a counter valid()
    // refuses, a time after last_now, counters 0 and 1 with their gate not
    // high, a next expiry or an IRQ0 level other than the ones counter 0
    // implies at last_now. It drives nothing: IRQ0 is taken to be at the
    // recorded level, as the 8259A's record must say too.
    void save(hv_pit_state& out) const;
    static bool valid(const hv_pit_state& in);
    bool restore(const hv_pit_state& in);

private:
    uint64_t clamp(uint64_t now) {
        if (now < last_now_) now = last_now_;  // time never runs backwards for the guest
        last_now_ = now;
        return now;
    }
    void counter0_changed(uint64_t now);

    PitCounter ch_[3];
    IrqLine irq_;
    bool line_ = false;
    uint64_t next_due_ = i8254::kNever;
    uint64_t last_now_ = 0;
    uint64_t expiries_ = 0, coalesced_ = 0;
    uint8_t port_b_ = 0;
};

}  // namespace hv::devices
