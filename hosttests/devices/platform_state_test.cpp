// Saved state for live migration (include/hv/platform_state.h): a platform
// driven as Linux 6.1 drives it at boot, saved at a tick T and restored into
// a fresh one, goes on exactly as the source does (the same port reads,
// interrupts, vectors, timer expiries, console bytes and resets); a record
// the devices could not have produced is refused field by field, leaving the
// target as it was; and a counter restored mid-count expires at the source's
// tick.

// The record has no implicit padding: the compiler may add none to it.
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wpadded"
#include "include/hv/platform_state.h"
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstring>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hosttests/devices/wires.h"
#include "kernel/devices/legacy_platform.h"

namespace hv::devices {
namespace {

using test::LineProbe;
using test::ResetProbe;
using test::SinkProbe;

// ---------------------------------------------------------------------------
// The layout: fixed sizes, multiples of 8, the header first.

static_assert(sizeof(hv_unhandled_state) == 16);
static_assert(sizeof(hv_pic_chip_state) == 40);
static_assert(sizeof(hv_pic_state) == 112);
static_assert(sizeof(hv_pit_counter_state) == 72);
static_assert(sizeof(hv_pit_state) == 272);
static_assert(sizeof(hv_uart_state) == 88);
static_assert(sizeof(hv_cmos_state) == 192);
static_assert(sizeof(hv_i8042_state) == 96);
static_assert(sizeof(hv_reset_control_state) == 32);
static_assert(sizeof(hv_platform_state) == 824);
static_assert(offsetof(hv_platform_state, version) == 0 && offsetof(hv_platform_state, size) == 4);
static_assert(offsetof(hv_platform_state, pic) == 8);
static_assert(alignof(hv_platform_state) == 8);

TEST(PlatformStateLayout, EveryStructIsAMultipleOfEightBytesWithoutPadding) {
    // -Wpadded above refuses padding at compile time; the sizes are the ABI.
    for (size_t size : {sizeof(hv_unhandled_state), sizeof(hv_pic_chip_state), sizeof(hv_pic_state),
                        sizeof(hv_pit_counter_state), sizeof(hv_pit_state), sizeof(hv_uart_state),
                        sizeof(hv_cmos_state), sizeof(hv_i8042_state), sizeof(hv_reset_control_state),
                        sizeof(hv_platform_state)})
        EXPECT_EQ(size % 8, 0u);
    EXPECT_EQ(HV_PLATFORM_STATE_VERSION, 1u);
}

// ---------------------------------------------------------------------------
// Helpers.

template <class T>
::testing::AssertionResult same_bytes(const T& a, const T& b) {
    const auto* pa = reinterpret_cast<const uint8_t*>(&a);
    const auto* pb = reinterpret_cast<const uint8_t*>(&b);
    for (size_t i = 0; i < sizeof(T); ++i)
        if (pa[i] != pb[i])
            return ::testing::AssertionFailure() << "first difference at byte " << i << " of " << sizeof(T) << ": "
                                                 << int(pa[i]) << " vs " << int(pb[i]);
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_transcript(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        if (a[i] != b[i])
            return ::testing::AssertionFailure() << "entry " << i << " of " << a.size() << ": 0x" << std::hex << a[i]
                                                 << " vs 0x" << b[i];
    if (a.size() != b.size())
        return ::testing::AssertionFailure() << "lengths " << a.size() << " vs " << b.size();
    return ::testing::AssertionSuccess();
}

// A guest's platform and the wires it drives: the console and the reset line.
struct Rig {
    SinkProbe console;
    ResetProbe reset;
    LegacyPlatform pc;

    explicit Rig(uint64_t unix_seconds = mc146818::kDefaultEpoch, uint64_t now = 0)
        : pc(console.sink(), reset.line(), unix_seconds, now) {}
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    void out(uint16_t port, uint8_t v, uint64_t now) { EXPECT_TRUE(pc.write(port, 1, v, now)) << port; }
    uint8_t in(uint16_t port, uint64_t now) {
        uint32_t v = 0;
        pc.read(port, 1, now, v);
        return uint8_t(v);
    }
    hv_platform_state saved() const {
        hv_platform_state s;
        std::memset(&s, 0xa5, sizeof s);  // save() must write every byte, reserved ones included
        pc.save(s);
        return s;
    }
};

constexpr uint16_t kHz1000Latch = 1193;  // PIT_LATCH for HZ=1000: (1193182 + 500) / 1000

// Linux 6.1 at boot, up to tick T (returned), leaving every device with
// something in flight:
// - 8259A pair: init_8259A (vectors 0x30/0x38, cascade on IR2), IRQ0, 1, 2,
//   4 and 12 unmasked; IRQ4 in service (its handler running), a timer tick
//   requested behind it.
// - 8254: counter 0 periodic (0x34, HZ=1000); counter 0 latched and half
//   read; counter 2 in mode 0 for the TSC calibration, gate on through port
//   0x61, its status and count latched by a read-back;
//   counter 1 a BCD square wave with its count latched.
// - COM1: 115200 8N1, FIFOs on (trigger 8), OUT2, IER RLSI|RDI|THRI; 17 bytes
//   received (16 held, an overrun pending), 5 read, "Linux" sent.
// - RTC: the guest's clock set (mc146818_set_time), RAM written, register C
//   read, index 0x40 selected.
// - 8042: the command byte written (0x47), an AUX loopback byte read and the
//   keyboard byte behind it pending and acknowledged.
// - port 0x80 written, 0xcf9 holding SYS_RST.
uint64_t linux_boot(Rig& r) {
    uint64_t t = 1000;
    // init_8259A(0)
    r.out(0x21, 0xff, t);
    r.out(0xa1, 0xff, t);
    r.out(0x20, 0x11, t);
    r.out(0x21, 0x30, t);
    r.out(0x21, 0x04, t);
    r.out(0x21, 0x01, t);
    r.out(0xa0, 0x11, t);
    r.out(0xa1, 0x38, t);
    r.out(0xa1, 0x02, t);
    r.out(0xa1, 0x01, t);
    r.out(0x21, 0xe8, t);  // IRQ0, 1, 2, 4 unmasked
    r.out(0xa1, 0xef, t);  // IRQ12 unmasked
    // pit_set_periodic
    t = 2000;
    r.out(0x43, 0x34, t);
    r.out(0x40, kHz1000Latch & 0xff, t);
    r.out(0x40, kHz1000Latch >> 8, t);
    EXPECT_EQ(r.pc.acknowledge_interrupt(), 0x30);  // the programming edge
    r.out(0x20, 0x20, t);
    // pit_calibrate_tsc: gate on, speaker off, mode 0, count 0xffff
    t = 2500;
    r.out(0x61, uint8_t((r.in(0x61, t) & ~0x02) | 0x01), t);
    r.out(0x43, 0xb0, t);
    r.out(0x42, 0xff, t);
    r.out(0x42, 0xff, t);
    // counter 1: a BCD square wave of 1234
    r.out(0x43, 0x77, t);
    r.out(0x41, 0x34, t);
    r.out(0x41, 0x12, t);
    // COM1: serial8250_do_startup and set_termios
    t = 3000;
    r.out(0x3fa, 0x07, t);  // serial8250_clear_fifos
    r.out(0x3fa, 0x00, t);
    r.out(0x3fb, 0x80, t);  // DLAB
    r.out(0x3f8, 0x01, t);  // 115200
    r.out(0x3f9, 0x00, t);
    r.out(0x3fb, 0x03, t);  // 8N1
    r.out(0x3fa, 0x81, t);  // FIFO on, RX trigger 8
    r.out(0x3fc, 0x0b, t);  // DTR | RTS | OUT2
    r.out(0x3f9, 0x05, t);  // RLSI | RDI
    for (char c : std::string("Linux")) r.out(0x3f8, uint8_t(c), t);
    r.out(0x3f9, 0x07, t);  // start_tx: THRI
    for (unsigned i = 0; i < 17; ++i) r.pc.com1.receive(uint8_t('a' + i));
    for (unsigned i = 0; i < 5; ++i) r.in(0x3f8, t);
    // mc146818_set_time: SET, the hour, SET cleared; RAM; register C
    t = 3500;
    r.out(0x70, 0x0b, t);
    r.out(0x71, 0x82, t);
    r.out(0x70, 0x04, t);
    r.out(0x71, 0x17, t);
    r.out(0x70, 0x0b, t);
    r.out(0x71, 0x02, t);
    r.out(0x70, 0x40, t);
    r.out(0x71, 0x5a, t);
    r.out(0x70, 0x0c, t);
    r.in(0x71, t);
    r.out(0x70, 0x40, t);
    // i8042: the command byte, the AUX loopback, a keyboard byte
    t = 4000;
    r.out(0x64, 0x20, t);
    r.in(0x60, t);
    r.out(0x64, 0x60, t);
    r.out(0x60, 0x47, t);
    r.out(0x64, 0xd3, t);
    r.out(0x60, 0x5a, t);
    r.out(0x64, 0xd2, t);
    r.out(0x60, 0xab, t);
    r.out(0x80, 0x42, t);
    r.out(0xcf9, 0x02, t);  // reboot=pci's first write
    // The interrupts so far: the timer, the AUX byte (read), the keyboard
    // byte (acknowledged, left in the buffer), COM1 (its handler running).
    t = 4500;
    r.pc.advance(t);
    EXPECT_EQ(r.pc.acknowledge_interrupt(), 0x30);
    r.out(0x20, 0x20, t);
    EXPECT_EQ(r.pc.acknowledge_interrupt(), 0x3c);
    r.in(0x64, t);
    EXPECT_EQ(r.in(0x60, t), 0x5a);
    r.out(0xa0, 0x20, t);
    r.out(0x20, 0x20, t);
    EXPECT_EQ(r.pc.acknowledge_interrupt(), 0x31);
    r.out(0x20, 0x20, t);
    EXPECT_EQ(r.pc.acknowledge_interrupt(), 0x34);
    EXPECT_EQ(r.in(0x3fa, t), 0xc6);  // line status: the overrun
    // Latches in flight at T, and a timer tick requested behind IRQ4.
    t = 5590;              // after counter 0's expiry at 2000 + 3 * 1193
    r.out(0x43, 0x00, t);  // latch counter 0
    r.in(0x40, t);         // its LSB: the MSB is next
    r.out(0x43, 0xc8, t);  // read-back: counter 2's status and count
    r.out(0x43, 0x40, t);  // latch counter 1
    const uint64_t T = 5600;
    r.pc.advance(T);
    EXPECT_TRUE(r.pc.interrupt_pending());
    return T;
}

// Drives a platform from tick t for `steps` steps of the given script (a
// seeded sequence of what Linux's drivers and the injection path do),
// recording everything the guest or the hypervisor can observe; t ends at
// the last step's tick.
std::vector<uint64_t> drive(Rig& r, uint64_t& t, unsigned steps, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint64_t> seen;
    auto in = [&](uint16_t port) { seen.push_back(uint64_t(port) << 8 | r.in(port, t)); };
    bool periodic = true;
    for (unsigned i = 0; i < steps; ++i) {
        t += 1 + rng() % 300;
        r.pc.advance(t);
        seen.push_back(r.pc.next_event(t));
        seen.push_back(r.pc.interrupt_pending());
        if (r.pc.interrupt_pending() && rng() % 4) {
            const uint8_t v = r.pc.acknowledge_interrupt();
            seen.push_back(0x1000 | v);
            if (rng() % 4) {  // the handler's EOI (slave first for its IRQs)
                if (v >= 0x38) r.out(0xa0, 0x20, t);
                r.out(0x20, 0x20, t);
            }
        }
        switch (rng() % 22) {
        case 0: in(0x40); break;
        case 1: r.out(0x43, 0x00, t); break;
        case 2: r.out(0x43, 0xca, t); break;  // read-back: counters 0 and 2, status and count
        case 3: in(0x42); break;
        case 4: in(0x61); break;
        case 5: r.out(0x61, uint8_t(rng() & 0x0f), t); break;
        case 6: in(0x41); break;
        case 7: in(0x3fa); break;
        case 8: in(0x3fd); break;
        case 9: in(0x3f8); break;
        case 10: r.out(0x3f8, uint8_t('A' + rng() % 26), t); break;
        case 11: seen.push_back(0x2000 | r.pc.com1.receive(uint8_t(rng()))); break;
        case 12: in(0x3fe); break;
        case 13: {
            static constexpr uint8_t kIndex[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09,
                                                 0x0a, 0x0b, 0x0c, 0x0d, 0x32, 0x40};
            r.out(0x70, kIndex[rng() % sizeof kIndex], t);
            in(0x71);
            break;
        }
        case 14: in(0x64); break;
        case 15: in(0x60); break;
        case 16:
            r.out(0x64, rng() % 2 ? 0xd2 : 0xd3, t);
            r.out(0x60, uint8_t(rng()), t);
            break;
        case 17:
            r.out(0x20, 0x0b, t);
            in(0x20);
            r.out(0xa0, 0x0a, t);
            in(0xa0);
            break;
        case 18:
            r.out(0xa0, 0x20, t);
            r.out(0x20, 0x20, t);
            break;
        case 19:
            // clockevents switching: one-shot events, then periodic again.
            if (periodic) {
                r.out(0x43, 0x38, t);
                const uint16_t n = uint16_t(1 + rng() % 0x7fff);
                r.out(0x40, uint8_t(n), t);
                r.out(0x40, uint8_t(n >> 8), t);
            } else {
                r.out(0x43, 0x34, t);
                r.out(0x40, kHz1000Latch & 0xff, t);
                r.out(0x40, kHz1000Latch >> 8, t);
            }
            periodic = !periodic;
            break;
        case 20: r.out(0x3f9, uint8_t(rng() % 16), t); break;
        case 21: r.out(0x80, uint8_t(rng()), t); break;
        }
    }
    seen.push_back(t);
    for (char c : r.console.bytes) seen.push_back(0x3000 | uint8_t(c));
    for (ResetSource s : r.reset.requests) seen.push_back(0x4000 | uint64_t(s));
    return seen;
}

unsigned count_of(const std::vector<uint64_t>& seen, uint64_t entry) {
    unsigned n = 0;
    for (uint64_t e : seen) n += e == entry;
    return n;
}

// ---------------------------------------------------------------------------
// 1. Round trips: the whole platform.

TEST(PlatformState, LinuxBootRestoredIntoAFreshPlatformGoesOnIdentically) {
    Rig src;
    const uint64_t T = linux_boot(src);
    const hv_platform_state at_t = src.saved();
    const std::string console_at_t = src.console.bytes;

    // A destination built with another clock and at another tick: the record
    // replaces all of it.
    Rig dst(1'000'000'000, 77);
    ASSERT_TRUE(dst.pc.restore(at_t));
    EXPECT_TRUE(same_bytes(dst.saved(), at_t));

    src.console.bytes.clear();  // from T on, both sides' output is compared
    EXPECT_EQ(dst.pc.interrupt_pending(), src.pc.interrupt_pending());
    EXPECT_EQ(dst.pc.next_event(T), src.pc.next_event(T));
    uint64_t ta = T, tb = T;
    const std::vector<uint64_t> a = drive(src, ta, 3000, 2024);
    const std::vector<uint64_t> b = drive(dst, tb, 3000, 2024);
    EXPECT_TRUE(same_transcript(a, b));
    // It was a good while: many timer interrupts, bytes both ways.
    EXPECT_GT(count_of(a, 0x1030), 20u);
    EXPECT_GT(src.console.bytes.size(), 20u);
    EXPECT_TRUE(same_bytes(dst.saved(), src.saved()));
    EXPECT_EQ(console_at_t, "Linux");
}

TEST(PlatformState, SaveOfARestoredRecordIsByteIdentical) {
    Rig src;
    linux_boot(src);
    const hv_platform_state x = src.saved();
    Rig dst;
    ASSERT_TRUE(dst.pc.restore(x));
    EXPECT_TRUE(same_bytes(dst.saved(), x));
    // And once more: save(restore(save(restore(x)))) == x.
    Rig third;
    ASSERT_TRUE(third.pc.restore(dst.saved()));
    EXPECT_TRUE(same_bytes(third.saved(), x));
    // A fresh platform's record round-trips too.
    Rig fresh, fresh2(5, 5);
    ASSERT_TRUE(fresh2.pc.restore(fresh.saved()));
    EXPECT_TRUE(same_bytes(fresh2.saved(), fresh.saved()));
}

TEST(PlatformState, RestoreDrivesNoLineSendsNoByteAndPullsNoReset) {
    Rig src;
    linux_boot(src);
    Rig dst;
    ASSERT_TRUE(dst.pc.restore(src.saved()));
    EXPECT_TRUE(dst.console.bytes.empty());
    EXPECT_TRUE(dst.reset.requests.empty());
    // The 8259A's inputs are the devices' lines, as the source had them.
    EXPECT_EQ(dst.pc.pic.master().irr(), src.pc.pic.master().irr());
    EXPECT_EQ(dst.pc.pic.master().isr(), src.pc.pic.master().isr());
    EXPECT_EQ(dst.pc.com1.irq_level(), src.pc.com1.irq_level());
    EXPECT_TRUE(dst.pc.com1.irq_level());
}

// Every state a guest can drive the platform into is accepted: a guest that
// writes anything anywhere, saved and restored every few steps, and both
// sides driven on together.
TEST(PlatformState, EveryStateAGuestCanReachIsAccepted) {
    static constexpr uint16_t kPorts[] = {0x20,  0x21,  0xa0,  0xa1,  0x4d0, 0x4d1, 0x40,  0x41,  0x42,  0x43,
                                          0x61,  0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x70,
                                          0x71,  0x60,  0x64,  0xcf9, 0x80};
    for (uint32_t seed = 1; seed <= 100; ++seed) {
        SCOPED_TRACE(seed);
        Rig src;
        std::mt19937 rng(seed);
        uint64_t t = 0;
        for (unsigned step = 0; step < 600; ++step) {
            switch (rng() % 8) {
            case 0: t += rng() % 5000; break;
            case 1: t += rng() % 70000; src.pc.advance(t); break;  // a late timer: coalescing
            case 2:
                if (src.pc.interrupt_pending()) src.pc.acknowledge_interrupt();
                break;
            case 3: src.pc.com1.receive(uint8_t(rng())); break;
            case 4: src.in(kPorts[rng() % std::size(kPorts)], t >= 3 ? t - rng() % 3 : t); break;  // time may look back
            default: {
                // Half the writes to the PIC and the PIT, whose states are richest.
                const uint16_t port = rng() % 2 ? kPorts[rng() % 11] : kPorts[rng() % std::size(kPorts)];
                src.pc.write(port, 1, uint8_t(rng()), t);
                break;
            }
            }
            if (step % 25 != 24) continue;
            const hv_platform_state x = src.saved();
            Rig dst(123, 456);
            ASSERT_TRUE(dst.pc.restore(x)) << "step " << step;
            ASSERT_TRUE(same_bytes(dst.saved(), x)) << "step " << step;
            if (step % 100 == 99) {
                Rig twin(123, 456);
                ASSERT_TRUE(twin.pc.restore(x));
                src.console.bytes.clear();
                src.reset.requests.clear();
                const uint32_t s = uint32_t(rng());
                uint64_t t_twin = t;
                std::vector<uint64_t> a = drive(src, t, 60, s);
                std::vector<uint64_t> b = drive(twin, t_twin, 60, s);
                ASSERT_TRUE(same_transcript(a, b)) << "step " << step;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Round trips: each device on its own.

TEST(PicState, RoundTripMidInitialisationWithRequestsInService) {
    Pic8259Pair a;
    // Masks, requests in service on both chips, then a re-initialisation of
    // the master stopped after ICW2 (ICW3 and ICW4 to come).
    a.write(0x20, 0x11);
    a.write(0x21, 0x30);
    a.write(0x21, 0x04);
    a.write(0x21, 0x01);
    a.write(0xa0, 0x19);  // slave level-triggered (LTIM)
    a.write(0xa1, 0x38);
    a.write(0xa1, 0x02);
    a.write(0xa1, 0x03);  // AEOI
    a.write(0x21, 0x00);
    a.write(0xa1, 0x00);
    a.write(0x4d0, 0x20);  // IRQ5 level-triggered
    a.set_irq(5, true);
    a.set_irq(9, true);
    a.set_irq(3, true);
    EXPECT_EQ(a.acknowledge(), 0x39);  // IR2 (the slave's IRQ9) before IR3 and IR5
    a.write(0x20, 0xc4);               // set priority: IR4 lowest
    a.write(0x20, 0x0b);               // read ISR
    a.write(0x20, 0x11);
    a.write(0x21, 0x30);
    hv_pic_state x;
    a.save(x);
    Pic8259Pair b;
    ASSERT_TRUE(b.restore(x));
    hv_pic_state y;
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
    for (Pic8259Pair* p : {&a, &b}) {
        p->write(0x21, 0x04);
        p->write(0x21, 0x01);
        p->set_irq(1, true);
        p->set_irq(9, false);
        p->set_irq(9, true);
    }
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(a.pending(), b.pending());
        EXPECT_EQ(a.acknowledge(), b.acknowledge());
        EXPECT_EQ(a.read(0x20), b.read(0x20));
        EXPECT_EQ(a.read(0xa0), b.read(0xa0));
        a.write(0x20, 0x20);
        b.write(0x20, 0x20);
    }
    a.save(x);
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
}

TEST(PitState, RoundTripMidReadWithLatchesAndAPendingReload) {
    LineProbe la, lb;
    Pit8254 a(la.line());
    uint64_t t = 100;
    a.write(0x43, 0x34, t);  // counter 0: periodic 1193
    a.write(0x40, kHz1000Latch & 0xff, t);
    a.write(0x40, kHz1000Latch >> 8, t);
    t = 1700;
    a.write(0x40, 0x00, t);  // a new count mid-period: 0x0400, taken at the period's end
    a.write(0x40, 0x04, t);
    a.write(0x61, 0x01, t);
    a.write(0x43, 0x92, t);  // counter 2: LSB only, mode 1 (gate-triggered)
    a.write(0x42, 0x80, t);
    a.write(0x61, 0x00, t);
    a.write(0x61, 0x01, t + 3);  // the trigger
    a.write(0x43, 0x57, t + 4);  // counter 1: LSB only, mode 3, BCD
    a.write(0x41, 0x99, t + 4);
    a.write(0x43, 0x00, t + 5);  // latch counter 0
    a.read(0x40, t + 6);          // its LSB
    a.write(0x43, 0xe4, t + 7);  // read-back: counter 1's status only
    t = 1800;
    hv_pit_state x;
    a.save(x);
    EXPECT_EQ(x.counter[0].reload_pending, 1);
    EXPECT_EQ(x.counter[0].read_msb, 1);
    Pit8254 b(lb.line());
    ASSERT_TRUE(b.restore(x));
    EXPECT_EQ(lb.rises + lb.falls, 0);  // restore drives nothing
    lb.level = la.level;                // the receiver is restored with it (the 8259A's record)
    hv_pit_state y;
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
    la.rises = 0;
    for (; t < 20000; t += 37) {
        a.advance(t);
        b.advance(t);
        EXPECT_EQ(a.next_event(t), b.next_event(t));
        for (uint16_t port : {0x40, 0x41, 0x42, 0x61}) EXPECT_EQ(a.read(port, t), b.read(port, t)) << port << " " << t;
        if (t % 5 == 0) {
            a.write(0x43, 0xce, t);
            b.write(0x43, 0xce, t);
        }
    }
    EXPECT_EQ(la.rises, lb.rises);
    EXPECT_GT(la.rises, 10);
    a.save(x);
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
}

TEST(UartState, RoundTripWithAWrappedFifoAndAnOverrunPending) {
    LineProbe la, lb;
    SinkProbe sa, sb;
    Uart16550 a(la.line(), sa.sink());
    a.write(3, 0x03);
    a.write(2, 0xc1);  // FIFOs, trigger 14
    a.write(4, 0x0b);
    a.write(1, 0x0f);
    for (unsigned i = 0; i < 12; ++i) a.receive(uint8_t(i));
    for (unsigned i = 0; i < 10; ++i) a.read(0);
    for (unsigned i = 0; i < 20; ++i) a.receive(uint8_t(0x40 + i));  // wraps, then overruns
    a.write(7, 0x5c);
    a.set_modem_inputs(0x30);  // DCD dropped: a modem status change
    hv_uart_state x;
    a.save(x);
    EXPECT_EQ(x.rx_count, 16);
    EXPECT_EQ(x.lsr_errors, 0x02);
    Uart16550 b(lb.line(), sb.sink());
    ASSERT_TRUE(b.restore(x));
    EXPECT_EQ(lb.rises + lb.falls, 0);
    EXPECT_TRUE(sb.bytes.empty());
    EXPECT_TRUE(la.level);
    lb.level = la.level;  // the receiver is restored with it (the 8259A's record)
    hv_uart_state y;
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
    la.rises = la.falls = 0;
    for (Uart16550* u : {&a, &b}) u->write(0, 'x');
    for (unsigned i = 0; i < 40; ++i) {
        for (uint8_t reg : {2, 5, 6, 0, 7}) EXPECT_EQ(a.read(reg), b.read(reg)) << int(reg) << " " << i;
        if (i % 3 == 0) {
            a.receive(uint8_t(i));
            b.receive(uint8_t(i));
        }
    }
    EXPECT_EQ(sa.bytes, sb.bytes);
    EXPECT_EQ(la.rises, lb.rises);
    EXPECT_EQ(la.falls, lb.falls);
}

TEST(CmosState, RoundTripWhileTheGuestIsSettingTheClock) {
    CmosRtc a(1'700'000'000, 10);
    a.write(0x70, 0x8b, 20);  // NMI masked, register B
    a.write(0x71, 0x86, 20);  // SET, binary, 24-hour
    a.write(0x70, 0x02, 30);
    a.write(0x71, 45, 30);  // minutes, held until SET clears
    a.write(0x70, 0x0a, 40);
    a.write(0x71, 0x2f, 40);  // RS = 15
    a.set_ram(0x10, 0x44);
    a.write(0x70, 0x8b, 50);  // register B again, NMI still masked
    hv_cmos_state x;
    a.save(x);
    CmosRtc b(5, 5);
    ASSERT_TRUE(b.restore(x));
    hv_cmos_state y;
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
    EXPECT_EQ(b.read(0x70, 60), 0x8b);  // port 0x70 reads back as written
    for (CmosRtc* c : {&a, &b}) c->write(0x71, 0x06, 60);  // SET cleared: the clock is set
    for (uint64_t t = 100; t < 5 * kTicksPerSecond; t += kTicksPerSecond / 7) {
        for (uint8_t i : {0x00, 0x02, 0x04, 0x07, 0x09, 0x0c, 0x32}) {
            a.write(0x70, i, t);
            b.write(0x70, i, t);
            EXPECT_EQ(a.read(0x71, t), b.read(0x71, t)) << int(i) << " " << t;
        }
    }
    EXPECT_EQ(a.guest_time(9 * kTicksPerSecond), b.guest_time(9 * kTicksPerSecond));
}

TEST(I8042State, RoundTripWithACommandWaitingForItsByte) {
    LineProbe ka, aa, kb, ab;
    ResetProbe ra, rb;
    I8042 a(ka.line(), aa.line(), ra.line());
    a.write(0x64, 0x60);
    a.write(0x60, 0x47);
    a.write(0x64, 0xd3);
    a.write(0x60, 0x11);  // AUX byte at the front: IRQ12
    a.write(0x60, 0xf4);  // to the keyboard: 0xfe with the timeout bit
    a.write(0x64, 0xd1);  // the output port, its byte to come
    hv_i8042_state x;
    a.save(x);
    EXPECT_EQ(x.pending_command, 0xd1);
    EXPECT_EQ(x.aux_irq_level, 1);
    I8042 b(kb.line(), ab.line(), rb.line());
    ASSERT_TRUE(b.restore(x));
    EXPECT_EQ(kb.rises + ab.rises, 0);
    kb.level = ka.level, ab.level = aa.level;  // the receivers are restored with it
    hv_i8042_state y;
    b.save(y);
    EXPECT_TRUE(same_bytes(y, x));
    ka.rises = aa.rises = 0;
    for (I8042* k : {&a, &b}) k->write(0x60, 0x03);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(a.read(0x64), b.read(0x64));
        EXPECT_EQ(a.read(0x60), b.read(0x60));
    }
    EXPECT_EQ(ka.rises, kb.rises);
    EXPECT_EQ(aa.rises, ab.rises);
    for (I8042* k : {&a, &b}) k->write(0x64, 0xfe);
    EXPECT_EQ(ra.requests, rb.requests);
    EXPECT_EQ(rb.requests.size(), 1u);
}

TEST(ResetControlState, RoundTripKeepsTheRequestBits) {
    ResetProbe ra, rb;
    ResetControl a(ra.line());
    a.write(0x0a);
    hv_reset_control_state x;
    a.save(x);
    ResetControl b(rb.line());
    ASSERT_TRUE(b.restore(x));
    EXPECT_TRUE(rb.requests.empty());
    EXPECT_EQ(b.read(), 0x0a);
    b.write(0x0e);
    a.write(0x0e);
    EXPECT_EQ(ra.requests, rb.requests);
    ASSERT_EQ(rb.requests.size(), 1u);
    EXPECT_EQ(rb.requests[0], ResetSource::ResetControlHard);
}

// ---------------------------------------------------------------------------
// 3. A record restored mid-count: the next expiry is at the source's tick.

// The first tick after `from` at which the platform takes a new timer
// expiry, found by advancing one tick at a time.
uint64_t first_expiry(Rig& r, uint64_t from) {
    const uint64_t before = r.pc.pit.expiries();
    for (uint64_t t = from; t < from + 70000; ++t) {
        r.pc.advance(t);
        if (r.pc.pit.expiries() != before) return t;
    }
    return ~0ull;
}

TEST(PlatformStateMidCount, PeriodicCounterExpiresAtTheSourcesTick) {
    Rig src;
    const uint64_t T = linux_boot(src) + 700;  // mid-period
    src.pc.advance(T);
    Rig dst;
    ASSERT_TRUE(dst.pc.restore(src.saved()));
    EXPECT_EQ(dst.pc.next_event(T), src.pc.next_event(T));
    const uint64_t t0 = src.saved().pit.counter[0].t0;
    const uint64_t a = first_expiry(src, T), b = first_expiry(dst, T);
    EXPECT_EQ(a, b);
    EXPECT_GT(a, T);  // on the period's grid, within one period
    EXPECT_LE(a, T + kHz1000Latch);
    EXPECT_EQ((a - t0) % kHz1000Latch, 0u);
    EXPECT_EQ(first_expiry(src, a + 1), first_expiry(dst, b + 1));
}

// Linux's one-shot is mode 4 (0x38); mode 0 (0x30) is the datasheet's
// "interrupt on terminal count".
void one_shot_expires_at_the_sources_tick(uint8_t control_word) {
    Rig src;
    uint64_t t = linux_boot(src);
    // The mode, then an event 30000 ticks away; saved 12345 into it.
    src.out(0x43, control_word, t);
    src.out(0x40, 30000 & 0xff, t);
    src.out(0x40, 30000 >> 8, t);
    const uint64_t T = t + 12345;
    src.in(0x61, T);  // an access at T: T is the platform's latest tick
    const hv_platform_state x = src.saved();
    EXPECT_EQ(x.pit.counter[0].running, 1);
    EXPECT_EQ(x.pit.counter[0].mode, control_word >> 1 & 7);
    Rig dst;
    ASSERT_TRUE(dst.pc.restore(x));
    EXPECT_EQ(dst.pc.next_event(T), t + 30000);
    EXPECT_EQ(first_expiry(dst, T), t + 30000);
    EXPECT_EQ(first_expiry(src, T), t + 30000);
    EXPECT_EQ(dst.pc.pit.counter(0).read_count(T + 1), src.pc.pit.counter(0).read_count(T + 1));
    // A one-shot expires once.
    EXPECT_EQ(dst.pc.next_event(t + 30000), i8254::kNever);
    EXPECT_EQ(src.pc.next_event(t + 30000), i8254::kNever);
}

TEST(PlatformStateMidCount, LinuxOneShotMode4ExpiresAtTheSourcesTick) { one_shot_expires_at_the_sources_tick(0x38); }

TEST(PlatformStateMidCount, Mode0OneShotExpiresAtTheSourcesTick) { one_shot_expires_at_the_sources_tick(0x30); }

// ---------------------------------------------------------------------------
// 2. Malformed records are refused field by field, and the target is left
//    exactly as it was.

// Who refuses a case besides LegacyPlatform::restore: the device that owns
// the field, on its own, or nobody (the record's own fields and the wiring
// between devices are the platform's).
enum class Owner { Platform, Pic, Pit, Com1, Cmos, Kbc, ResetControl };

struct Malformed {
    const char* field;
    Owner owner;
    std::function<void(hv_platform_state&)> Break;
};
void PrintTo(const Malformed& m, std::ostream* os) { *os << m.field; }

// The PIC input that IRQ `irq` is on, set to `high` with its IRR bit made
// consistent (edge-triggered: IRR only where high), so that a case breaks
// only what it names.
void set_pic_input(hv_platform_state& s, unsigned irq, bool high) {
    hv_pic_chip_state& c = irq < 8 ? s.pic.master : s.pic.slave;
    const uint8_t m = uint8_t(1u << (irq & 7));
    c.input_level = uint8_t(high ? c.input_level | m : c.input_level & ~m);
    if (!high) c.irr = uint8_t(c.irr & ~m);
}

std::vector<Malformed> malformed_cases() {
    using P = hv_platform_state;
    std::vector<Malformed> v = {
        // The record itself.
        {"version", Owner::Platform, [](P& s) { s.version = 2; }},
        {"size", Owner::Platform, [](P& s) { s.size -= 8; }},
        {"reserved", Owner::Platform, [](P& s) { s.reserved[6] = 1; }},
        {"unclaimed_reserved", Owner::Platform, [](P& s) { s.unclaimed.reserved = 1; }},
        // 8259A pair.
        {"pic_master_irr_without_input", Owner::Pic, [](P& s) { s.pic.master.irr |= 0x20; }},
        {"pic_master_lowest_priority", Owner::Pic, [](P& s) { s.pic.master.lowest_priority = 8; }},
        {"pic_master_vector_base", Owner::Pic, [](P& s) { s.pic.master.vector_base = 0x31; }},
        {"pic_master_elcr_irq0", Owner::Pic, [](P& s) { s.pic.master.elcr |= 0x01; }},
        {"pic_slave_elcr_irq13", Owner::Pic, [](P& s) { s.pic.slave.elcr |= 0x20; }},
        {"pic_master_elcr_level_input_without_irr", Owner::Pic, [](P& s) { s.pic.master.elcr |= 0x10; }},
        {"pic_master_ltim_level_input_without_irr", Owner::Pic, [](P& s) { s.pic.master.ltim = 1; }},
        {"pic_master_init_step", Owner::Pic, [](P& s) { s.pic.master.init_step = 1; }},
        {"pic_slave_init_step", Owner::Pic, [](P& s) { s.pic.slave.init_step = 5; }},
        {"pic_master_init_step_icw3_when_single", Owner::Pic,
         [](P& s) { s.pic.master.single = 1, s.pic.master.init_step = 3; }},
        {"pic_master_init_step_icw4_without_ic4", Owner::Pic,
         [](P& s) { s.pic.master.icw4_needed = 0, s.pic.master.init_step = 4; }},
        {"pic_master_icw4_needed", Owner::Pic, [](P& s) { s.pic.master.icw4_needed = 2; }},
        {"pic_master_single", Owner::Pic, [](P& s) { s.pic.master.single = 2; }},
        {"pic_slave_ltim", Owner::Pic, [](P& s) { s.pic.slave.ltim = 2; }},
        {"pic_master_aeoi", Owner::Pic, [](P& s) { s.pic.master.aeoi = 2; }},
        {"pic_master_sfnm", Owner::Pic, [](P& s) { s.pic.master.sfnm = 0xff; }},
        {"pic_master_rotate_in_aeoi", Owner::Pic, [](P& s) { s.pic.master.rotate_in_aeoi = 2; }},
        {"pic_master_special_mask", Owner::Pic, [](P& s) { s.pic.master.special_mask = 2; }},
        {"pic_slave_read_isr", Owner::Pic, [](P& s) { s.pic.slave.read_isr = 2; }},
        {"pic_master_poll", Owner::Pic, [](P& s) { s.pic.master.poll = 2; }},
        {"pic_master_reserved", Owner::Pic, [](P& s) { s.pic.master.reserved[0] = 1; }},
        {"pic_slave_unhandled_reserved", Owner::Pic, [](P& s) { s.pic.slave.unhandled.reserved = 1; }},
        {"pic_unhandled_reserved", Owner::Pic, [](P& s) { s.pic.unhandled.reserved = 1; }},
        {"pic_master_input_level_cascade", Owner::Pic, [](P& s) { set_pic_input(s, 2, true); }},
        {"pic_master_input_level_irq5_undriven", Owner::Platform, [](P& s) { set_pic_input(s, 5, true); }},
        {"pic_slave_input_level_irq8_undriven", Owner::Platform, [](P& s) { set_pic_input(s, 8, true); }},
        {"pic_master_input_level_irq0_not_the_pits", Owner::Platform, [](P& s) { set_pic_input(s, 0, false); }},
        {"pic_master_input_level_irq4_not_com1s", Owner::Platform, [](P& s) { set_pic_input(s, 4, false); }},
        {"pic_master_input_level_irq1_not_the_8042s", Owner::Platform, [](P& s) { set_pic_input(s, 1, false); }},
        // 8254.
        {"pit_counter0_mode", Owner::Pit, [](P& s) { s.pit.counter[0].mode = 6; }},
        {"pit_counter0_mode_bits", Owner::Pit, [](P& s) { s.pit.counter[0].mode_bits = 8; }},
        {"pit_counter0_mode_not_its_mode_bits", Owner::Pit, [](P& s) { s.pit.counter[0].mode_bits = 7; }},
        {"pit_counter0_access_latch", Owner::Pit, [](P& s) { s.pit.counter[0].access = 0; }},
        {"pit_counter0_access", Owner::Pit, [](P& s) { s.pit.counter[0].access = 4; }},
        {"pit_counter0_read_msb_with_lsb_access", Owner::Pit, [](P& s) { s.pit.counter[0].access = 1; }},
        {"pit_counter0_n_zero", Owner::Pit, [](P& s) { s.pit.counter[0].n = 0; }},
        {"pit_counter0_n_beyond_65536", Owner::Pit, [](P& s) { s.pit.counter[0].n = 65537; }},
        {"pit_counter1_n_beyond_bcd", Owner::Pit, [](P& s) { s.pit.counter[1].n = 16666; }},
        {"pit_counter0_frozen", Owner::Pit, [](P& s) { s.pit.counter[0].frozen = 0x10000; }},
        {"pit_counter1_latched_count_bcd", Owner::Pit, [](P& s) { s.pit.counter[1].latched_count = 0x0a00; }},
        {"pit_counter2_latched_status_program", Owner::Pit, [](P& s) { s.pit.counter[2].latched_status ^= 0x02; }},
        {"pit_counter0_bcd", Owner::Pit, [](P& s) { s.pit.counter[0].bcd = 2; }},
        {"pit_counter0_configured", Owner::Pit, [](P& s) { s.pit.counter[0].configured = 2; }},
        {"pit_counter2_configured_without_program", Owner::Pit, [](P& s) { s.pit.counter[2].configured = 0; }},
        {"pit_counter0_loaded", Owner::Pit, [](P& s) { s.pit.counter[0].loaded = 2; }},
        {"pit_counter0_running_not_loaded", Owner::Pit, [](P& s) { s.pit.counter[0].loaded = 0; }},
        {"pit_counter0_write_msb", Owner::Pit, [](P& s) { s.pit.counter[0].write_msb = 2; }},
        {"pit_counter0_read_msb", Owner::Pit, [](P& s) { s.pit.counter[0].read_msb = 2; }},
        {"pit_counter0_count_latched", Owner::Pit, [](P& s) { s.pit.counter[0].count_latched = 2; }},
        {"pit_counter2_status_latched", Owner::Pit, [](P& s) { s.pit.counter[2].status_latched = 2; }},
        {"pit_counter0_null_count", Owner::Pit, [](P& s) { s.pit.counter[0].null_count = 2; }},
        {"pit_counter2_gate", Owner::Pit, [](P& s) { s.pit.counter[2].gate = 2; }},
        {"pit_counter0_gate_low", Owner::Pit, [](P& s) { s.pit.counter[0].gate = 0; }},
        {"pit_counter1_gate_low", Owner::Pit, [](P& s) { s.pit.counter[1].gate = 0; }},
        {"pit_counter2_gate_low_while_counting_mode0", Owner::Pit, [](P& s) { s.pit.counter[2].gate = 0; }},
        {"pit_counter0_running", Owner::Pit, [](P& s) { s.pit.counter[0].running = 2; }},
        {"pit_counter0_fired", Owner::Pit, [](P& s) { s.pit.counter[0].fired = 2; }},
        {"pit_counter0_fired_in_mode2", Owner::Pit, [](P& s) { s.pit.counter[0].fired = 1; }},
        {"pit_counter0_idle_out", Owner::Pit, [](P& s) { s.pit.counter[0].idle_out = 2; }},
        {"pit_counter1_idle_out_low_in_mode3", Owner::Pit, [](P& s) { s.pit.counter[1].idle_out = 0; }},
        {"pit_counter0_reload_pending", Owner::Pit, [](P& s) { s.pit.counter[0].reload_pending = 2; }},
        {"pit_counter2_reload_pending_in_mode0", Owner::Pit,
         [](P& s) {
             hv_pit_counter_state& c = s.pit.counter[2];
             c.reload_pending = 1, c.reload_n = c.n, c.reload_at = c.t0 + c.n;
         }},
        {"pit_counter0_reload_n", Owner::Pit,
         [](P& s) {
             hv_pit_counter_state& c = s.pit.counter[0];
             c.reload_pending = 1, c.reload_n = 0, c.reload_at = s.pit.next_due;
         }},
        {"pit_counter0_reload_at_off_the_period", Owner::Pit,
         [](P& s) {
             hv_pit_counter_state& c = s.pit.counter[0];
             c.reload_pending = 1, c.reload_n = 100, c.reload_at = s.pit.next_due + 1;
         }},
        {"pit_counter2_t0_after_last_now", Owner::Pit, [](P& s) { s.pit.counter[2].t0 = s.pit.last_now + 1; }},
        {"pit_counter1_reserved", Owner::Pit, [](P& s) { s.pit.counter[1].reserved[5] = 1; }},
        {"pit_counter2_unhandled_reserved", Owner::Pit, [](P& s) { s.pit.counter[2].unhandled.reserved = 1; }},
        {"pit_next_due_off_by_one", Owner::Pit, [](P& s) { s.pit.next_due += 1; }},
        {"pit_next_due_never_while_periodic", Owner::Pit, [](P& s) { s.pit.next_due = HV_PIT_NEVER; }},
        {"pit_next_due_not_after_last_now", Owner::Pit, [](P& s) { s.pit.next_due = s.pit.last_now; }},
        {"pit_irq_level", Owner::Pit, [](P& s) { s.pit.irq_level = 2; }},
        {"pit_irq_level_not_counter0_out", Owner::Pit,
         [](P& s) { s.pit.irq_level = 0, set_pic_input(s, 0, false); }},
        {"pit_port_b", Owner::Pit, [](P& s) { s.pit.port_b |= 0x10; }},
        {"pit_port_b_gate2_set_with_the_gate_low", Owner::Pit,
         [](P& s) { s.pit.counter[2].gate = 0, s.pit.counter[2].running = 0; }},
        {"pit_reserved", Owner::Pit, [](P& s) { s.pit.reserved[0] = 1; }},
        {"pit_unhandled_reserved", Owner::Pit, [](P& s) { s.pit.unhandled.reserved = 1; }},
        // 16550A.
        {"com1_ier", Owner::Com1, [](P& s) { s.com1.ier |= 0x10; }},
        {"com1_mcr", Owner::Com1, [](P& s) { s.com1.mcr |= 0x20; }},
        {"com1_fcr", Owner::Com1, [](P& s) { s.com1.fcr |= 0x01; }},
        {"com1_fifo_enabled", Owner::Com1, [](P& s) { s.com1.fifo_enabled = 2; }},
        {"com1_fifo_enabled_off_with_11_bytes", Owner::Com1, [](P& s) { s.com1.fifo_enabled = 0; }},
        {"com1_lsr_errors", Owner::Com1, [](P& s) { s.com1.lsr_errors |= 0x08; }},
        {"com1_msr_delta", Owner::Com1, [](P& s) { s.com1.msr_delta |= 0x10; }},
        {"com1_modem_inputs", Owner::Com1, [](P& s) { s.com1.modem_inputs |= 0x01; }},
        {"com1_thre_pending", Owner::Com1, [](P& s) { s.com1.thre_pending = 2; }},
        {"com1_irq_level", Owner::Com1, [](P& s) { s.com1.irq_level = 2; }},
        {"com1_irq_level_not_the_registers", Owner::Com1,
         [](P& s) { s.com1.irq_level = 0, set_pic_input(s, 4, false); }},
        {"com1_rx_head", Owner::Com1, [](P& s) { s.com1.rx_head = 16; }},
        {"com1_rx_count", Owner::Com1, [](P& s) { s.com1.rx_count = 17; }},
        {"com1_tx_count", Owner::Com1, [](P& s) { s.com1.tx_count = 1; }},
        {"com1_tx_fifo", Owner::Com1, [](P& s) { s.com1.tx_fifo[15] = 'x'; }},
        {"com1_reserved", Owner::Com1, [](P& s) { s.com1.reserved[0] = 1; }},
        {"com1_unhandled_reserved", Owner::Com1, [](P& s) { s.com1.unhandled.reserved = 1; }},
        // MC146818.
        {"cmos_index", Owner::Cmos, [](P& s) { s.cmos.index = 0x80; }},
        {"cmos_nmi_masked", Owner::Cmos, [](P& s) { s.cmos.nmi_masked = 2; }},
        {"cmos_ram_register_a_uip", Owner::Cmos, [](P& s) { s.cmos.ram[0x0a] |= 0x80; }},
        {"cmos_ram_register_b_set_with_uie", Owner::Cmos, [](P& s) { s.cmos.ram[0x0b] |= 0x90; }},
        {"cmos_ram_register_c", Owner::Cmos, [](P& s) { s.cmos.ram[0x0c] = 0x10; }},
        {"cmos_ram_register_d", Owner::Cmos, [](P& s) { s.cmos.ram[0x0d] = 0x80; }},
        {"cmos_reserved", Owner::Cmos, [](P& s) { s.cmos.reserved[2] = 1; }},
        {"cmos_unhandled_reserved", Owner::Cmos, [](P& s) { s.cmos.unhandled.reserved = 1; }},
        // 8042.
        {"kbc_out_head", Owner::Kbc, [](P& s) { s.kbc.out_head = 16; }},
        {"kbc_out_count", Owner::Kbc, [](P& s) { s.kbc.out_count = 17; }},
        {"kbc_out_flags", Owner::Kbc, [](P& s) { s.kbc.out_flags[9] = 0x04; }},
        {"kbc_pending_command_takes_no_data", Owner::Kbc, [](P& s) { s.kbc.pending_command = 0xaa; }},
        {"kbc_output_port_buffer_bits", Owner::Kbc, [](P& s) { s.kbc.output_port |= 0x10; }},
        {"kbc_last_write_command", Owner::Kbc, [](P& s) { s.kbc.last_write_command = 2; }},
        {"kbc_kbd_irq_level", Owner::Kbc, [](P& s) { s.kbc.kbd_irq_level = 2; }},
        {"kbc_kbd_irq_level_not_the_front_byte", Owner::Kbc,
         [](P& s) { s.kbc.kbd_irq_level = 0, set_pic_input(s, 1, false); }},
        {"kbc_aux_irq_level_not_the_front_byte", Owner::Kbc,
         [](P& s) { s.kbc.aux_irq_level = 1, set_pic_input(s, 12, true); }},
        {"kbc_unhandled_reserved", Owner::Kbc, [](P& s) { s.kbc.unhandled.reserved = 1; }},
        // Reset control.
        {"reset_control_value_rst_cpu", Owner::ResetControl, [](P& s) { s.reset_control.value |= 0x04; }},
        {"reset_control_value_reserved_bit", Owner::ResetControl, [](P& s) { s.reset_control.value |= 0x01; }},
        {"reset_control_reserved", Owner::ResetControl, [](P& s) { s.reset_control.reserved[0] = 1; }},
        {"reset_control_unhandled_reserved", Owner::ResetControl, [](P& s) { s.reset_control.unhandled.reserved = 1; }},
    };
    return v;
}

// The record every case breaks: Linux's boot at T.
const hv_platform_state& good_record() {
    static const hv_platform_state s = [] {
        Rig r;
        linux_boot(r);
        return r.saved();
    }();
    return s;
}

// What the cases rely on in the good record, so that each one breaks only
// the rule it names.
TEST(MalformedRecordBase, HasWhatTheCasesBreak) {
    const hv_platform_state& s = good_record();
    ASSERT_TRUE(LegacyPlatform::valid(s));
    EXPECT_EQ(s.pic.master.input_level & 0x10, 0x10);  // COM1's line high...
    EXPECT_EQ(s.pic.master.irr & 0x10, 0);              // ...its request taken
    EXPECT_EQ(s.pic.master.icw4_needed, 1);
    EXPECT_EQ(s.pic.master.single, 0);
    EXPECT_EQ(s.pit.counter[0].mode, 2);
    EXPECT_EQ(s.pit.counter[0].read_msb, 1);
    EXPECT_EQ(s.pit.counter[0].running, 1);
    EXPECT_EQ(s.pit.irq_level, 1);
    EXPECT_EQ(s.pit.counter[1].bcd, 1);
    EXPECT_EQ(s.pit.counter[1].mode, 3);
    EXPECT_EQ(s.pit.counter[1].count_latched, 1);
    EXPECT_EQ(s.pit.counter[2].mode, 0);
    EXPECT_EQ(s.pit.counter[2].running, 1);
    EXPECT_EQ(s.pit.counter[2].status_latched, 1);
    EXPECT_EQ(s.pit.counter[2].count_latched, 1);
    EXPECT_EQ(s.pit.port_b & 1, 1);
    EXPECT_EQ(s.com1.rx_count, 11);
    EXPECT_EQ(s.com1.irq_level, 1);
    EXPECT_EQ(s.kbc.out_count, 1);
    EXPECT_EQ(s.kbc.kbd_irq_level, 1);
    EXPECT_EQ(s.kbc.aux_irq_level, 0);
    // The multi-field cases break one rule: with that rule's field left
    // valid, the same edit is accepted.
    hv_platform_state ok = s;
    hv_pit_counter_state& c = ok.pit.counter[0];
    c.reload_pending = 1, c.reload_n = 100, c.reload_at = ok.pit.next_due;
    EXPECT_TRUE(LegacyPlatform::valid(ok));
    ok = s;
    ok.pit.counter[2].gate = 0, ok.pit.counter[2].running = 0, ok.pit.port_b &= uint8_t(~1);
    EXPECT_TRUE(LegacyPlatform::valid(ok));
    ok = s;
    ok.pic.master.single = 1;
    EXPECT_TRUE(LegacyPlatform::valid(ok));
}

// A target in another valid state than the record's: the Linux boot then a
// while of its life, and the timer switched to one-shot.
struct Target {
    Rig rig;
    Target() {
        uint64_t t = linux_boot(rig);
        drive(rig, t, 200, 7);
    }
};

struct MalformedRecord : ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedRecord, IsRefusedAndTheTargetIsUnchanged) {
    const Malformed& m = GetParam();
    hv_platform_state bad = good_record();
    m.Break(bad);
    ASSERT_FALSE(same_bytes(bad, good_record())) << "the case changed nothing";

    Target target;
    const hv_platform_state before = target.rig.saved();
    ASSERT_FALSE(same_bytes(before, good_record()));
    const size_t console = target.rig.console.bytes.size(), resets = target.rig.reset.requests.size();
    EXPECT_FALSE(target.rig.pc.restore(bad));
    EXPECT_TRUE(same_bytes(target.rig.saved(), before));
    EXPECT_EQ(target.rig.console.bytes.size(), console);
    EXPECT_EQ(target.rig.reset.requests.size(), resets);

    // The owning device on its own refuses its part too, and is left as it
    // was (it starts from the target's part, another valid state).
    auto refused = [](auto& device, const auto& start, const auto& bad_part) {
        using State = std::decay_t<decltype(start)>;
        ASSERT_TRUE(device.restore(start));
        State before_part, after_part;
        device.save(before_part);
        EXPECT_FALSE(device.restore(bad_part));
        device.save(after_part);
        EXPECT_TRUE(same_bytes(after_part, before_part));
    };
    LineProbe l1, l2;
    SinkProbe sink;
    ResetProbe reset;
    switch (m.owner) {
    case Owner::Platform:
        break;
    case Owner::Pic: {
        Pic8259Pair pic;
        refused(pic, before.pic, bad.pic);
        break;
    }
    case Owner::Pit: {
        Pit8254 pit(l1.line());
        refused(pit, before.pit, bad.pit);
        EXPECT_EQ(l1.rises + l1.falls, 0);
        break;
    }
    case Owner::Com1: {
        Uart16550 com1(l1.line(), sink.sink());
        refused(com1, before.com1, bad.com1);
        EXPECT_EQ(l1.rises + l1.falls, 0);
        EXPECT_TRUE(sink.bytes.empty());
        break;
    }
    case Owner::Cmos: {
        CmosRtc cmos;
        refused(cmos, before.cmos, bad.cmos);
        break;
    }
    case Owner::Kbc: {
        I8042 kbc(l1.line(), l2.line(), reset.line());
        refused(kbc, before.kbc, bad.kbc);
        EXPECT_EQ(l1.rises + l1.falls + l2.rises + l2.falls, 0);
        break;
    }
    case Owner::ResetControl: {
        ResetControl rc(reset.line());
        refused(rc, before.reset_control, bad.reset_control);
        EXPECT_TRUE(reset.requests.empty());
        break;
    }
    }
}

INSTANTIATE_TEST_SUITE_P(Field, MalformedRecord, ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<Malformed>& info) { return std::string(info.param.field); });

}  // namespace
}  // namespace hv::devices
