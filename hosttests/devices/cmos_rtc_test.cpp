// The MC146818 RTC and CMOS RAM as Linux reads and sets it
// (mc146818_get_time / mc146818_set_time through ports 0x70/0x71).
#include "kernel/devices/cmos_rtc.h"

#include <gtest/gtest.h>

namespace hv::devices {
namespace {

using namespace mc146818;

constexpr uint64_t kJan2024 = 1704067200;  // Monday 2024-01-01 00:00:00 UTC
constexpr uint64_t kSecond = kTicksPerSecond;

struct Rtc : ::testing::Test {
    CmosRtc rtc{kJan2024, 0};

    uint8_t cmos_read(uint8_t index, uint64_t now) {
        rtc.write(kIndexPort, index, now);
        return rtc.read(kDataPort, now);
    }
    void cmos_write(uint8_t index, uint8_t value, uint64_t now) {
        rtc.write(kIndexPort, index, now);
        rtc.write(kDataPort, value, now);
    }
};

TEST_F(Rtc, TimeRegistersReadTheWallClockInBcd24Hour) {
    const uint64_t now = 3725 * kSecond;  // 01:02:05
    EXPECT_EQ(cmos_read(kSeconds, now), 0x05);
    EXPECT_EQ(cmos_read(kMinutes, now), 0x02);
    EXPECT_EQ(cmos_read(kHours, now), 0x01);
    EXPECT_EQ(cmos_read(kDayOfWeek, now), 0x02);  // Sunday is 1
    EXPECT_EQ(cmos_read(kDayOfMonth, now), 0x01);
    EXPECT_EQ(cmos_read(kMonth, now), 0x01);
    EXPECT_EQ(cmos_read(kYear, now), 0x24);
    EXPECT_EQ(cmos_read(kCentury, now), 0x20);
}

TEST_F(Rtc, TheClockRunsWithNow) {
    const uint64_t now = (31 * 86400 + 23 * 3600 + 59 * 60 + 59) * kSecond;  // 2024-02-01 23:59:59
    EXPECT_EQ(cmos_read(kDayOfMonth, now), 0x01);
    EXPECT_EQ(cmos_read(kMonth, now), 0x02);
    EXPECT_EQ(cmos_read(kHours, now), 0x23);
    EXPECT_EQ(cmos_read(kSeconds, now + kSecond), 0x00);
    EXPECT_EQ(cmos_read(kDayOfMonth, now + kSecond), 0x02);
}

TEST_F(Rtc, RegisterBSelectsBinaryAnd12HourForm) {
    cmos_write(kRegB, kBBinary, 0);  // binary, 12-hour
    const uint64_t now = (13 * 3600 + 45 * 60) * kSecond;
    EXPECT_EQ(cmos_read(kHours, now), 1 | kHourPm);
    EXPECT_EQ(cmos_read(kMinutes, now), 45);
    EXPECT_EQ(cmos_read(kYear, now), 24);
    EXPECT_EQ(cmos_read(kHours, 0), 12);  // midnight is 12 AM
    cmos_write(kRegB, 0, 0);               // BCD, 12-hour
    EXPECT_EQ(cmos_read(kHours, 12 * 3600 * kSecond), 0x12 | kHourPm);
}

TEST_F(Rtc, UpdateIsNeverInProgressAndTheBatteryIsGood) {
    EXPECT_EQ(cmos_read(kRegA, 0), kADefault);
    EXPECT_EQ(cmos_read(kRegA, kSecond / 2) & kAUpdateInProgress, 0);
    cmos_write(kRegA, 0xa6, 0);  // UIP is read-only
    EXPECT_EQ(cmos_read(kRegA, 0), 0x26);
    EXPECT_EQ(cmos_read(kRegD, 0), kDValidRamTime);  // rtc-cmos: bit 6 must be 0
    EXPECT_EQ(cmos_read(kRegB, 0), kB24Hour);
}

TEST_F(Rtc, RegisterCReportsTheUpdateFlagOncePerSecondAndClearsOnRead) {
    EXPECT_EQ(cmos_read(kRegC, kSecond / 2) & kCUpdateEnded, 0);
    EXPECT_EQ(cmos_read(kRegC, kSecond) & kCUpdateEnded, kCUpdateEnded);
    EXPECT_EQ(cmos_read(kRegC, kSecond) & kCUpdateEnded, 0);  // cleared by the read
    cmos_write(kRegB, kB24Hour | kBUpdateIe, kSecond);
    EXPECT_EQ(cmos_read(kRegC, 2 * kSecond) & (kCIrqf | kCUpdateEnded), kCIrqf | kCUpdateEnded);
}

TEST_F(Rtc, RegisterCPeriodicFlagFollowsTheRateSelect) {
    cmos_write(kRegA, 0x2f, 0);  // RS = 15: 2 Hz
    EXPECT_EQ(cmos_read(kRegC, 0) & kCPeriodic, 0);
    EXPECT_EQ(cmos_read(kRegC, kSecond / 4) & kCPeriodic, 0);
    EXPECT_EQ(cmos_read(kRegC, kSecond / 2) & kCPeriodic, kCPeriodic);
    cmos_write(kRegA, 0x20, kSecond);  // RS = 0: none
    EXPECT_EQ(cmos_read(kRegC, 10 * kSecond) & kCPeriodic, 0);
}

TEST_F(Rtc, IndexPortBit7MasksNmi) {
    rtc.write(kIndexPort, 0x80 | kShutdownStatus, 0);
    EXPECT_TRUE(rtc.nmi_masked());
    EXPECT_EQ(rtc.index(), kShutdownStatus);
    EXPECT_EQ(rtc.read(kIndexPort, 0), 0x80 | kShutdownStatus);
    rtc.write(kIndexPort, kShutdownStatus, 0);
    EXPECT_FALSE(rtc.nmi_masked());
}

TEST_F(Rtc, TheRestIsRamThatStartsAtZero) {
    for (unsigned i = 0x0e; i < kSize; ++i) {
        if (i == kCentury) continue;
        EXPECT_EQ(cmos_read(uint8_t(i), 0), 0) << "index " << i;
    }
    cmos_write(kShutdownStatus, 0x0a, 0);
    cmos_write(0x7f, 0x5a, 0);
    EXPECT_EQ(cmos_read(kShutdownStatus, 0), 0x0a);
    EXPECT_EQ(cmos_read(0x7f, 0), 0x5a);
    rtc.set_ram(0x14, 0x06);  // what firmware would have put in the equipment byte
    EXPECT_EQ(cmos_read(0x14, 0), 0x06);
}

TEST_F(Rtc, LinuxSetTimeMovesOnlyTheGuestsClock) {
    // mc146818_set_time: SET, divider reset, the registers, then restore.
    const uint64_t t = 100 * kSecond;
    const uint8_t control = cmos_read(kRegB, t);
    cmos_write(kRegB, control | kBSet, t);
    const uint8_t freq = cmos_read(kRegA, t);
    cmos_write(kRegA, freq | 0x70, t);
    cmos_write(kYear, 0x30, t);
    cmos_write(kMonth, 0x06, t);
    cmos_write(kDayOfMonth, 0x15, t);
    cmos_write(kHours, 0x12, t);
    cmos_write(kMinutes, 0x34, t);
    cmos_write(kSeconds, 0x56, t);
    EXPECT_EQ(cmos_read(kSeconds, t + 5 * kSecond), 0x56);  // frozen while SET
    cmos_write(kRegB, control, t + 5 * kSecond);
    cmos_write(kRegA, freq, t + 5 * kSecond);
    EXPECT_EQ(rtc.guest_time(t + 5 * kSecond), 1907757296);  // 2030-06-15 12:34:56
    EXPECT_EQ(cmos_read(kSeconds, t + 7 * kSecond), 0x58);
    EXPECT_EQ(cmos_read(kYear, t + 7 * kSecond), 0x30);
    rtc.set_wall_clock(kJan2024 + 3600, t + 7 * kSecond);  // the host's clock steps an hour
    EXPECT_EQ(cmos_read(kHours, t + 7 * kSecond), 0x13);   // the guest's offset is kept
}

TEST_F(Rtc, ADateTheClockCannotHoldIsRefused) {
    cmos_write(kMonth, 0x13, 0);
    EXPECT_EQ(rtc.unhandled.count, 1u);
    EXPECT_EQ(cmos_read(kMonth, 0), 0x01);
    cmos_write(kMinutes, 0x5f, 0);  // not BCD
    EXPECT_EQ(rtc.unhandled.count, 2u);
    EXPECT_EQ(rtc.guest_time(0), int64_t(kJan2024));
}

TEST_F(Rtc, WritingOneTimeRegisterWhileRunningSetsTheClock) {
    cmos_write(kMinutes, 0x30, 0);
    EXPECT_EQ(rtc.guest_time(0), int64_t(kJan2024 + 30 * 60));
    EXPECT_EQ(cmos_read(kMinutes, 60 * kSecond), 0x31);
}

TEST_F(Rtc, StatusRegistersCAndDAreReadOnly) {
    cmos_write(kRegC, 0xff, 0);
    cmos_write(kRegD, 0x00, 0);
    EXPECT_EQ(rtc.unhandled.count, 2u);
    EXPECT_EQ(cmos_read(kRegD, 0), kDValidRamTime);
}

TEST(RtcCalendar, DaysFromCivilAndBack) {
    struct Date {
        int64_t y;
        unsigned m, d;
        int64_t days;
    };
    for (const Date& c : {Date{1970, 1, 1, 0}, Date{2000, 2, 29, 11016}, Date{2000, 3, 1, 11017},
                          Date{2024, 1, 1, 19723}, Date{2038, 1, 19, 24855}, Date{2100, 3, 1, 47541},
                          Date{1969, 12, 31, -1}}) {
        EXPECT_EQ(days_from_civil(c.y, c.m, c.d), c.days) << c.y << "-" << c.m << "-" << c.d;
        int64_t y;
        unsigned m, d;
        civil_from_days(c.days, y, m, d);
        EXPECT_EQ(y, c.y);
        EXPECT_EQ(m, c.m);
        EXPECT_EQ(d, c.d);
    }
}

}  // namespace
}  // namespace hv::devices
