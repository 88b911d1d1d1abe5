// The 8254 as Linux's i8253 clockevent drives counter 0 (periodic: 0x34 and
// LATCH; one-shot: 0x38 then a count per event; shutdown: 0x30, 0, 0, 0x30),
// as its TSC calibration drives counter 2 through port 0x61, and as the
// hypervisor asks it when to wake (next_event) and what is due (advance).
#include "kernel/devices/pit8254.h"

#include <gtest/gtest.h>

#include "hosttests/devices/wires.h"

namespace hv::devices {
namespace {

using test::LineProbe;
using i8254::kNever;

constexpr uint16_t kLatch = 4773;  // PIT_LATCH for HZ=250: (1193182 + 125) / 250

struct Pit : ::testing::Test {
    LineProbe irq0;
    Pit8254 pit{irq0.line()};

    void count(uint16_t port, uint16_t v, uint64_t now) {
        pit.write(port, uint8_t(v), now);
        pit.write(port, uint8_t(v >> 8), now);
    }
    // Programming counter 0 in modes 2-5 raises OUT from its power-on low:
    // that edge is the 8254's, but these tests count expiries after it.
    void program(uint8_t cw, uint16_t v, uint64_t now) {
        pit.write(0x43, cw, now);
        count(0x40, v, now);
        irq0.rises = irq0.falls = 0;
    }
    uint16_t latched_count(unsigned ch, uint64_t now) {
        pit.write(0x43, uint8_t(ch << 6), now);  // counter latch command
        uint16_t lo = pit.read(uint16_t(0x40 + ch), now);
        return uint16_t(lo | pit.read(uint16_t(0x40 + ch), now) << 8);
    }
};

TEST_F(Pit, Mode2PeriodicExpiresEveryLatchTicks) {
    const uint64_t t0 = 1000;
    program(0x34, kLatch, t0);  // counter 0, LSB then MSB, mode 2, binary
    EXPECT_EQ(pit.next_event(t0), t0 + kLatch);
    pit.advance(t0 + kLatch - 1);
    EXPECT_EQ(irq0.rises, 0);
    pit.advance(t0 + kLatch);
    EXPECT_EQ(irq0.rises, 1);
    EXPECT_TRUE(irq0.level);
    EXPECT_EQ(pit.next_event(t0 + kLatch), t0 + 2 * kLatch);
    pit.advance(t0 + 2 * kLatch);
    EXPECT_EQ(irq0.rises, 2);
    EXPECT_EQ(pit.expiries(), 2u);
}

TEST_F(Pit, Mode2CountReadsDownFromTheLatchValue) {
    pit.write(0x43, 0x34, 0);
    count(0x40, kLatch, 0);
    EXPECT_EQ(latched_count(0, 100), kLatch - 100);
    EXPECT_EQ(latched_count(0, kLatch + 1), kLatch - 1);  // reloaded at the period's end
}

TEST_F(Pit, MissedPeriodsAreCoalescedIntoOneEdgeKeepingThePhase) {
    program(0x34, 1000, 0);
    pit.advance(10500);  // ten expiries fell while the guest was away
    EXPECT_EQ(irq0.rises, 1);
    EXPECT_EQ(pit.coalesced(), 9u);
    EXPECT_EQ(pit.next_event(10500), 11000u);  // the phase of the load, not now + period
    pit.advance(11000);
    EXPECT_EQ(irq0.rises, 2);
}

TEST_F(Pit, OneShotMode4FiresOncePerCount) {
    pit.write(0x43, 0x38, 0);  // Linux's pit_set_oneshot
    EXPECT_EQ(pit.next_event(0), kNever);
    irq0.rises = 0;
    count(0x40, 1000, 50);  // pit_next_event(1000)
    EXPECT_EQ(pit.next_event(50), 1050u);
    pit.advance(1050);
    EXPECT_EQ(irq0.rises, 1);
    EXPECT_EQ(pit.next_event(1050), kNever);
    pit.advance(200000);
    EXPECT_EQ(irq0.rises, 1);
    count(0x40, 0x7fff, 200000);  // the clockevent's largest delta
    EXPECT_EQ(pit.next_event(200000), 200000u + 0x7fff);
}

TEST_F(Pit, Mode0OutputRisesAtTerminalCountAndTheCountWraps) {
    pit.write(0x43, 0x30, 0);
    EXPECT_FALSE(irq0.level);
    count(0x40, 100, 0);
    EXPECT_EQ(pit.next_event(0), 100u);
    pit.advance(100);
    EXPECT_TRUE(irq0.level);
    EXPECT_EQ(irq0.rises, 1);
    EXPECT_EQ(latched_count(0, 110), 0xffff - 9);  // counting goes on through 0
    EXPECT_EQ(pit.next_event(110), kNever);
    count(0x40, 100, 200);  // a new count drops OUT
    EXPECT_FALSE(irq0.level);
}

TEST_F(Pit, LinuxShutdownStopsTheCounter) {
    program(0x34, kLatch, 0);
    pit.write(0x43, 0x30, 10);  // clockevent_i8253_disable
    count(0x40, 0, 10);
    EXPECT_EQ(pit.next_event(10), 10u + 65536);
    pit.write(0x43, 0x30, 20);
    EXPECT_EQ(pit.next_event(20), kNever);
    pit.advance(1000000);
    EXPECT_EQ(irq0.rises, 0);
}

TEST_F(Pit, CountOfZeroMeans65536) {
    pit.write(0x43, 0x34, 0);
    count(0x40, 0, 0);
    EXPECT_EQ(pit.next_event(0), 65536u);
    EXPECT_EQ(pit.counter(0).period(), 65536u);
}

TEST_F(Pit, LatchedCountHoldsUntilReadAndASecondLatchIsIgnored) {
    pit.write(0x43, 0x34, 0);
    count(0x40, 10000, 0);
    pit.write(0x43, 0x00, 100);
    pit.write(0x43, 0x00, 900);  // ignored: the first is not read yet
    const uint8_t lo = pit.read(0x40, 2000);
    const uint8_t hi = pit.read(0x40, 3000);
    EXPECT_EQ(lo | hi << 8, 10000 - 100);
    EXPECT_EQ(latched_count(0, 5000), 10000 - 5000);  // released after the MSB
}

TEST_F(Pit, ReadBackLatchesStatusThenCount) {
    pit.write(0x43, 0x34, 0);
    pit.write(0x43, 0xe2, 0);  // read-back: status of counter 0
    EXPECT_EQ(pit.read(0x40, 0), i8254::kStatusOutput | i8254::kStatusNullCount | 0x34);
    count(0x40, 500, 10);
    pit.write(0x43, 0xe2, 20);  // status only
    EXPECT_EQ(pit.read(0x40, 20), i8254::kStatusOutput | 0x34);  // loaded: null count clear
    pit.write(0x43, 0xc2, 30);
    EXPECT_EQ(pit.read(0x40, 40), i8254::kStatusOutput | 0x34);
    const uint8_t lo = pit.read(0x40, 50);
    EXPECT_EQ(lo | pit.read(0x40, 60) << 8, 500 - 20);
}

TEST_F(Pit, ReadBackStatusShowsMode0OutputLowUntilTerminalCount) {
    pit.write(0x43, 0x30, 0);
    count(0x40, 100, 0);
    pit.write(0x43, 0xe2, 50);
    EXPECT_EQ(pit.read(0x40, 50) & i8254::kStatusOutput, 0);
    pit.write(0x43, 0xe2, 150);
    EXPECT_EQ(pit.read(0x40, 150) & i8254::kStatusOutput, i8254::kStatusOutput);
}

TEST_F(Pit, LsbOnlyAndMsbOnlyAccess) {
    pit.write(0x43, 0x14, 0);  // LSB only, mode 2
    pit.write(0x40, 200, 0);
    EXPECT_EQ(pit.next_event(0), 200u);
    EXPECT_EQ(pit.read(0x40, 50), 150);
    EXPECT_EQ(pit.read(0x40, 60), 140);  // every read is the LSB
    pit.write(0x43, 0x24, 100);  // MSB only
    pit.write(0x40, 0x02, 100);
    EXPECT_EQ(pit.next_event(100), 100u + 0x200);
    EXPECT_EQ(pit.read(0x40, 100), 0x02);
}

TEST_F(Pit, BcdCountingUsesDecimalCounts) {
    pit.write(0x43, 0x35, 0);  // mode 2, BCD
    count(0x40, 0x1000, 0);    // 1000 decimal
    EXPECT_EQ(pit.next_event(0), 1000u);
    EXPECT_EQ(latched_count(0, 1), 0x0999);
    pit.write(0x43, 0x35, 2000);
    count(0x40, 0, 2000);  // 0 is 10000 in BCD
    EXPECT_EQ(pit.next_event(2000), 12000u);
}

TEST_F(Pit, Mode3SquareWaveExpiresEachPeriodWithOutputHighForHalf) {
    pit.write(0x43, 0x36, 0);
    count(0x40, 1000, 0);
    EXPECT_EQ(latched_count(0, 10), 1000 - 20);  // decrements by two
    pit.write(0x43, 0xe2, 499);
    EXPECT_TRUE(pit.read(0x40, 499) & i8254::kStatusOutput);
    pit.write(0x43, 0xe2, 500);
    EXPECT_FALSE(pit.read(0x40, 500) & i8254::kStatusOutput);
    irq0.rises = 0;
    pit.advance(1000);
    pit.advance(2000);
    EXPECT_EQ(irq0.rises, 2);
    EXPECT_EQ(pit.expiries(), 2u);
}

TEST_F(Pit, EachExpiryIsAFreshEdgeForTheController) {
    // Modes 2-5 strobe OUT low then high; the line must fall and rise.
    program(0x34, 100, 0);
    pit.advance(100);
    pit.advance(200);
    EXPECT_EQ(irq0.falls, 2);
    EXPECT_EQ(irq0.rises, 2);
    EXPECT_TRUE(irq0.level);
}

TEST_F(Pit, NewMode2CountTakesEffectAtTheEndOfThePeriod) {
    pit.write(0x43, 0x34, 0);
    count(0x40, 1000, 0);
    count(0x40, 300, 400);
    EXPECT_EQ(pit.next_event(400), 1000u);
    pit.advance(1000);
    EXPECT_EQ(pit.next_event(1000), 1300u);
    EXPECT_EQ(latched_count(0, 1100), 200);
}

TEST_F(Pit, AccessesDeliverAnExpiryThatFellBeforeThem) {
    program(0x38, 100, 0);
    pit.write(0x43, 0x30, 150);  // reprogrammed after the expiry, before any advance()
    EXPECT_EQ(irq0.rises, 1);
    EXPECT_EQ(pit.expiries(), 1u);
}

TEST_F(Pit, ProgrammingAModeWithOutputHighIsAnEdge) {
    // OUT is low at power-on and in mode 0; modes 2-5 start with it high.
    pit.write(0x43, 0x34, 0);
    EXPECT_TRUE(irq0.level);
    EXPECT_EQ(irq0.rises, 1);
    pit.write(0x43, 0x30, 10);
    EXPECT_FALSE(irq0.level);
}

TEST_F(Pit, TimeNeverRunsBackwards) {
    pit.write(0x43, 0x34, 1000);
    count(0x40, 100, 1000);
    EXPECT_EQ(latched_count(0, 500), 100);  // an earlier now is taken as the latest
}

TEST_F(Pit, Counter2GateAndOut2ThroughPort61LikeTscCalibration) {
    // pit_calibrate_tsc: gate on, speaker off; counter 2 mode 0; poll OUT2.
    pit.write(0x61, uint8_t((pit.read(0x61, 0) & ~0x02) | 0x01), 0);
    pit.write(0x43, 0xb0, 0);
    count(0x42, 11932, 0);  // 10 ms
    EXPECT_EQ(pit.read(0x61, 5000) & i8254::kPortBOut2, 0);
    EXPECT_EQ(pit.read(0x61, 11932) & i8254::kPortBOut2, i8254::kPortBOut2);
    EXPECT_EQ(pit.read(0x61, 11932) & 0x0f, 0x01);  // the writable bits read back
    EXPECT_EQ(irq0.rises, 0);                      // counter 2 has no IRQ
}

TEST_F(Pit, Counter2GateLowSuspendsMode0) {
    pit.write(0x61, 0x01, 0);
    pit.write(0x43, 0xb0, 0);
    count(0x42, 1000, 0);
    pit.write(0x61, 0x00, 400);  // gate low: the count stops at 600
    EXPECT_EQ(latched_count(2, 900), 600);
    pit.write(0x61, 0x01, 1000);
    EXPECT_EQ(latched_count(2, 1100), 500);
    EXPECT_EQ(pit.read(0x61, 1599) & i8254::kPortBOut2, 0);
    EXPECT_EQ(pit.read(0x61, 1600) & i8254::kPortBOut2, i8254::kPortBOut2);
}

TEST_F(Pit, Counter2HardwareOneShotWaitsForTheGate) {
    pit.write(0x61, 0x00, 0);
    pit.write(0x43, 0xb2, 0);  // mode 1
    count(0x42, 100, 0);
    EXPECT_TRUE(pit.read(0x61, 50) & i8254::kPortBOut2);  // high until triggered
    pit.write(0x61, 0x01, 200);
    EXPECT_FALSE(pit.read(0x61, 250) & i8254::kPortBOut2);
    EXPECT_TRUE(pit.read(0x61, 300) & i8254::kPortBOut2);
}

TEST_F(Pit, Port61RefreshBitToggles) {
    const uint8_t a = pit.read(0x61, 0) & i8254::kPortBRefreshToggle;
    const uint8_t b = pit.read(0x61, i8254::kRefreshHalfPeriod) & i8254::kPortBRefreshToggle;
    EXPECT_NE(a, b);
}

TEST_F(Pit, ALatchedCountSurvivesUntilReadEvenAcrossNewCounts) {
    pit.write(0x43, 0x34, 0);
    count(0x40, 1000, 0);
    pit.write(0x43, 0x00, 100);  // latched: 900
    count(0x40, 2000, 200);      // a new count does not release the latch
    const uint8_t lo = pit.read(0x40, 300);
    EXPECT_EQ(lo | pit.read(0x40, 300) << 8, 900);
}

TEST_F(Pit, ControlWordRegisterCannotBeRead) {
    EXPECT_EQ(pit.read(0x43, 0), 0xff);
    EXPECT_EQ(pit.unhandled_count(), 1u);
}

TEST(PitTime, TscConversionsRoundTrip) {
    const uint64_t hz = 2'500'000'000;  // a 2.5 GHz TSC
    EXPECT_EQ(tsc_to_pit_ticks(hz, hz), i8254::kInputHz);
    EXPECT_EQ(pit_ticks_to_tsc(i8254::kInputHz, hz), hz);
    const uint64_t day = hz * 86400;  // no overflow a day in
    EXPECT_EQ(tsc_to_pit_ticks(day, hz), i8254::kInputHz * 86400);
    EXPECT_NEAR(double(pit_ticks_to_tsc(kLatch, hz)), 4773.0 * 2.5e9 / 1193182.0, 1.0);
}

// How the hypervisor arms its timer for the PIT's next expiry t: at the
// TSC of tick t + 1, converted back. It must be neither early (the entry
// would run no guest instruction and the timer fire again at once: the
// review's livelock, with a fixed-point rate that drifted with uptime) nor
// late by more than a tick, at any uptime and TSC rate.
TEST(PitTime, ArmingForTheNextTickIsNeverEarlyAndAtMostOneTickLate) {
    for (uint64_t hz : {50'000'000ull, 2'999'999'999ull, 3'000'000'000ull, 5'100'000'001ull}) {
        for (uint64_t seconds : {1ull, 600ull, 3600ull, 3 * 3600ull, 86400ull, 30 * 86400ull}) {
            for (uint64_t k = 0; k < 1000; ++k) {
                const uint64_t t = seconds * i8254::kInputHz + k * 4773;
                const uint64_t armed = pit_ticks_to_tsc(t + 1, hz);
                const uint64_t seen = tsc_to_pit_ticks(armed, hz);
                ASSERT_GE(seen, t) << hz << " Hz, " << seconds << " s: early";
                ASSERT_LE(seen, t + 1) << hz << " Hz, " << seconds << " s: late";
            }
        }
    }
}

}  // namespace
}  // namespace hv::devices
