// The PC's pair of 8259A programmable interrupt controllers: master at
// 0x20/0x21, slave at 0xa0/0xa1 with its INT output on the master's IR2, and
// the chipset's edge/level control registers (ELCR) at 0x4d0/0x4d1.
//
// Devices drive the 16 inputs (set_irq, or the IrqLine from line()); the
// hypervisor's injection path asks pending() and, when the guest can take an
// interrupt, acknowledge() - the INTA cycle - for the vector to inject.
//
// Modelled: the ICW1-ICW4 initialisation (edge/level, single/cascade, ICW4,
// AEOI, vector base), OCW1 masks that read back, OCW2 EOIs (non-specific,
// specific), rotations and set-priority, OCW3 IRR/ISR read select, poll
// mode and special mask mode, fully nested priority with the slave behind
// IR2, spurious IR7 / IR15 at an acknowledge that finds nothing, and the
// ELCR. Not modelled: special fully nested mode (accepted, ignored), the
// 8080/8085 mode (ICW4 without uPM: counted, vectors as 8086), buffered mode.
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

// Bits and fields named after the 8259A datasheet.
namespace i8259 {
inline constexpr uint16_t kMasterCommand = 0x20, kMasterData = 0x21;
inline constexpr uint16_t kSlaveCommand = 0xa0, kSlaveData = 0xa1;
inline constexpr uint16_t kElcrMaster = 0x4d0, kElcrSlave = 0x4d1;
inline constexpr unsigned kCascadeIr = 2;  // the slave's INT drives the master's IR2

// A write to the command port (A0 = 0) with D4 set is ICW1; otherwise D3
// tells OCW3 (set) from OCW2 (clear).
inline constexpr uint8_t kIcw1 = 0x10;
inline constexpr uint8_t kIcw1Ic4 = 0x01;   // ICW4 will follow
inline constexpr uint8_t kIcw1Sngl = 0x02;  // single: no slaves, no ICW3
inline constexpr uint8_t kIcw1Adi = 0x04;   // call address interval (8080 mode only)
inline constexpr uint8_t kIcw1Ltim = 0x08;  // every input level-triggered
inline constexpr uint8_t kIcw2VectorMask = 0xf8;  // T7-T3; the IR number fills the low 3 bits
inline constexpr uint8_t kIcw3SlaveIdMask = 0x07;
inline constexpr uint8_t kIcw4Upm = 0x01;   // 8086/8088 mode
inline constexpr uint8_t kIcw4Aeoi = 0x02;  // automatic EOI at the end of INTA
inline constexpr uint8_t kIcw4Ms = 0x04;    // buffered mode: master
inline constexpr uint8_t kIcw4Buf = 0x08;   // buffered mode
inline constexpr uint8_t kIcw4Sfnm = 0x10;  // special fully nested mode
inline constexpr uint8_t kOcw3 = 0x08;
inline constexpr uint8_t kOcw3Ris = 0x01;   // with RR: read ISR (else IRR)
inline constexpr uint8_t kOcw3Rr = 0x02;    // RIS is valid
inline constexpr uint8_t kOcw3Poll = 0x04;  // the next read is the poll word
inline constexpr uint8_t kOcw3Smm = 0x20;   // with ESMM: special mask mode on (else off)
inline constexpr uint8_t kOcw3Esmm = 0x40;  // SMM is valid
inline constexpr uint8_t kOcw2LevelMask = 0x07;  // L2-L0
inline constexpr uint8_t kPollInterrupt = 0x80;  // poll word: I (a request was there)
inline constexpr uint8_t kSpuriousIr = 7;        // the "default IR7" of an INTA that finds nothing
// ELCR bits that cannot be level-triggered (IRQ0, 1, 2 and 8, 13 are
// ISA-internal); they read as 0.
inline constexpr uint8_t kElcrMasterWritable = 0xf8, kElcrSlaveWritable = 0xde;
}  // namespace i8259

// OCW2's R, SL and EOI bits (D7-D5).
enum class Ocw2 : uint8_t {
    RotateInAeoiClear = 0,
    NonSpecificEoi = 1,
    NoOperation = 2,
    SpecificEoi = 3,
    RotateInAeoiSet = 4,
    RotateOnNonSpecificEoi = 5,
    SetPriority = 6,
    RotateOnSpecificEoi = 7,
};

// One 8259A. Its inputs are levels; the edge-sense logic is inside.
class Pic8259 {
public:
    Pic8259(uint8_t vector_base, uint8_t icw3);

    uint8_t read(bool a0);
    void write(bool a0, uint8_t value);
    uint8_t read_elcr() const { return elcr_; }
    void write_elcr(uint8_t value, uint8_t writable);

    // The input pin's new level. Edge-triggered: a rising edge sets the IRR
    // bit, the input falling clears it (the datasheet's "IR must remain high
    // until the first INTA", else the INTA finds nothing: a default IR7), and
    // a line held high raises one request only. Level-triggered: IRR follows.
    void set_input(unsigned ir, bool high);

    // INT: an unmasked request of higher priority than everything in service.
    bool int_output() const { return serviceable() >= 0; }
    // The INTA cycle: the IR accepted (IRR -> ISR, or not with AEOI), or -1
    // when nothing is serviceable (the caller gives the default IR7 vector).
    int accept();
    uint8_t vector_base() const { return vector_base_; }
    bool cascade_on(unsigned ir) const { return !single_ && (icw3_ & (1u << ir)); }

    uint8_t irr() const { return irr_; }
    uint8_t isr() const { return isr_; }
    uint8_t imr() const { return imr_; }
    bool auto_eoi() const { return aeoi_; }
    bool special_fully_nested() const { return sfnm_; }  // recorded, not modelled
    bool special_mask() const { return special_mask_; }
    bool initialising() const { return expect_ != 0; }
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h). valid(): a state this chip,
    // whose ELCR has the bits elcr_writable, can be in. restore() takes only
    // what valid() accepts, else changes nothing; the input levels are
    // restored as recorded, nothing is driven.
    void save(hv_pic_chip_state& out) const;
    static bool valid(const hv_pic_chip_state& in, uint8_t elcr_writable);
    bool restore(const hv_pic_chip_state& in, uint8_t elcr_writable);

private:
    bool level_triggered(unsigned ir) const { return ltim_ || (elcr_ & (1u << ir)); }
    unsigned priority(unsigned ir) const { return (ir - lowest_ - 1) & 7; }  // 0 = highest
    int highest(uint8_t bits) const;
    int serviceable() const;
    void take(unsigned ir);
    void write_command(uint8_t value);
    void write_data(uint8_t value);
    void ocw2(uint8_t value);

    uint8_t irr_ = 0, isr_ = 0, imr_ = 0xff;
    uint8_t level_ = 0;  // the inputs as last driven
    uint8_t elcr_ = 0;
    uint8_t vector_base_;
    uint8_t icw3_;
    uint8_t lowest_ = 7;  // the IR of lowest priority (rotation moves it)
    uint8_t expect_ = 0;  // the ICW the data port takes next (2, 3, 4), or 0: OCW1
    bool icw4_needed_ = false;
    bool single_ = false, ltim_ = false, aeoi_ = false, sfnm_ = false;
    bool rotate_in_aeoi_ = false, special_mask_ = false;
    bool read_isr_ = false, poll_ = false;
};

// The two chips as a PC wires them.
class Pic8259Pair {
public:
    // Until the guest initialises them, the chips are as a PC BIOS leaves
    // them: master vectors 0x08, slave 0x70, cascade on IR2, every input
    // masked (so nothing reaches a guest that never programmed them).
    Pic8259Pair();
    Pic8259Pair(const Pic8259Pair&) = delete;
    Pic8259Pair& operator=(const Pic8259Pair&) = delete;

    static bool claims(uint16_t port) {
        return port == i8259::kMasterCommand || port == i8259::kMasterData || port == i8259::kSlaveCommand ||
               port == i8259::kSlaveData || port == i8259::kElcrMaster || port == i8259::kElcrSlave;
    }
    uint8_t read(uint16_t port);
    void write(uint16_t port, uint8_t value);

    // Input irq (0-15) at its new level. IRQ2 is the cascade; driving it
    // from outside is counted and ignored.
    void set_irq(unsigned irq, bool high);
    // An IrqLine bound to input irq, for a device's constructor.
    IrqLine line(unsigned irq) { return IrqLine{&Pic8259Pair::line_thunk, this, irq}; }

    // For the injection path. pending(): the master's INT, an unmasked
    // request (possibly the slave's, through IR2) of higher priority than
    // what is in service. acknowledge(): the INTA cycle, returning the vector
    // to inject: IRR -> ISR (nothing with AEOI) on the master and, for IR2,
    // on the slave; base + 7 of the chip that found nothing to give
    // (spurious IRQ7 / IRQ15, no ISR bit set).
    bool pending() const { return master_.int_output(); }
    uint8_t acknowledge();

    const Pic8259& master() const { return master_; }
    const Pic8259& slave() const { return slave_; }
    uint64_t spurious() const { return spurious_; }
    uint64_t acknowledged() const { return acknowledged_; }
    // Everything the two chips and the ELCR did not understand.
    uint64_t unhandled_count() const { return master_.unhandled.count + slave_.unhandled.count + unhandled.count; }
    Unhandled unhandled;  // the pair's own: external drive of IRQ2, bad ports

    // Saved state. restore() refuses (changing nothing) a state either chip
    // could not be in, or a master whose IR2 level is not the slave's INT.
    // It drives nothing: the devices on the inputs keep their own idea of
    // their lines, which LegacyPlatform::restore checks against this one.
    void save(hv_pic_state& out) const;
    static bool valid(const hv_pic_state& in);
    bool restore(const hv_pic_state& in);

private:
    static void line_thunk(void* ctx, unsigned pin, bool high) {
        static_cast<Pic8259Pair*>(ctx)->set_irq(pin, high);
    }
    void cascade();  // the slave's INT onto the master's IR2

    Pic8259 master_, slave_;
    uint64_t spurious_ = 0, acknowledged_ = 0;
};

}  // namespace hv::devices
