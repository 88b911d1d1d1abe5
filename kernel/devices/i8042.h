// The 8042 keyboard controller (data 0x60, status/command 0x64) of a PC with
// nothing plugged into its keyboard and mouse ports.
//
// The controller itself answers: self-test (0xaa -> 0x55), the command byte
// (0x20 read, 0x60 write, and the rest of its 32 bytes of RAM), disable and
// enable of either port (0xad/0xae, 0xa7/0xa8: the command byte's disable
// bits follow, as Linux's bit-assignment test checks), the interface tests
// (0xab, 0xa9 -> 0x00: no error), the output port (0xd0/0xd1), writes into
// its own output buffer as if from the keyboard or the mouse (0xd2/0xd3: the
// AUX loopback Linux uses to find the AUX port and test IRQ12), and the
// output-line pulses (0xf0-0xff). A reset - command 0xfe, any pulse of
// output line 0, or the output port written with bit 0 (reset, active low)
// clear - pulls the ResetLine.
//
// A byte for a device (a data-port write without a pending command goes to
// the keyboard, 0xd4 forwards to the mouse) finds none: the controller
// answers 0xfe with the timeout bit in the status, from that port, so a
// driver's probe fails at once instead of waiting out its timeouts.
//
// Output: a 16-byte buffer (Linux's flush reads at most 16 bytes). IRQ1 is
// high while the byte at the front came from the keyboard side (or is a
// controller reply) and the command byte enables it; IRQ12 likewise for the
// mouse side. Each new byte at the front is a new edge.
//
// Not modelled: a keyboard or mouse, scancode translation, the input port
// (0xc0) and test inputs (0xe0), A20 gating (the output port's bit 1 is kept,
// A20 is always on), password and multiplexing commands (counted).
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

namespace i8042 {
inline constexpr uint16_t kDataPort = 0x60, kStatusPort = 0x64;
inline constexpr unsigned kKbdIrq = 1, kAuxIrq = 12;
// Status register.
inline constexpr uint8_t kStatusOutputFull = 0x01, kStatusInputFull = 0x02, kStatusSystem = 0x04;
inline constexpr uint8_t kStatusCommand = 0x08;   // the last write was to 0x64
inline constexpr uint8_t kStatusUnlocked = 0x10;  // keyboard not inhibited by the key lock
inline constexpr uint8_t kStatusAuxData = 0x20, kStatusTimeout = 0x40, kStatusParity = 0x80;
// Command byte (controller RAM byte 0).
inline constexpr uint8_t kCtrKbdInt = 0x01, kCtrAuxInt = 0x02, kCtrSystem = 0x04;
inline constexpr uint8_t kCtrKbdDisable = 0x10, kCtrAuxDisable = 0x20, kCtrTranslate = 0x40;
inline constexpr uint8_t kCtrDefault = kCtrKbdInt | kCtrSystem | kCtrTranslate;  // as firmware leaves it
// Output port.
inline constexpr uint8_t kOutResetInactive = 0x01, kOutA20 = 0x02, kOutKbdFull = 0x10, kOutAuxFull = 0x20;
// Replies.
inline constexpr uint8_t kSelfTestPassed = 0x55, kInterfaceOk = 0x00, kNoDevice = 0xfe;
inline constexpr unsigned kBufferSize = 16, kRamSize = 32;
}  // namespace i8042

enum class I8042Command : uint8_t {
    ReadRam = 0x20,  // 0x20-0x3f: RAM byte (cmd & 0x1f); 0x20 is the command byte
    WriteRam = 0x60, // 0x60-0x7f
    DisableAux = 0xa7,
    EnableAux = 0xa8,
    TestAux = 0xa9,
    SelfTest = 0xaa,
    TestKbd = 0xab,
    DisableKbd = 0xad,
    EnableKbd = 0xae,
    ReadOutputPort = 0xd0,
    WriteOutputPort = 0xd1,
    WriteKbdBuffer = 0xd2,
    WriteAuxBuffer = 0xd3,
    WriteAux = 0xd4,
    PulseFirst = 0xf0,  // 0xf0-0xff: pulse the output lines whose bit (3-0) is 0
    PulseReset = 0xfe,
};

class I8042 {
public:
    I8042(IrqLine kbd_irq, IrqLine aux_irq, ResetLine reset) : kbd_irq_(kbd_irq), aux_irq_(aux_irq), reset_(reset) {
        ram_[0] = i8042::kCtrDefault;
    }
    I8042(const I8042&) = delete;
    I8042& operator=(const I8042&) = delete;

    static bool claims(uint16_t port) { return port == i8042::kDataPort || port == i8042::kStatusPort; }
    uint8_t read(uint16_t port);
    void write(uint16_t port, uint8_t value);

    uint8_t command_byte() const { return ram_[0]; }
    uint8_t output_port() const { return out_port_; }
    uint64_t resets() const { return resets_; }
    unsigned buffered() const { return count_; }
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h). restore() refuses (changing
    // nothing) a buffer position or length beyond the buffer, byte flags
    // other than AUX and timeout, a pending command that takes no data byte,
    // output port bits 4-5 set, or IRQ levels other than the ones the byte
    // at the front and the command byte imply. It pulls no reset and drives
    // no line: IRQ1 and IRQ12 are taken to be at the recorded levels, as the
    // 8259A's record must say too.
    void save(hv_i8042_state& out) const;
    static bool valid(const hv_i8042_state& in);
    bool restore(const hv_i8042_state& in);

private:
    struct Byte {
        uint8_t value;
        bool aux, timeout;
    };
    void apply(const hv_i8042_state& in);
    bool kbd_wanted() const;  // the levels update_irqs() drives the lines to
    bool aux_wanted() const;
    static bool takes_data(uint8_t cmd);
    void reply(uint8_t value, bool aux = false, bool timeout = false);
    void command(uint8_t cmd);
    void parameter(uint8_t cmd, uint8_t value);
    void update_irqs(bool new_front);
    void reset(ResetSource source);

    IrqLine kbd_irq_, aux_irq_;
    ResetLine reset_;
    uint8_t ram_[i8042::kRamSize] = {};
    uint8_t out_port_ = i8042::kOutResetInactive | i8042::kOutA20;
    Byte buf_[i8042::kBufferSize] = {};
    unsigned head_ = 0, count_ = 0;
    uint8_t last_ = 0;
    uint8_t pending_ = 0;  // a command waiting for its data byte, or 0
    bool last_write_command_ = false;
    bool kbd_line_ = false, aux_line_ = false;
    uint64_t resets_ = 0;
};

}  // namespace hv::devices
