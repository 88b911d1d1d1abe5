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

}  // namespace hv::devices
