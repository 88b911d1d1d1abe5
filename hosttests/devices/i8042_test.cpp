// The 8042 with no keyboard or mouse attached, as Linux's i8042 driver
// (drivers/input/serio/i8042.c) initialises it and looks for its ports, and
// as `reboot` pulses its reset line.
#include "kernel/devices/i8042.h"

#include <gtest/gtest.h>

#include "hosttests/devices/wires.h"

namespace hv::devices {
namespace {

using test::LineProbe;
using test::ResetProbe;
using namespace i8042;

// i8042.h's commands: parameter count in bits 12-15, result count in 8-11.
constexpr uint16_t kCmdReadCtr = 0x0120, kCmdWriteCtr = 0x1060, kCmdSelfTest = 0x01aa;
constexpr uint16_t kCmdKbdTest = 0x01ab, kCmdAuxDisable = 0x00a7, kCmdAuxEnable = 0x00a8;
constexpr uint16_t kCmdAuxTest = 0x01a9, kCmdAuxLoop = 0x11d3, kCmdAuxSend = 0x10d4;

struct Kbc : ::testing::Test {
    LineProbe irq1, irq12;
    ResetProbe reset;
    I8042 kbc{irq1.line(), irq12.line(), reset.line()};

    // __i8042_command: wait for the input buffer, send the command and its
    // parameters, then collect each result when the output buffer fills. A
    // wait that never ends is the driver's timeout.
    int command(uint16_t cmd, uint8_t* param) {
        if (kbc.read(kStatusPort) & kStatusInputFull) return -1;
        kbc.write(kStatusPort, uint8_t(cmd));
        for (unsigned i = 0; i < ((cmd >> 12) & 0xf); ++i) kbc.write(kDataPort, param[i]);
        for (unsigned i = 0; i < ((cmd >> 8) & 0xf); ++i) {
            const uint8_t s = kbc.read(kStatusPort);
            if (!(s & kStatusOutputFull)) return -1;
            if (cmd == kCmdAuxLoop && !(s & kStatusAuxData)) return -1;
            param[i] = kbc.read(kDataPort);
        }
        return 0;
    }
    // i8042_flush: how many bytes were waiting.
    unsigned flush() {
        unsigned n = 0;
        while ((kbc.read(kStatusPort) & kStatusOutputFull) && n < kBufferSize) {
            kbc.read(kDataPort);
            ++n;
        }
        return n;
    }
};

TEST_F(Kbc, SelfTestPassesAndBothInterfacesTestClean) {
    uint8_t p = 0;
    ASSERT_EQ(command(kCmdSelfTest, &p), 0);
    EXPECT_EQ(p, kSelfTestPassed);
    ASSERT_EQ(command(kCmdKbdTest, &p), 0);
    EXPECT_EQ(p, kInterfaceOk);
    ASSERT_EQ(command(kCmdAuxTest, &p), 0);
    EXPECT_EQ(p, kInterfaceOk);
    EXPECT_EQ(kbc.unhandled.count, 0u);
}

TEST_F(Kbc, LinuxControllerInitReadsAStableCommandByteAndWritesIt) {
    EXPECT_EQ(flush(), 0u);  // else "No controller found"
    uint8_t ctr[2] = {};
    ASSERT_EQ(command(kCmdReadCtr, &ctr[0]), 0);
    ASSERT_EQ(command(kCmdReadCtr, &ctr[1]), 0);
    EXPECT_EQ(ctr[0], ctr[1]);
    EXPECT_EQ(ctr[0], kCtrDefault);
    EXPECT_TRUE(kbc.read(kStatusPort) & kStatusUnlocked);  // else "Keylock active"
    uint8_t w = uint8_t((ctr[0] | kCtrKbdDisable) & ~kCtrKbdInt);
    ASSERT_EQ(command(kCmdWriteCtr, &w), 0);
    uint8_t r = 0;
    ASSERT_EQ(command(kCmdReadCtr, &r), 0);
    EXPECT_EQ(r, w);
    EXPECT_EQ(kbc.command_byte(), w);
}

TEST_F(Kbc, LinuxFindsTheAuxPortThroughLoopbackAndIrq12) {
    // i8042_check_aux: loopback, bit assignment test, then IRQ12 delivery.
    uint8_t p = 0x5a;
    ASSERT_EQ(command(kCmdAuxLoop, &p), 0);
    EXPECT_EQ(p, 0x5a);
    ASSERT_EQ(command(kCmdAuxDisable, &p), 0);
    ASSERT_EQ(command(kCmdReadCtr, &p), 0);
    EXPECT_TRUE(p & kCtrAuxDisable);
    ASSERT_EQ(command(kCmdAuxEnable, &p), 0);
    ASSERT_EQ(command(kCmdReadCtr, &p), 0);
    EXPECT_FALSE(p & kCtrAuxDisable);
    uint8_t ctr = uint8_t((kbc.command_byte() & ~kCtrAuxDisable) | kCtrAuxInt);
    ASSERT_EQ(command(kCmdWriteCtr, &ctr), 0);  // i8042_enable_aux_port
    p = 0xa5;
    ASSERT_EQ(command(kCmdAuxLoop & 0xf0ff, &p), 0);  // send only: the IRQ handler reads
    EXPECT_TRUE(irq12.level);
    EXPECT_FALSE(irq1.level);
    EXPECT_EQ(kbc.read(kStatusPort) & (kStatusOutputFull | kStatusAuxData), kStatusOutputFull | kStatusAuxData);
    EXPECT_EQ(kbc.read(kDataPort), 0xa5);
    EXPECT_FALSE(irq12.level);
}

TEST_F(Kbc, NoActiveMultiplexerIsFound) {
    // i8042_set_mux_mode(1): a MUX answers the third loopback byte with its
    // version instead of the byte itself.
    uint8_t p = 0xf0;
    ASSERT_EQ(command(kCmdAuxLoop, &p), 0);
    EXPECT_EQ(p, 0xf0);
    p = 0x56;
    ASSERT_EQ(command(kCmdAuxLoop, &p), 0);
    EXPECT_EQ(p, 0x56);
    p = 0xa4;
    ASSERT_EQ(command(kCmdAuxLoop, &p), 0);
    EXPECT_EQ(p, 0xa4);  // the same byte: not a MUX
}

TEST_F(Kbc, AByteForTheKeyboardFindsNoneAndSaysSoAtOnce) {
    kbc.write(kDataPort, 0xf2);  // atkbd's GETID
    EXPECT_EQ(kbc.read(kStatusPort) & (kStatusOutputFull | kStatusTimeout | kStatusAuxData),
              kStatusOutputFull | kStatusTimeout);
    EXPECT_TRUE(irq1.level);  // the default command byte enables IRQ1
    EXPECT_EQ(kbc.read(kDataPort), kNoDevice);
    EXPECT_FALSE(irq1.level);
    EXPECT_EQ(kbc.read(kStatusPort) & kStatusTimeout, 0);
}

TEST_F(Kbc, AByteForTheMouseFindsNone) {
    uint8_t ctr = kCtrDefault | kCtrAuxInt;
    ASSERT_EQ(command(kCmdWriteCtr, &ctr), 0);
    uint8_t p = 0xff;  // psmouse's reset
    ASSERT_EQ(command(kCmdAuxSend, &p), 0);
    EXPECT_EQ(kbc.read(kStatusPort) & (kStatusOutputFull | kStatusTimeout | kStatusAuxData),
              kStatusOutputFull | kStatusTimeout | kStatusAuxData);
    EXPECT_TRUE(irq12.level);
    EXPECT_EQ(kbc.read(kDataPort), kNoDevice);
}

TEST_F(Kbc, PulseResetCommandResetsTheMachine) {
    kbc.write(kStatusPort, 0xff);  // pulses no line
    EXPECT_TRUE(reset.requests.empty());
    kbc.write(kStatusPort, 0xfe);  // Linux's BOOT_KBD reboot
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::KeyboardPulse);
    kbc.write(kStatusPort, 0xf0);  // every line, reset included
    EXPECT_EQ(reset.requests.size(), 2u);
    EXPECT_EQ(kbc.resets(), 2u);
}

TEST_F(Kbc, OutputPortResetBitIsActiveLow) {
    uint8_t p = 0;
    ASSERT_EQ(command(0x01d0, &p), 0);
    EXPECT_EQ(p, kOutResetInactive | kOutA20);
    kbc.write(kStatusPort, 0xd1);
    kbc.write(kDataPort, kOutResetInactive | kOutA20);
    EXPECT_TRUE(reset.requests.empty());
    kbc.write(kStatusPort, 0xd1);
    kbc.write(kDataPort, kOutA20);
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::KeyboardOutputPort);
}

TEST_F(Kbc, EachBufferedByteIsAFreshEdge) {
    kbc.write(kStatusPort, 0xd2);
    kbc.write(kDataPort, 'a');
    kbc.write(kStatusPort, 0xd2);
    kbc.write(kDataPort, 'b');
    EXPECT_EQ(irq1.rises, 1);
    EXPECT_EQ(kbc.buffered(), 2u);
    EXPECT_EQ(kbc.read(kDataPort), 'a');
    EXPECT_EQ(irq1.rises, 2);
    EXPECT_EQ(kbc.read(kDataPort), 'b');
    EXPECT_FALSE(irq1.level);
    EXPECT_EQ(kbc.read(kDataPort), 'b');  // an empty buffer repeats its last byte
}

TEST_F(Kbc, InterruptsFollowTheCommandByteEnables) {
    uint8_t ctr = kCtrSystem;  // KBDINT and AUXINT clear
    ASSERT_EQ(command(kCmdWriteCtr, &ctr), 0);
    kbc.write(kDataPort, 0xee);
    EXPECT_FALSE(irq1.level);
    ctr = kCtrSystem | kCtrKbdInt;
    kbc.write(kStatusPort, 0x60);
    kbc.write(kDataPort, ctr);  // enabling it with a byte waiting raises the line
    EXPECT_TRUE(irq1.level);
}

TEST_F(Kbc, StatusShowsWhetherTheLastWriteWasACommand) {
    kbc.write(kStatusPort, 0xd2);
    EXPECT_TRUE(kbc.read(kStatusPort) & kStatusCommand);
    kbc.write(kDataPort, 0x00);
    EXPECT_FALSE(kbc.read(kStatusPort) & kStatusCommand);
    EXPECT_TRUE(kbc.read(kStatusPort) & kStatusSystem);
}

TEST_F(Kbc, CommandsItDoesNotKnowAreCounted) {
    kbc.write(kStatusPort, 0xc0);  // read input port
    kbc.write(kStatusPort, 0xe0);  // read test inputs
    EXPECT_EQ(kbc.unhandled.count, 2u);
    EXPECT_EQ(kbc.unhandled.last_value, 0xe0);
    EXPECT_FALSE(kbc.read(kStatusPort) & kStatusOutputFull);
}

}  // namespace
}  // namespace hv::devices
