#include "kernel/devices/cmos_rtc.h"

namespace hv::devices {

using namespace mc146818;

// The days-from-civil algorithm: shift the year to start in March so that
// the leap day is the last day of the year, then count 400-year eras.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const unsigned yoe = unsigned(year - era * 400);                          // [0, 399]
    const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;               // [0, 146096]
    return era * 146097 + int64_t(doe) - 719468;
}

void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = unsigned(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year = int64_t(yoe) + era * 400 + (month <= 2);
}

CmosRtc::CmosRtc(uint64_t unix_seconds, uint64_t now)
    : base_unix_(int64_t(unix_seconds)), base_tick_(now), c_tick_(now), c_second_(int64_t(unix_seconds)) {
    ram_[kRegA] = kADefault;
    ram_[kRegB] = kBDefault;
    refresh(now);
}

void CmosRtc::set_wall_clock(uint64_t unix_seconds, uint64_t now) {
    // The guest's offset is kept: it set its clock relative to this one.
    base_unix_ = int64_t(unix_seconds);
    base_tick_ = now;
}

int64_t CmosRtc::guest_time(uint64_t now) const {
    const uint64_t elapsed = now >= base_tick_ ? (now - base_tick_) / kTicksPerSecond : 0;
    return base_unix_ + offset_ + int64_t(elapsed);
}

bool CmosRtc::is_time_register(uint8_t i) {
    return i == kSeconds || i == kMinutes || i == kHours || i == kDayOfWeek || i == kDayOfMonth || i == kMonth ||
           i == kYear || i == kCentury;
}

uint8_t CmosRtc::encode(unsigned v) const {
    if (ram_[kRegB] & kBBinary) return uint8_t(v);
    return uint8_t((v / 10 % 10) << 4 | v % 10);
}

bool CmosRtc::decode(uint8_t raw, unsigned& v) const {
    if (ram_[kRegB] & kBBinary) {
        v = raw;
        return true;
    }
    if ((raw & 0xf) > 9 || (raw >> 4) > 9) return false;
    v = (raw >> 4) * 10 + (raw & 0xf);
    return true;
}

void CmosRtc::refresh(uint64_t now) {
    const int64_t t = guest_time(now);
    int64_t days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        --days;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, year, month, day);
    const unsigned hour = unsigned(secs / 3600);
    ram_[kSeconds] = encode(unsigned(secs % 60));
    ram_[kMinutes] = encode(unsigned(secs / 60 % 60));
    if (ram_[kRegB] & kB24Hour) {
        ram_[kHours] = encode(hour);
    } else {
        const unsigned h12 = hour % 12 == 0 ? 12 : hour % 12;
        ram_[kHours] = uint8_t(encode(h12) | (hour >= 12 ? kHourPm : 0));
    }
    // 1970-01-01 was a Thursday; the register counts Sunday as 1.
    ram_[kDayOfWeek] = encode(unsigned(((days % 7) + 7 + 4) % 7 + 1));
    ram_[kDayOfMonth] = encode(day);
    ram_[kMonth] = encode(month);
    const uint64_t y = year < 0 ? 0 : uint64_t(year);
    ram_[kYear] = encode(unsigned(y % 100));
    ram_[kCentury] = encode(unsigned(y / 100 % 100));
}

bool CmosRtc::commit(uint64_t now) {
    unsigned sec = 0, min = 0, hour = 0, day = 0, month = 0, year = 0, century = 0;
    bool ok = decode(ram_[kSeconds], sec) && decode(ram_[kMinutes], min) && decode(ram_[kDayOfMonth], day) &&
              decode(ram_[kMonth], month) && decode(ram_[kYear], year) && decode(ram_[kCentury], century);
    if (ram_[kRegB] & kB24Hour) {
        ok = ok && decode(ram_[kHours], hour);
    } else {
        unsigned h12 = 0;
        ok = ok && decode(ram_[kHours] & uint8_t(~kHourPm), h12) && h12 >= 1 && h12 <= 12;
        hour = h12 % 12 + (ram_[kHours] & kHourPm ? 12 : 0);
    }
    if (!ok || sec > 59 || min > 59 || hour > 23 || month < 1 || month > 12 || day < 1 || day > 31 || year > 99) {
        refresh(now);  // a date the clock cannot hold: it keeps its time
        return false;
    }
    const int64_t t = days_from_civil(int64_t(century) * 100 + year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    offset_ += t - guest_time(now);
    return true;
}

uint8_t CmosRtc::read_c(uint64_t now) {
    // Flags that came due since the last read: an update cycle ends each
    // second; the periodic flag sets at the rate RS selects (65536 >> RS Hz
    // for RS >= 3, 256 and 128 Hz for RS 1 and 2).
    uint8_t c = 0;
    const int64_t second = guest_time(now);
    if (second != c_second_) c |= kCUpdateEnded;
    const unsigned rs = ram_[kRegA] & kARateMask;
    if (rs) {
        const uint64_t hz = 65536u >> (rs < 3 ? rs + 7 : rs);
        uint64_t period = kTicksPerSecond / hz;
        if (!period) period = 1;
        if (now / period != c_tick_ / period) c |= kCPeriodic;
    }
    const uint8_t b = ram_[kRegB];
    if (((c & kCPeriodic) && (b & kBPeriodicIe)) || ((c & kCUpdateEnded) && (b & kBUpdateIe))) c |= kCIrqf;
    c_second_ = second;
    c_tick_ = now;
    return c;
}

void CmosRtc::set_ram(uint8_t index, uint8_t value) {
    index &= kIndexMask;
    if (index <= kRegD || index == kCentury) {
        unhandled.note(index, value, true);
        return;
    }
    ram_[index] = value;
}

uint8_t CmosRtc::read(uint16_t port, uint64_t now) {
    if (port == kIndexPort) return index_port_;  // as chipsets that let the index be read back
    if (port != kDataPort) {
        unhandled.note(port, 0, false);
        return 0xff;
    }
    const uint8_t i = index_;
    if (is_time_register(i)) {
        if (!(ram_[kRegB] & kBSet)) refresh(now);  // SET freezes what the guest is writing
        return ram_[i];
    }
    switch (i) {
    case kRegA:
        return ram_[kRegA] & uint8_t(~kAUpdateInProgress);
    case kRegC:
        return read_c(now);
    case kRegD:
        return kDValidRamTime;
    default:
        return ram_[i];
    }
}

void CmosRtc::write(uint16_t port, uint8_t value, uint64_t now) {
    if (port == kIndexPort) {
        index_port_ = value;
        index_ = value & kIndexMask;
        nmi_masked_ = value & kNmiDisable;
        return;
    }
    if (port != kDataPort) {
        unhandled.note(port, value, true);
        return;
    }
    const uint8_t i = index_;
    if (is_time_register(i)) {
        if (ram_[kRegB] & kBSet) {
            ram_[i] = value;  // taken when SET is cleared
        } else {
            refresh(now);
            ram_[i] = value;
            if (!commit(now)) unhandled.note(i, value, true);
        }
        return;
    }
    switch (i) {
    case kRegA:
        ram_[kRegA] = value & uint8_t(~kAUpdateInProgress);
        return;
    case kRegB: {
        const uint8_t old = ram_[kRegB];
        uint8_t b = value;
        if (b & kBSet) b &= uint8_t(~kBUpdateIe);  // SET clears UIE
        if ((b & kBSet) && !(old & kBSet)) {
            // Updates stop: the registers hold the time, in the new format.
            ram_[kRegB] = b;
            refresh(now);
        } else if (!(b & kBSet) && (old & kBSet)) {
            // Updates resume from what the guest wrote.
            ram_[kRegB] = b;
            if (!commit(now)) unhandled.note(i, value, true);
        }
        ram_[kRegB] = b;
        return;
    }
    case kRegC:
    case kRegD:
        unhandled.note(i, value, true);  // read-only
        return;
    default:
        ram_[i] = value;
        return;
    }
}

void CmosRtc::save(hv_cmos_state& out) const {
    out = hv_cmos_state{};
    out.base_unix = base_unix_;
    out.base_tick = base_tick_;
    out.offset = offset_;
    out.c_tick = c_tick_;
    out.c_second = c_second_;
    for (unsigned i = 0; i < kSize; ++i) out.ram[i] = ram_[i];
    out.index = index_;
    out.nmi_masked = nmi_masked_;
    unhandled.save(out.unhandled);
}

bool CmosRtc::valid(const hv_cmos_state& in) {
    static_assert(HV_CMOS_SIZE == kSize);
    if (in.index > kIndexMask || !is_flag(in.nmi_masked) || !all_zero(in.reserved, sizeof in.reserved) ||
        !Unhandled::valid(in.unhandled))
        return false;
    // Register A's UIP is masked off every write; SET clears UIE; C and D
    // are never stored (reads compute them, writes are refused).
    if ((in.ram[kRegA] & kAUpdateInProgress) || ((in.ram[kRegB] & kBSet) && (in.ram[kRegB] & kBUpdateIe)) ||
        in.ram[kRegC] || in.ram[kRegD])
        return false;
    return true;
}

bool CmosRtc::restore(const hv_cmos_state& in) {
    if (!valid(in)) return false;
    base_unix_ = in.base_unix;
    base_tick_ = in.base_tick;
    offset_ = in.offset;
    c_tick_ = in.c_tick;
    c_second_ = in.c_second;
    for (unsigned i = 0; i < kSize; ++i) ram_[i] = in.ram[i];
    index_ = in.index;
    nmi_masked_ = in.nmi_masked;
    // What port 0x70 reads back: the index and NMI bit, as last written.
    index_port_ = uint8_t(in.index | (in.nmi_masked ? kNmiDisable : 0));
    unhandled.restore(in.unhandled);
    return true;
}

}  // namespace hv::devices
