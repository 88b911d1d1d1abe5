#include "kernel/devices/legacy_platform.h"

namespace hv::devices {

LegacyPlatform::LegacyPlatform(ByteSink console, ResetLine reset, uint64_t unix_seconds, uint64_t now)
    : pit(pic.line(kPitIrq)),
      com1(pic.line(uart16550::kCom1Irq), console),
      cmos(unix_seconds, now),
      kbc(pic.line(i8042::kKbdIrq), pic.line(i8042::kAuxIrq), reset),
      reset_control(reset) {}

bool LegacyPlatform::claims(uint16_t port, unsigned size) const {
    if (ResetControl::claims(port)) return size == 1;  // 0xcf8-0xcfb as a dword is PCI's
    return Pic8259Pair::claims(port) || Pit8254::claims(port) || CmosRtc::claims(port) || I8042::claims(port) ||
           (port >= uart16550::kCom1Base && port < uart16550::kCom1Base + uart16550::kRegisterCount) ||
           port == kPostCodePort;
}

uint8_t LegacyPlatform::read_byte(uint16_t port, uint64_t now) {
    if (Pic8259Pair::claims(port)) return pic.read(port);
    if (Pit8254::claims(port)) return pit.read(port, now);
    if (CmosRtc::claims(port)) return cmos.read(port, now);
    if (I8042::claims(port)) return kbc.read(port);
    if (ResetControl::claims(port)) return reset_control.read();
    if (port >= uart16550::kCom1Base && port < uart16550::kCom1Base + uart16550::kRegisterCount)
        return com1.read(uint8_t(port - uart16550::kCom1Base));
    return 0xff;  // the POST code port, and the unclaimed bytes of a wide access
}

void LegacyPlatform::write_byte(uint16_t port, uint8_t value, uint64_t now) {
    if (Pic8259Pair::claims(port)) return pic.write(port, value);
    if (Pit8254::claims(port)) return pit.write(port, value, now);
    if (CmosRtc::claims(port)) return cmos.write(port, value, now);
    if (I8042::claims(port)) return kbc.write(port, value);
    if (ResetControl::claims(port)) return reset_control.write(value);
    if (port >= uart16550::kCom1Base && port < uart16550::kCom1Base + uart16550::kRegisterCount)
        return com1.write(uint8_t(port - uart16550::kCom1Base), value);
    if (port == kPostCodePort) post_code = value;
}

bool LegacyPlatform::read(uint16_t port, unsigned size, uint64_t now, uint32_t& value) {
    if ((size != 1 && size != 2 && size != 4) || !claims(port, size)) {
        unclaimed.note(port, 0, false);
        value = size >= 4 ? ~0u : (1u << (8 * size)) - 1;
        return false;
    }
    value = 0;
    for (unsigned i = 0; i < size; ++i) {
        const uint16_t p = uint16_t(port + i);
        const uint8_t b = claims(p, 1) ? read_byte(p, now) : 0xff;
        value |= uint32_t(b) << (8 * i);
    }
    return true;
}

bool LegacyPlatform::write(uint16_t port, unsigned size, uint32_t value, uint64_t now) {
    if ((size != 1 && size != 2 && size != 4) || !claims(port, size)) {
        unclaimed.note(port, uint8_t(value), true);
        return false;
    }
    for (unsigned i = 0; i < size; ++i) {
        const uint16_t p = uint16_t(port + i);
        if (claims(p, 1)) write_byte(p, uint8_t(value >> (8 * i)), now);
    }
    return true;
}

uint64_t LegacyPlatform::unhandled_count() const {
    return pic.unhandled_count() + pit.unhandled_count() + com1.unhandled.count + cmos.unhandled.count +
           kbc.unhandled.count + reset_control.unhandled.count + unclaimed.count;
}

void LegacyPlatform::save(hv_platform_state& out) const {
    out = hv_platform_state{};
    out.version = HV_PLATFORM_STATE_VERSION;
    out.size = sizeof(hv_platform_state);
    pic.save(out.pic);
    pit.save(out.pit);
    com1.save(out.com1);
    cmos.save(out.cmos);
    kbc.save(out.kbc);
    reset_control.save(out.reset_control);
    out.post_code = post_code;
    unclaimed.save(out.unclaimed);
}

bool LegacyPlatform::valid(const hv_platform_state& in) {
    if (in.version != HV_PLATFORM_STATE_VERSION || in.size != sizeof(hv_platform_state)) return false;
    if (!Pic8259Pair::valid(in.pic) || !Pit8254::valid(in.pit) || !Uart16550::valid(in.com1) ||
        !CmosRtc::valid(in.cmos) || !I8042::valid(in.kbc) || !ResetControl::valid(in.reset_control))
        return false;
    if (!all_zero(in.reserved, sizeof in.reserved) || !Unhandled::valid(in.unclaimed)) return false;
    // The wiring: a device changes its line only through the 8259A input,
    // so each input is at the level its device last drove; nothing drives
    // the others (IRQ2 is the cascade, which Pic8259Pair::valid checks).
    const unsigned driven = unsigned(in.pit.irq_level) << kPitIrq | unsigned(in.kbc.kbd_irq_level) << i8042::kKbdIrq |
                            unsigned(in.com1.irq_level) << uart16550::kCom1Irq |
                            unsigned(in.kbc.aux_irq_level) << i8042::kAuxIrq;
    const unsigned inputs = (unsigned(in.pic.slave.input_level) << 8 | in.pic.master.input_level) &
                            ~(1u << i8259::kCascadeIr);
    return inputs == driven;
}

bool LegacyPlatform::restore(const hv_platform_state& in) {
    if (!valid(in)) return false;
    // Each restore below checks its part again and takes it.
    pic.restore(in.pic);
    pit.restore(in.pit);
    com1.restore(in.com1);
    cmos.restore(in.cmos);
    kbc.restore(in.kbc);
    reset_control.restore(in.reset_control);
    post_code = in.post_code;
    unclaimed.restore(in.unclaimed);
    return true;
}

}  // namespace hv::devices
