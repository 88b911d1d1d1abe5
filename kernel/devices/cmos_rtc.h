// The MC146818 real-time clock and its CMOS RAM, behind the PC's index port
// 0x70 (bit 7: NMI disable) and data port 0x71.
//
// The clock is the caller's: set_wall_clock(unix_seconds, now) says what UTC
// time it is at tick `now` (the constructor's default is 2024-01-01 00:00:00
// UTC, for a hypervisor that has no time source); the time registers are
// computed from it on every read, in BCD or binary and 12- or 24-hour form as
// register B says. A guest that sets the clock (SET in register B, or writing
// a time register) moves its own clock by an offset; the caller's is not
// touched.
//
// Register A reads with UIP clear (an update is never in progress, so a
// reader never waits), register D with VRT set (the battery is good), and
// register C reports the update-ended and periodic flags that came due since
// it was last read, then clears them. No interrupt is ever raised: IRQ8 is
// not wired (PIE, AIE and UIE are kept and only set IRQF in register C), the
// alarm never matches (AF stays clear), and daylight saving is not applied.
// The other 114 bytes are RAM, zero at power-on (a zero checksum over zeros
// is valid), except the century byte 0x32 which follows the clock.
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

namespace mc146818 {
inline constexpr uint16_t kIndexPort = 0x70, kDataPort = 0x71;
inline constexpr uint8_t kNmiDisable = 0x80, kIndexMask = 0x7f;
inline constexpr unsigned kSize = 128;
// Registers.
inline constexpr uint8_t kSeconds = 0x00, kSecondsAlarm = 0x01, kMinutes = 0x02, kMinutesAlarm = 0x03;
inline constexpr uint8_t kHours = 0x04, kHoursAlarm = 0x05, kDayOfWeek = 0x06, kDayOfMonth = 0x07;
inline constexpr uint8_t kMonth = 0x08, kYear = 0x09;
inline constexpr uint8_t kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d;
inline constexpr uint8_t kShutdownStatus = 0x0f;  // RAM, read by BIOS-era reboot paths
inline constexpr uint8_t kCentury = 0x32;         // the PC's century byte (ACPI FADT's default)
// Register A: UIP, DV2-DV0 (time base), RS3-RS0 (periodic rate).
inline constexpr uint8_t kAUpdateInProgress = 0x80, kARateMask = 0x0f;
inline constexpr uint8_t kADefault = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
// Register B.
inline constexpr uint8_t kBSet = 0x80, kBPeriodicIe = 0x40, kBAlarmIe = 0x20, kBUpdateIe = 0x10;
inline constexpr uint8_t kBSquareWave = 0x08, kBBinary = 0x04, kB24Hour = 0x02, kBDaylightSaving = 0x01;
inline constexpr uint8_t kBDefault = kB24Hour;  // BCD, 24-hour, as PC firmware leaves it
// Register C (read-only, cleared by reading).
inline constexpr uint8_t kCIrqf = 0x80, kCPeriodic = 0x40, kCAlarm = 0x20, kCUpdateEnded = 0x10;
// Register D.
inline constexpr uint8_t kDValidRamTime = 0x80;
inline constexpr uint8_t kHourPm = 0x80;  // in 12-hour mode
inline constexpr uint64_t kDefaultEpoch = 1704067200;  // 2024-01-01 00:00:00 UTC
}  // namespace mc146818

// Calendar arithmetic on days since 1970-01-01 (proleptic Gregorian).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);

class CmosRtc {
public:
    explicit CmosRtc(uint64_t unix_seconds = mc146818::kDefaultEpoch, uint64_t now = 0);
    CmosRtc(const CmosRtc&) = delete;
    CmosRtc& operator=(const CmosRtc&) = delete;

    static bool claims(uint16_t port) { return port == mc146818::kIndexPort || port == mc146818::kDataPort; }
    uint8_t read(uint16_t port, uint64_t now);
    void write(uint16_t port, uint8_t value, uint64_t now);

    // The caller's wall clock: UTC seconds since 1970 at tick `now`.
    void set_wall_clock(uint64_t unix_seconds, uint64_t now);
    // The guest's clock (the caller's plus whatever the guest set) at `now`.
    int64_t guest_time(uint64_t now) const;
    bool nmi_masked() const { return nmi_masked_; }
    uint8_t index() const { return index_; }
    // Plain RAM bytes (0x0e-0x7f but the century), for a caller that fills
    // in what firmware would have (memory sizes, equipment).
    void set_ram(uint8_t index, uint8_t value);
    uint8_t ram(uint8_t index) const { return ram_[index & mc146818::kIndexMask]; }
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h), the clock's base included:
    // the guest's clock goes on from the same (tick, seconds) pair, so it
    // reads the same time at the same tick. restore() refuses (changing
    // nothing) an index beyond the RAM, UIP set in register A, SET with UIE
    // in register B, or anything stored in C and D (they are computed).
    void save(hv_cmos_state& out) const;
    static bool valid(const hv_cmos_state& in);
    bool restore(const hv_cmos_state& in);

private:
    static bool is_time_register(uint8_t i);
    uint8_t encode(unsigned v) const;
    bool decode(uint8_t raw, unsigned& v) const;
    void refresh(uint64_t now);  // the time registers from the guest's clock
    bool commit(uint64_t now);   // the guest's clock from the time registers
    uint8_t read_c(uint64_t now);

    uint8_t ram_[mc146818::kSize] = {};
    uint8_t index_ = 0, index_port_ = 0;
    bool nmi_masked_ = false;
    int64_t base_unix_;
    uint64_t base_tick_;
    int64_t offset_ = 0;        // the guest's setting, relative to the caller's clock
    uint64_t c_tick_;           // register C last read (for its flags)
    int64_t c_second_;
};

}  // namespace hv::devices
