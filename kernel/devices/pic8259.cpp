#include "kernel/devices/pic8259.h"

namespace hv::devices {

using namespace i8259;

Pic8259::Pic8259(uint8_t vector_base, uint8_t icw3) : vector_base_(vector_base), icw3_(icw3) {}

// The bit of `bits` with the highest priority under the current rotation.
int Pic8259::highest(uint8_t bits) const {
    for (unsigned p = 0; p < 8; ++p) {
        unsigned ir = (lowest_ + 1 + p) & 7;
        if (bits & (1u << ir)) return int(ir);
    }
    return -1;
}

// Fully nested mode: a request is serviced only if its priority is above
// every level in service. In special mask mode a level in service that is
// also masked blocks nothing, so the handler of that level can let every
// other one through (that is what the mode is for).
int Pic8259::serviceable() const {
    int req = highest(irr_ & ~imr_);
    if (req < 0) return -1;
    uint8_t blocking = special_mask_ ? uint8_t(isr_ & ~imr_) : isr_;
    int top = highest(blocking);
    if (top >= 0 && priority(unsigned(top)) <= priority(unsigned(req))) return -1;
    return req;
}

// What the first INTA does to the chosen level: the edge latch is consumed
// (a level-triggered IRR bit stays: the line is still high), and the level
// goes in service unless AEOI ends it at once.
void Pic8259::take(unsigned ir) {
    uint8_t m = uint8_t(1u << ir);
    if (!level_triggered(ir)) irr_ &= uint8_t(~m);
    if (aeoi_) {
        if (rotate_in_aeoi_) lowest_ = uint8_t(ir);
    } else {
        isr_ |= m;
    }
}

int Pic8259::accept() {
    int ir = serviceable();
    if (ir >= 0) take(unsigned(ir));
    return ir;
}

void Pic8259::set_input(unsigned ir, bool high) {
    uint8_t m = uint8_t(1u << (ir & 7));
    bool was = level_ & m;
    if (high) {
        level_ |= m;
        if (!was || level_triggered(ir)) irr_ |= m;
    } else {
        level_ &= uint8_t(~m);
        irr_ &= uint8_t(~m);
    }
}

void Pic8259::write_elcr(uint8_t value, uint8_t writable) {
    elcr_ = value & writable;
    // An input switched to level-triggered reports its level at once.
    irr_ |= uint8_t(elcr_ & level_);
}

uint8_t Pic8259::read(bool a0) {
    if (poll_) {
        // The poll word: the read is the INTA (the level goes in service).
        poll_ = false;
        int ir = accept();
        return ir < 0 ? 0 : uint8_t(kPollInterrupt | ir);
    }
    if (a0) return imr_;
    return read_isr_ ? isr_ : irr_;
}

void Pic8259::write(bool a0, uint8_t value) {
    if (a0)
        write_data(value);
    else
        write_command(value);
}

void Pic8259::write_command(uint8_t value) {
    if (value & kIcw1) {
        // ICW1 starts the sequence and resets the chip: masks and ISR
        // cleared, IR7 lowest, special mask mode off, IRR selected for reads.
        // The edge-sense latches are reset: an input already high must fall
        // and rise again before it requests.
        expect_ = 2;
        icw4_needed_ = value & kIcw1Ic4;
        single_ = value & kIcw1Sngl;
        ltim_ = value & kIcw1Ltim;
        imr_ = 0;
        isr_ = 0;
        irr_ = uint8_t(level_ & elcr_);
        lowest_ = 7;
        special_mask_ = false;
        read_isr_ = false;
        poll_ = false;
        rotate_in_aeoi_ = false;
        aeoi_ = false;
        sfnm_ = false;
        if (ltim_) irr_ = level_;
        // Without ICW4 the chip is in 8080/8085 mode, which no PC uses.
        if (!icw4_needed_) unhandled.note(0, value, true);
        return;
    }
    if (value & kOcw3) {
        if (value & kOcw3Poll) poll_ = true;
        if (value & kOcw3Rr) read_isr_ = value & kOcw3Ris;
        if (value & kOcw3Esmm) special_mask_ = value & kOcw3Smm;
        // D7 must be 0 in OCW3.
        if (value & 0x80) unhandled.note(0, value, true);
        return;
    }
    ocw2(value);
}

void Pic8259::ocw2(uint8_t value) {
    unsigned level = value & kOcw2LevelMask;
    switch (Ocw2(value >> 5)) {
    case Ocw2::NonSpecificEoi:
    case Ocw2::RotateOnNonSpecificEoi: {
        // Ends the highest-priority level in service: under fully nested
        // mode, the one whose handler is running.
        int ir = highest(isr_);
        if (ir < 0) break;
        isr_ &= uint8_t(~(1u << ir));
        if (Ocw2(value >> 5) == Ocw2::RotateOnNonSpecificEoi) lowest_ = uint8_t(ir);
        break;
    }
    case Ocw2::SpecificEoi:
        isr_ &= uint8_t(~(1u << level));
        break;
    case Ocw2::RotateOnSpecificEoi:
        isr_ &= uint8_t(~(1u << level));
        lowest_ = uint8_t(level);
        break;
    case Ocw2::SetPriority:
        lowest_ = uint8_t(level);
        break;
    case Ocw2::RotateInAeoiSet:
        rotate_in_aeoi_ = true;
        break;
    case Ocw2::RotateInAeoiClear:
        rotate_in_aeoi_ = false;
        break;
    case Ocw2::NoOperation:
        break;
    }
}

void Pic8259::write_data(uint8_t value) {
    switch (expect_) {
    case 2:
        vector_base_ = value & kIcw2VectorMask;
        expect_ = single_ ? (icw4_needed_ ? 4 : 0) : 3;
        return;
    case 3:
        icw3_ = value;
        expect_ = icw4_needed_ ? 4 : 0;
        return;
    case 4:
        aeoi_ = value & kIcw4Aeoi;
        sfnm_ = value & kIcw4Sfnm;
        if (!(value & kIcw4Upm)) unhandled.note(1, value, true);
        expect_ = 0;
        return;
    default:
        imr_ = value;  // OCW1
        return;
    }
}

void Pic8259::save(hv_pic_chip_state& out) const {
    out = hv_pic_chip_state{};
    out.irr = irr_;
    out.isr = isr_;
    out.imr = imr_;
    out.input_level = level_;
    out.elcr = elcr_;
    out.vector_base = vector_base_;
    out.icw3 = icw3_;
    out.lowest_priority = lowest_;
    out.init_step = expect_;
    out.icw4_needed = icw4_needed_;
    out.single = single_;
    out.ltim = ltim_;
    out.aeoi = aeoi_;
    out.sfnm = sfnm_;
    out.rotate_in_aeoi = rotate_in_aeoi_;
    out.special_mask = special_mask_;
    out.read_isr = read_isr_;
    out.poll = poll_;
    unhandled.save(out.unhandled);
}

bool Pic8259::valid(const hv_pic_chip_state& in, uint8_t elcr_writable) {
    const uint8_t flags[] = {in.icw4_needed,    in.single,       in.ltim,     in.aeoi, in.sfnm,
                             in.rotate_in_aeoi, in.special_mask, in.read_isr, in.poll};
    for (uint8_t f : flags)
        if (!is_flag(f)) return false;
    if (!all_zero(in.reserved, sizeof in.reserved) || !Unhandled::valid(in.unhandled)) return false;
    if (in.lowest_priority > 7 || (in.vector_base & ~kIcw2VectorMask) || (in.elcr & ~elcr_writable)) return false;
    // ICW3 comes only in cascade mode, ICW4 only when ICW1 asked for it.
    switch (in.init_step) {
    case 0:
    case 2:
        break;
    case 3:
        if (in.single) return false;
        break;
    case 4:
        if (!in.icw4_needed) return false;
        break;
    default:
        return false;
    }
    // IRR is set only where the input is high (a falling input clears its
    // bit), and a level-triggered input's bit is its level.
    const uint8_t level_triggered = in.ltim ? 0xff : in.elcr;
    if ((in.irr & ~in.input_level) || ((in.irr ^ in.input_level) & level_triggered)) return false;
    return true;
}

bool Pic8259::restore(const hv_pic_chip_state& in, uint8_t elcr_writable) {
    if (!valid(in, elcr_writable)) return false;
    irr_ = in.irr;
    isr_ = in.isr;
    imr_ = in.imr;
    level_ = in.input_level;
    elcr_ = in.elcr;
    vector_base_ = in.vector_base;
    icw3_ = in.icw3;
    lowest_ = in.lowest_priority;
    expect_ = in.init_step;
    icw4_needed_ = in.icw4_needed;
    single_ = in.single;
    ltim_ = in.ltim;
    aeoi_ = in.aeoi;
    sfnm_ = in.sfnm;
    rotate_in_aeoi_ = in.rotate_in_aeoi;
    special_mask_ = in.special_mask;
    read_isr_ = in.read_isr;
    poll_ = in.poll;
    unhandled.restore(in.unhandled);
    return true;
}

Pic8259Pair::Pic8259Pair() : master_(0x08, 1u << kCascadeIr), slave_(0x70, kCascadeIr) {}

// The slave's INT is a level on the master's (edge-triggered) IR2.
void Pic8259Pair::cascade() { master_.set_input(kCascadeIr, slave_.int_output()); }

void Pic8259Pair::set_irq(unsigned irq, bool high) {
    if (irq >= 16 || irq == kCascadeIr) {
        unhandled.note(uint16_t(irq), high, true);
        return;
    }
    if (irq < 8) {
        master_.set_input(irq, high);
    } else {
        slave_.set_input(irq - 8, high);
        cascade();
    }
}

uint8_t Pic8259Pair::read(uint16_t port) {
    uint8_t v;
    switch (port) {
    case kMasterCommand:
    case kMasterData:
        return master_.read(port & 1);
    case kSlaveCommand:
    case kSlaveData:
        v = slave_.read(port & 1);  // a poll read is an INTA: the slave's INT may drop
        cascade();
        return v;
    case kElcrMaster:
        return master_.read_elcr();
    case kElcrSlave:
        return slave_.read_elcr();
    default:
        unhandled.note(port, 0, false);
        return 0xff;
    }
}

void Pic8259Pair::write(uint16_t port, uint8_t value) {
    switch (port) {
    case kMasterCommand:
    case kMasterData:
        master_.write(port & 1, value);
        break;
    case kSlaveCommand:
    case kSlaveData:
        slave_.write(port & 1, value);
        cascade();
        break;
    case kElcrMaster:
        master_.write_elcr(value, kElcrMasterWritable);
        break;
    case kElcrSlave:
        slave_.write_elcr(value, kElcrSlaveWritable);
        cascade();
        break;
    default:
        unhandled.note(port, value, true);
        break;
    }
}

uint8_t Pic8259Pair::acknowledge() {
    ++acknowledged_;
    int ir = master_.accept();
    if (ir < 0) {
        ++spurious_;
        return uint8_t(master_.vector_base() + kSpuriousIr);
    }
    if (!master_.cascade_on(unsigned(ir))) return uint8_t(master_.vector_base() + ir);
    // The master put the cascade address on the bus: the slave answers the
    // second INTA. Its INT drops during the cycle, so a request it still
    // has afterwards is a new edge on IR2.
    int sir = slave_.accept();
    master_.set_input(kCascadeIr, false);
    cascade();
    if (sir < 0) {
        ++spurious_;
        return uint8_t(slave_.vector_base() + kSpuriousIr);
    }
    return uint8_t(slave_.vector_base() + sir);
}

void Pic8259Pair::save(hv_pic_state& out) const {
    out = hv_pic_state{};
    master_.save(out.master);
    slave_.save(out.slave);
    out.acknowledged = acknowledged_;
    out.spurious = spurious_;
    unhandled.save(out.unhandled);
}

bool Pic8259Pair::valid(const hv_pic_state& in) {
    if (!Pic8259::valid(in.master, kElcrMasterWritable) || !Pic8259::valid(in.slave, kElcrSlaveWritable) ||
        !Unhandled::valid(in.unhandled))
        return false;
    // cascade() keeps the master's IR2 at the slave's INT after every change
    // to the slave. The slave's INT is computed on a scratch chip that holds
    // the record (valid, so restore takes it).
    Pic8259 slave(0, 0);
    slave.restore(in.slave, kElcrSlaveWritable);
    return bool(in.master.input_level & (1u << kCascadeIr)) == slave.int_output();
}

bool Pic8259Pair::restore(const hv_pic_state& in) {
    if (!valid(in)) return false;
    master_.restore(in.master, kElcrMasterWritable);
    slave_.restore(in.slave, kElcrSlaveWritable);
    acknowledged_ = in.acknowledged;
    spurious_ = in.spurious;
    unhandled.restore(in.unhandled);
    return true;
}

}  // namespace hv::devices
