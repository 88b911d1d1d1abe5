#include "kernel/devices/pit8254.h"

namespace hv::devices {

using namespace i8254;

namespace {

uint32_t from_bcd(uint16_t v) {
    return (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 + (v >> 4 & 0xf) * 10 + (v & 0xf);
}

uint16_t to_bcd(uint32_t v) {
    return uint16_t((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10));
}

bool valid_bcd(uint16_t v) {
    for (unsigned i = 0; i < 4; ++i)
        if ((v >> (4 * i) & 0xf) > 9) return false;
    return true;
}

}  // namespace

uint32_t PitCounter::initial_count() const {
    uint32_t v = bcd_ ? from_bcd(cr_) : cr_;
    return v == 0 ? modulus() : v;
}

void PitCounter::control(uint8_t cw, uint64_t now) {
    // "When a control word is written to a counter, all control logic is
    // immediately reset and OUT goes to a known initial state": counting
    // stops until a count is written, mode 0 drives OUT low, the others high.
    normalize(now);
    if (running_) frozen_ = count_at(now);
    running_ = false;
    reload_pending_ = false;
    fired_ = false;
    loaded_ = false;
    configured_ = true;
    access_ = PitAccess((cw & kCwAccessMask) >> kCwAccessShift);
    mode_bits_ = uint8_t((cw & kCwModeMask) >> kCwModeShift);
    mode_ = PitMode(mode_bits_ >= 6 ? mode_bits_ - 4 : mode_bits_);  // x10 and x11: modes 2 and 3
    bcd_ = cw & kCwBcd;
    write_msb_ = read_msb_ = false;
    count_latched_ = status_latched_ = false;
    null_count_ = true;
    idle_out_ = mode_ != PitMode::InterruptOnTerminalCount;
}

void PitCounter::normalize(uint64_t now) {
    if (reload_pending_ && now >= reload_at_) {
        t0_ = reload_at_;
        n_ = reload_n_;
        reload_pending_ = false;
        null_count_ = false;
    }
}

// Counting element in binary (0 .. modulus-1).
uint32_t PitCounter::count_at(uint64_t now) const {
    if (!running_) return frozen_;
    uint64_t t0 = t0_;
    uint32_t n = n_;
    if (reload_pending_ && now >= reload_at_) {
        t0 = reload_at_;
        n = reload_n_;
    }
    const uint32_t m = modulus();
    const uint64_t e = now - t0;
    switch (mode_) {
    case PitMode::RateGenerator:
        return (n - uint32_t(e % n)) % m;
    case PitMode::SquareWave: {
        // Decrements by two: an even count runs n, n-2, ..., 2 in each half;
        // an odd one loads n-1 and has a high half one tick longer.
        uint32_t p = uint32_t(e % n);
        if (n % 2 == 0) return (n - 2 * (p % (n / 2))) % m;
        uint32_t high = (n + 1) / 2;
        uint32_t q = p < high ? p : p - high;
        return (n - 1 - 2 * q) % m;
    }
    default:
        // One-shots go on counting down through terminal count and wrap.
        return uint32_t((uint64_t(n % m) + m - e % m) % m);
    }
}

uint16_t PitCounter::read_count(uint64_t now) const {
    uint32_t v = count_at(now);
    return bcd_ ? to_bcd(v) : uint16_t(v);
}

bool PitCounter::out(uint64_t now) const {
    if (!configured_) return false;
    if (!running_) return idle_out_;
    uint64_t t0 = t0_;
    uint32_t n = n_;
    if (reload_pending_ && now >= reload_at_) {
        t0 = reload_at_;
        n = reload_n_;
    }
    const uint64_t e = now - t0;
    switch (mode_) {
    case PitMode::InterruptOnTerminalCount:
    case PitMode::HardwareOneShot:
        return fired_ || e >= n;
    case PitMode::RateGenerator:
        return e % n != n - 1;
    case PitMode::SquareWave:
        return e % n < (n + 1) / 2;
    case PitMode::SoftwareStrobe:
    case PitMode::HardwareStrobe:
        return fired_ || e != n;
    }
    return false;
}

bool PitCounter::nominal_out(uint64_t now) const {
    if (!configured_) return false;
    if (mode_ == PitMode::InterruptOnTerminalCount || mode_ == PitMode::HardwareOneShot) return out(now);
    return true;
}

uint64_t PitCounter::event_after(uint64_t t) const {
    if (!running_) return kNever;
    if (periodic()) {
        uint64_t base = t0_;
        uint32_t n = n_;
        if (reload_pending_ && t >= reload_at_) {
            base = reload_at_;
            n = reload_n_;
        }
        if (t < base) return base + n;
        return base + ((t - base) / n + 1) * n;
    }
    if (fired_) return kNever;
    uint64_t e = t0_ + n_;
    return e > t ? e : kNever;
}

void PitCounter::load(uint64_t now) {
    if (bcd_ && !valid_bcd(cr_)) unhandled.note(0, uint8_t(cr_), true);
    const uint32_t n = initial_count();
    loaded_ = true;
    switch (mode_) {
    case PitMode::InterruptOnTerminalCount:
    case PitMode::SoftwareStrobe:
        // A new count restarts a one-shot at once (if the gate allows).
        fired_ = false;
        t0_ = now;
        n_ = n;
        frozen_ = n % modulus();
        running_ = gate_;
        null_count_ = !gate_;
        idle_out_ = mode_ != PitMode::InterruptOnTerminalCount;
        break;
    case PitMode::HardwareOneShot:
    case PitMode::HardwareStrobe:
        // Waits for the gate's rising edge; a running one-shot is not disturbed.
        null_count_ = true;
        break;
    case PitMode::RateGenerator:
    case PitMode::SquareWave:
        if (running_) {
            // The current period ends first, then the new count is loaded.
            normalize(now);
            if (!reload_pending_) reload_at_ = event_after(now);
            reload_pending_ = true;
            reload_n_ = n;
            null_count_ = true;
        } else if (gate_) {
            t0_ = now;
            n_ = n;
            running_ = true;
            null_count_ = false;
        }
        break;
    }
}

void PitCounter::write(uint8_t value, uint64_t now) {
    normalize(now);
    switch (access_) {
    case PitAccess::Lsb:
        cr_ = value;
        break;
    case PitAccess::Msb:
        cr_ = uint16_t(value << 8);
        break;
    case PitAccess::LsbMsb:
        if (!write_msb_) {
            cr_lsb_ = value;
            write_msb_ = true;
            // In mode 0 the first byte stops the count and drives OUT low.
            if (mode_ == PitMode::InterruptOnTerminalCount && configured_) {
                if (running_) frozen_ = count_at(now);
                running_ = false;
                idle_out_ = false;
            }
            return;
        }
        write_msb_ = false;
        cr_ = uint16_t(cr_lsb_ | value << 8);
        break;
    case PitAccess::Latch:
        break;
    }
    if (!configured_) configured_ = true;  // a count with no control word: power-on mode 0
    load(now);
}

void PitCounter::latch_count(uint64_t now) {
    // A second latch before the first is read is ignored.
    if (count_latched_) return;
    normalize(now);
    latched_count_ = read_count(now);
    count_latched_ = true;
}

void PitCounter::latch_status(uint64_t now) {
    if (status_latched_) return;
    normalize(now);
    latched_status_ = uint8_t((out(now) ? kStatusOutput : 0) | (null_count_ ? kStatusNullCount : 0) |
                              ((uint8_t(access_) << kCwAccessShift | mode_bits_ << kCwModeShift | (bcd_ ? kCwBcd : 0)) &
                               kStatusProgramMask));
    status_latched_ = true;
}

uint8_t PitCounter::read(uint64_t now) {
    normalize(now);
    // A latched status is read first, then a latched count.
    if (status_latched_) {
        status_latched_ = false;
        return latched_status_;
    }
    const uint16_t v = count_latched_ ? latched_count_ : read_count(now);
    uint8_t byte;
    bool done = true;  // the latch (if any) is released after its last byte
    switch (access_) {
    case PitAccess::Msb:
        byte = uint8_t(v >> 8);
        break;
    case PitAccess::LsbMsb:
        byte = read_msb_ ? uint8_t(v >> 8) : uint8_t(v);
        done = read_msb_;
        read_msb_ = !read_msb_;
        break;
    default:
        byte = uint8_t(v);
        break;
    }
    if (done) count_latched_ = false;
    return byte;
}

void PitCounter::set_gate(bool high, uint64_t now) {
    if (high == gate_) return;
    normalize(now);
    gate_ = high;
    if (!configured_) return;
    switch (mode_) {
    case PitMode::InterruptOnTerminalCount:
    case PitMode::SoftwareStrobe:
        // A low gate suspends the count; high resumes it where it stopped.
        if (!high) {
            if (!running_) return;
            frozen_ = count_at(now);
            fired_ = fired_ || now >= t0_ + n_;
            idle_out_ = out(now);
            running_ = false;
        } else {
            if (running_ || !loaded_) return;
            t0_ = now;
            n_ = frozen_ ? frozen_ : modulus();
            running_ = true;
            null_count_ = false;
        }
        break;
    case PitMode::HardwareOneShot:
    case PitMode::HardwareStrobe:
        // The rising edge (re)triggers: the count register is loaded.
        if (high && loaded_) {
            t0_ = now;
            n_ = initial_count();
            fired_ = false;
            running_ = true;
            null_count_ = false;
        }
        break;
    case PitMode::RateGenerator:
    case PitMode::SquareWave:
        // Low stops the count with OUT high; the rising edge reloads it.
        if (!high) {
            if (!running_) return;
            frozen_ = count_at(now);
            reload_pending_ = false;
            running_ = false;
            idle_out_ = true;
        } else if (loaded_) {
            t0_ = now;
            n_ = initial_count();
            reload_pending_ = false;
            running_ = true;
            null_count_ = false;
        }
        break;
    }
}

uint8_t Pit8254::read(uint16_t port, uint64_t now) {
    now = clamp(now);
    advance(now);
    if (port >= kCounter0 && port <= kCounter2) return ch_[port - kCounter0].read(now);
    if (port == kPortB) {
        uint8_t v = port_b_ & kPortBWritable;
        if ((now / kRefreshHalfPeriod) & 1) v |= kPortBRefreshToggle;
        if (ch_[2].out(now)) v |= kPortBOut2;
        return v;
    }
    // The control word register cannot be read.
    unhandled.note(port, 0, false);
    return 0xff;
}

void Pit8254::write(uint16_t port, uint8_t value, uint64_t now) {
    now = clamp(now);
    advance(now);
    if (port >= kCounter0 && port <= kCounter2) {
        ch_[port - kCounter0].write(value, now);
        if (port == kCounter0) counter0_changed(now);
        return;
    }
    if (port == kPortB) {
        port_b_ = value & kPortBWritable;
        ch_[2].set_gate(value & kPortBGate2, now);
        return;
    }
    if (port != kControl) {
        unhandled.note(port, value, true);
        return;
    }
    const unsigned sc = value >> kCwSelectShift;
    if (sc == kCwSelectReadBack) {
        if (value & 1) unhandled.note(port, value, true);  // D0 must be 0
        for (unsigned i = 0; i < 3; ++i) {
            if (!(value & (kReadBackCounter0 << i))) continue;
            // Status first: it must describe the counter before a count latch.
            if (!(value & kReadBackNoStatus)) ch_[i].latch_status(now);
            if (!(value & kReadBackNoCount)) ch_[i].latch_count(now);
        }
        return;
    }
    if ((value & kCwAccessMask) == 0) {
        ch_[sc].latch_count(now);
        return;
    }
    ch_[sc].control(value, now);
    if (sc == 0) counter0_changed(now);
}

// Counter 0 was reprogrammed: its line goes to the level OUT now has, and
// the next expiry is recomputed (nothing at or before `now` is left: the
// entry points advanced first and a fresh count expires after `now`).
void Pit8254::counter0_changed(uint64_t now) {
    bool level = ch_[0].nominal_out(now);
    if (level != line_) {
        line_ = level;
        irq_.set_level(level);
    }
    next_due_ = ch_[0].event_after(now);
}

void Pit8254::advance(uint64_t now) {
    now = clamp(now);
    if (next_due_ > now) return;
    PitCounter& c = ch_[0];
    const uint64_t due = next_due_;
    c.normalize(now);
    if (c.periodic() && c.period()) coalesced_ += (now - due) / c.period();
    ++expiries_;
    if (c.mode() == PitMode::InterruptOnTerminalCount || c.mode() == PitMode::HardwareOneShot) {
        // OUT rises at terminal count and stays high until reprogrammed.
        if (!line_) irq_.set_level(true);
    } else {
        irq_.pulse();
    }
    line_ = true;
    next_due_ = c.event_after(now);
}

}  // namespace hv::devices
