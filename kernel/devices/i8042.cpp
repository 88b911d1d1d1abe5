#include "kernel/devices/i8042.h"

namespace hv::devices {

using namespace i8042;

bool I8042::kbd_wanted() const { return count_ && !buf_[head_].aux && (ram_[0] & kCtrKbdInt); }
bool I8042::aux_wanted() const { return count_ && buf_[head_].aux && (ram_[0] & kCtrAuxInt); }

void I8042::update_irqs(bool new_front) {
    const bool kbd = kbd_wanted();
    const bool aux = aux_wanted();
    // A new byte at the front is a new interrupt: the line drops first.
    if (new_front && kbd_line_) kbd_irq_.set_level(kbd_line_ = false);
    if (new_front && aux_line_) aux_irq_.set_level(aux_line_ = false);
    if (kbd != kbd_line_) kbd_irq_.set_level(kbd_line_ = kbd);
    if (aux != aux_line_) aux_irq_.set_level(aux_line_ = aux);
}

void I8042::reply(uint8_t value, bool aux, bool timeout) {
    if (count_ == kBufferSize) {
        unhandled.note(kDataPort, value, false);  // a guest that never reads: the byte is lost
        return;
    }
    buf_[(head_ + count_) % kBufferSize] = Byte{value, aux, timeout};
    ++count_;
    update_irqs(count_ == 1);
}

void I8042::reset(ResetSource source) {
    ++resets_;
    reset_.request(source);
}

uint8_t I8042::read(uint16_t port) {
    if (port == kStatusPort) {
        // Input is taken at once: the input buffer is never full.
        uint8_t s = kStatusUnlocked;
        if (ram_[0] & kCtrSystem) s |= kStatusSystem;
        if (last_write_command_) s |= kStatusCommand;
        if (count_) {
            s |= kStatusOutputFull;
            if (buf_[head_].aux) s |= kStatusAuxData;
            if (buf_[head_].timeout) s |= kStatusTimeout;
        }
        return s;
    }
    if (port != kDataPort) {
        unhandled.note(port, 0, false);
        return 0xff;
    }
    if (!count_) return last_;  // an empty buffer reads as its last byte again
    last_ = buf_[head_].value;
    head_ = (head_ + 1) % kBufferSize;
    --count_;
    update_irqs(true);
    return last_;
}

void I8042::write(uint16_t port, uint8_t value) {
    if (port == kStatusPort) {
        last_write_command_ = true;
        pending_ = 0;  // a new command abandons one still waiting for its byte
        command(value);
        return;
    }
    if (port != kDataPort) {
        unhandled.note(port, value, true);
        return;
    }
    last_write_command_ = false;
    if (pending_) {
        const uint8_t cmd = pending_;
        pending_ = 0;
        parameter(cmd, value);
        return;
    }
    // A byte for the keyboard, and there is none.
    reply(kNoDevice, false, true);
}

void I8042::command(uint8_t cmd) {
    if (cmd >= uint8_t(I8042Command::ReadRam) && cmd < uint8_t(I8042Command::ReadRam) + kRamSize) {
        reply(ram_[cmd & (kRamSize - 1)]);
        return;
    }
    if (cmd >= uint8_t(I8042Command::WriteRam) && cmd < uint8_t(I8042Command::WriteRam) + kRamSize) {
        pending_ = cmd;
        return;
    }
    if (cmd >= uint8_t(I8042Command::PulseFirst)) {
        if (!(cmd & kOutResetInactive)) reset(ResetSource::KeyboardPulse);  // line 0 is the CPU reset
        return;
    }
    switch (I8042Command(cmd)) {
    case I8042Command::DisableAux:
        ram_[0] |= kCtrAuxDisable;
        break;
    case I8042Command::EnableAux:
        ram_[0] &= uint8_t(~kCtrAuxDisable);
        break;
    case I8042Command::TestAux:
    case I8042Command::TestKbd:
        reply(kInterfaceOk);
        break;
    case I8042Command::SelfTest:
        ram_[0] |= kCtrSystem;  // a passed self-test sets the system flag
        reply(kSelfTestPassed);
        break;
    case I8042Command::DisableKbd:
        ram_[0] |= kCtrKbdDisable;
        break;
    case I8042Command::EnableKbd:
        ram_[0] &= uint8_t(~kCtrKbdDisable);
        break;
    case I8042Command::ReadOutputPort: {
        uint8_t v = uint8_t(out_port_ & ~(kOutKbdFull | kOutAuxFull));
        if (count_) v |= buf_[head_].aux ? kOutAuxFull : kOutKbdFull;
        reply(v);
        break;
    }
    case I8042Command::WriteOutputPort:
    case I8042Command::WriteKbdBuffer:
    case I8042Command::WriteAuxBuffer:
    case I8042Command::WriteAux:
        pending_ = cmd;
        break;
    default:
        unhandled.note(kStatusPort, cmd, true);
        break;
    }
}

void I8042::parameter(uint8_t cmd, uint8_t value) {
    if (cmd >= uint8_t(I8042Command::WriteRam) && cmd < uint8_t(I8042Command::WriteRam) + kRamSize) {
        ram_[cmd & (kRamSize - 1)] = value;
        if (cmd == uint8_t(I8042Command::WriteRam)) update_irqs(false);  // the interrupt enables may have changed
        return;
    }
    switch (I8042Command(cmd)) {
    case I8042Command::WriteOutputPort:
        out_port_ = uint8_t(value & ~(kOutKbdFull | kOutAuxFull));
        if (!(value & kOutResetInactive)) reset(ResetSource::KeyboardOutputPort);
        break;
    case I8042Command::WriteKbdBuffer:
        reply(value);
        break;
    case I8042Command::WriteAuxBuffer:
        reply(value, true);
        break;
    case I8042Command::WriteAux:
        reply(kNoDevice, true, true);  // no mouse
        break;
    default:
        break;
    }
}

// The commands that wait for a byte on the data port (command() sets
// pending_ to nothing else).
bool I8042::takes_data(uint8_t cmd) {
    return (cmd >= uint8_t(I8042Command::WriteRam) && cmd < uint8_t(I8042Command::WriteRam) + kRamSize) ||
           cmd == uint8_t(I8042Command::WriteOutputPort) || cmd == uint8_t(I8042Command::WriteKbdBuffer) ||
           cmd == uint8_t(I8042Command::WriteAuxBuffer) || cmd == uint8_t(I8042Command::WriteAux);
}

void I8042::save(hv_i8042_state& out) const {
    out = hv_i8042_state{};
    out.resets = resets_;
    for (unsigned i = 0; i < kRamSize; ++i) out.ram[i] = ram_[i];
    for (unsigned i = 0; i < kBufferSize; ++i) {
        out.out_buffer[i] = buf_[i].value;
        out.out_flags[i] =
            uint8_t((buf_[i].aux ? HV_I8042_BYTE_AUX : 0) | (buf_[i].timeout ? HV_I8042_BYTE_TIMEOUT : 0));
    }
    out.out_head = uint8_t(head_);
    out.out_count = uint8_t(count_);
    out.last_read = last_;
    out.pending_command = pending_;
    out.output_port = out_port_;
    out.last_write_command = last_write_command_;
    out.kbd_irq_level = kbd_line_;
    out.aux_irq_level = aux_line_;
    unhandled.save(out.unhandled);
}

bool I8042::valid(const hv_i8042_state& in) {
    static_assert(HV_I8042_BUFFER_SIZE == kBufferSize && HV_I8042_RAM_SIZE == kRamSize);
    if (!is_flag(in.last_write_command) || !is_flag(in.kbd_irq_level) || !is_flag(in.aux_irq_level) ||
        !Unhandled::valid(in.unhandled))
        return false;
    if (in.out_head >= kBufferSize || in.out_count > kBufferSize) return false;
    for (uint8_t f : in.out_flags)
        if (f & ~(HV_I8042_BYTE_AUX | HV_I8042_BYTE_TIMEOUT)) return false;
    if ((in.pending_command && !takes_data(in.pending_command)) || (in.output_port & (kOutKbdFull | kOutAuxFull)))
        return false;
    // update_irqs() follows every change of the front byte and of the
    // command byte: the lines are what they say.
    I8042 scratch(IrqLine{}, IrqLine{}, ResetLine{});
    scratch.apply(in);
    return scratch.kbd_wanted() == bool(in.kbd_irq_level) && scratch.aux_wanted() == bool(in.aux_irq_level);
}

void I8042::apply(const hv_i8042_state& in) {
    resets_ = in.resets;
    for (unsigned i = 0; i < kRamSize; ++i) ram_[i] = in.ram[i];
    for (unsigned i = 0; i < kBufferSize; ++i)
        buf_[i] = Byte{in.out_buffer[i], bool(in.out_flags[i] & HV_I8042_BYTE_AUX),
                       bool(in.out_flags[i] & HV_I8042_BYTE_TIMEOUT)};
    head_ = in.out_head;
    count_ = in.out_count;
    last_ = in.last_read;
    pending_ = in.pending_command;
    out_port_ = in.output_port;
    last_write_command_ = in.last_write_command;
    kbd_line_ = in.kbd_irq_level;
    aux_line_ = in.aux_irq_level;
    unhandled.restore(in.unhandled);
}

bool I8042::restore(const hv_i8042_state& in) {
    if (!valid(in)) return false;
    apply(in);
    return true;
}

}  // namespace hv::devices
