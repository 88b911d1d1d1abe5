#include "kernel/devices/i8042.h"

namespace hv::devices {

using namespace i8042;

void I8042::update_irqs(bool new_front) {
    const Byte* f = count_ ? &buf_[head_] : nullptr;
    const bool kbd = f && !f->aux && (ram_[0] & kCtrKbdInt);
    const bool aux = f && f->aux && (ram_[0] & kCtrAuxInt);
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

}  // namespace hv::devices
