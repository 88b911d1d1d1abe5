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

void PitCounter::save(hv_pit_counter_state& out) const {
    out = hv_pit_counter_state{};
    out.t0 = t0_;
    out.reload_at = reload_at_;
    out.n = n_;
    out.reload_n = reload_n_;
    out.frozen = frozen_;
    out.cr = cr_;
    out.latched_count = latched_count_;
    out.mode = uint8_t(mode_);
    out.access = uint8_t(access_);
    out.mode_bits = mode_bits_;
    out.bcd = bcd_;
    out.configured = configured_;
    out.loaded = loaded_;
    out.cr_lsb = cr_lsb_;
    out.write_msb = write_msb_;
    out.read_msb = read_msb_;
    out.count_latched = count_latched_;
    out.status_latched = status_latched_;
    out.latched_status = latched_status_;
    out.null_count = null_count_;
    out.gate = gate_;
    out.running = running_;
    out.fired = fired_;
    out.idle_out = idle_out_;
    out.reload_pending = reload_pending_;
    unhandled.save(out.unhandled);
}

bool PitCounter::valid(const hv_pit_counter_state& in) {
    const uint8_t flags[] = {in.bcd,           in.configured,    in.loaded,     in.write_msb, in.read_msb,
                             in.count_latched, in.status_latched, in.null_count, in.gate,      in.running,
                             in.fired,         in.idle_out,       in.reload_pending};
    for (uint8_t f : flags)
        if (!is_flag(f)) return false;
    if (!all_zero(in.reserved, sizeof in.reserved) || !Unhandled::valid(in.unhandled)) return false;
    // The program: a control word's RW is never 0 (that is the latch
    // command) and M2-M0 = x10, x11 are modes 2 and 3.
    if (in.access < uint8_t(PitAccess::Lsb) || in.access > uint8_t(PitAccess::LsbMsb) || in.mode_bits > 7) return false;
    if (in.mode != (in.mode_bits >= 6 ? in.mode_bits - 4 : in.mode_bits)) return false;
    const PitMode mode = PitMode(in.mode);
    if (!in.configured && (in.mode_bits || in.access != uint8_t(PitAccess::LsbMsb) || in.bcd || in.loaded ||
                           in.idle_out || in.fired || !in.null_count))
        return false;  // power-on: mode 0, LSB then MSB, binary, no count (NULL COUNT)
    // Byte pointers exist only in the two-byte access mode; a latched
    // status describes the counter's program (a control word drops latches).
    if ((in.write_msb || in.read_msb) && in.access != uint8_t(PitAccess::LsbMsb)) return false;
    const uint8_t program = uint8_t(in.access << kCwAccessShift | in.mode_bits << kCwModeShift | in.bcd);
    if (in.status_latched && (in.latched_status & kStatusProgramMask) != program) return false;
    if (in.count_latched && in.bcd && !valid_bcd(in.latched_count)) return false;
    // OUT idles high in every mode but 0 and 4 (whose OUT a gate pause can
    // catch low); only those two record a terminal count across a pause.
    const bool one_shot_sw = mode == PitMode::InterruptOnTerminalCount || mode == PitMode::SoftwareStrobe;
    if (in.configured && !one_shot_sw && !in.idle_out) return false;
    if (in.fired && !one_shot_sw) return false;
    if (in.frozen > 0xffff) return false;
    // A count in ticks: 1 to the counter's range (a BCD count with non-BCD
    // digits, counted as unhandled, reaches from_bcd(0xffff)).
    const uint32_t max_n = in.bcd ? from_bcd(0xffff) : 65536;
    if (in.running) {
        if (!in.configured || !in.loaded || in.n < 1 || in.n > max_n) return false;
        // Only modes 1 and 5 (triggered by the gate's edge) count on with it low.
        if (!in.gate && mode != PitMode::HardwareOneShot && mode != PitMode::HardwareStrobe) return false;
    }
    if (in.reload_pending) {
        // A new count in modes 2/3 waits for the end of the current period.
        if (!in.running || !(mode == PitMode::RateGenerator || mode == PitMode::SquareWave)) return false;
        if (in.reload_n < 1 || in.reload_n > max_n || in.reload_at <= in.t0 || (in.reload_at - in.t0) % in.n)
            return false;
    }
    return true;
}

bool PitCounter::restore(const hv_pit_counter_state& in) {
    if (!valid(in)) return false;
    t0_ = in.t0;
    reload_at_ = in.reload_at;
    n_ = in.n;
    reload_n_ = in.reload_n;
    frozen_ = in.frozen;
    cr_ = in.cr;
    latched_count_ = in.latched_count;
    mode_ = PitMode(in.mode);
    access_ = PitAccess(in.access);
    mode_bits_ = in.mode_bits;
    bcd_ = in.bcd;
    configured_ = in.configured;
    loaded_ = in.loaded;
    cr_lsb_ = in.cr_lsb;
    write_msb_ = in.write_msb;
    read_msb_ = in.read_msb;
    count_latched_ = in.count_latched;
    status_latched_ = in.status_latched;
    latched_status_ = in.latched_status;
    null_count_ = in.null_count;
    gate_ = in.gate;
    running_ = in.running;
    fired_ = in.fired;
    idle_out_ = in.idle_out;
    reload_pending_ = in.reload_pending;
    unhandled.restore(in.unhandled);
    return true;
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

void Pit8254::save(hv_pit_state& out) const {
    out = hv_pit_state{};
    for (unsigned i = 0; i < 3; ++i) ch_[i].save(out.counter[i]);
    out.last_now = last_now_;
    out.next_due = next_due_;
    out.expiries = expiries_;
    out.coalesced = coalesced_;
    out.port_b = port_b_;
    out.irq_level = line_;
    unhandled.save(out.unhandled);
}

bool Pit8254::valid(const hv_pit_state& in) {
    static_assert(kNever == HV_PIT_NEVER);
    for (const hv_pit_counter_state& c : in.counter)
        if (!PitCounter::valid(c) || c.t0 > in.last_now) return false;
    if (!is_flag(in.irq_level) || (in.port_b & ~kPortBWritable) || !all_zero(in.reserved, sizeof in.reserved) ||
        !Unhandled::valid(in.unhandled))
        return false;
    // Counters 0 and 1 have their gate tied high: never low, so never paused
    // past terminal count and never triggered into modes 1 and 5.
    for (unsigned i = 0; i < 2; ++i) {
        const hv_pit_counter_state& c = in.counter[i];
        const PitMode mode = PitMode(c.mode);
        if (!c.gate || c.fired || (c.running && (mode == PitMode::HardwareOneShot || mode == PitMode::HardwareStrobe)))
            return false;
    }
    // Port 0x61 bit 0 is counter 2's gate once written; before the first
    // write the gate is still at its power-on high with the bit 0.
    if ((in.port_b & kPortBGate2) && !in.counter[2].gate) return false;
    // Every access advanced first: no expiry is left at or before last_now,
    // the next one is the counter's next after last_now, and IRQ0 is at the
    // level OUT rests at (high since an expiry, or as the control word set it).
    PitCounter c0;
    c0.restore(in.counter[0]);
    return in.next_due == c0.event_after(in.last_now) && bool(in.irq_level) == c0.nominal_out(in.last_now);
}

bool Pit8254::restore(const hv_pit_state& in) {
    if (!valid(in)) return false;
    for (unsigned i = 0; i < 3; ++i) ch_[i].restore(in.counter[i]);
    last_now_ = in.last_now;
    next_due_ = in.next_due;
    expiries_ = in.expiries;
    coalesced_ = in.coalesced;
    port_b_ = in.port_b;
    line_ = in.irq_level;
    unhandled.restore(in.unhandled);
    return true;
}

}  // namespace hv::devices
