// The devices wired as a PC: port dispatch as the I/O-exit handler will use
// it, and interrupts from each device reaching the guest as the vectors
// Linux programmed, through the injection path's pending/acknowledge.
#include "kernel/devices/legacy_platform.h"

#include <gtest/gtest.h>

#include "hosttests/devices/wires.h"

namespace hv::devices {
namespace {

using test::ResetProbe;
using test::SinkProbe;

struct Platform : ::testing::Test {
    SinkProbe console;
    ResetProbe reset;
    LegacyPlatform pc{console.sink(), reset.line(), mc146818::kDefaultEpoch, 0};

    void outb(uint16_t port, uint8_t v, uint64_t now = 0) { EXPECT_TRUE(pc.write(port, 1, v, now)); }
    uint8_t inb(uint16_t port, uint64_t now = 0) {
        uint32_t v = 0;
        pc.read(port, 1, now, v);
        return uint8_t(v);
    }
    // init_8259A(0) with vectors 0x30/0x38, then unmask `irqs` (and the cascade).
    void linux_pic(uint16_t irqs) {
        outb(0x21, 0xff);
        outb(0x20, 0x11);
        outb(0x21, 0x30);
        outb(0x21, 0x04);
        outb(0x21, 0x01);
        outb(0xa0, 0x11);
        outb(0xa1, 0x38);
        outb(0xa1, 0x02);
        outb(0xa1, 0x01);
        const uint16_t mask = uint16_t(~irqs & ~(1u << 2));
        outb(0x21, uint8_t(mask));
        outb(0xa1, uint8_t(mask >> 8));
    }
};

TEST_F(Platform, PitTicksReachTheGuestAsIrq0) {
    linux_pic(1u << 0);
    outb(0x43, 0x34, 100);
    outb(0x40, 4773 & 0xff, 100);
    outb(0x40, 4773 >> 8, 100);
    pc.acknowledge_interrupt();  // the edge of programming mode 2 (one early tick)
    outb(0x20, 0x60);
    EXPECT_FALSE(pc.interrupt_pending());
    EXPECT_EQ(pc.next_event(100), 100u + 4773);
    pc.advance(100 + 4773);
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge_interrupt(), 0x30);
    outb(0x20, 0x60, 100 + 4773);  // specific EOI
    pc.advance(100 + 2 * 4773);
    EXPECT_EQ(pc.acknowledge_interrupt(), 0x30);
}

TEST_F(Platform, Com1InterruptsOnIrq4AndPrintsToTheConsole) {
    linux_pic(1u << 4);
    outb(0x3fc, 0x0b);  // DTR | RTS | OUT2
    outb(0x3f9, 0x02);  // THRI
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge_interrupt(), 0x34);
    EXPECT_EQ(inb(0x3fa), 0x02);
    outb(0x3f8, 'o');
    outb(0x3f8, 'k');
    EXPECT_EQ(console.bytes, "ok");
}

TEST_F(Platform, KeyboardControllerInterruptsOnIrq1AndAuxOnIrq12) {
    linux_pic((1u << 1) | (1u << 12));
    outb(0x60, 0xf4);  // a byte for the keyboard: none answers
    EXPECT_EQ(pc.acknowledge_interrupt(), 0x31);
    EXPECT_EQ(inb(0x60), 0xfe);
    outb(0x20, 0x61);
    outb(0x64, 0x60);
    outb(0x60, i8042::kCtrDefault | i8042::kCtrAuxInt);
    outb(0x64, 0xd3);
    outb(0x60, 0xa5);
    EXPECT_EQ(pc.acknowledge_interrupt(), 0x3c);
}

TEST_F(Platform, NoUartBehindCom2) {
    // autoconfig's IER test on 0x2f8 reads a floating bus.
    const uint8_t scratch = inb(0x2f9);
    EXPECT_FALSE(pc.write(0x2f9, 1, 0, 0));  // unclaimed writes are counted, and report false
    EXPECT_EQ(scratch, 0xff);
    EXPECT_EQ(inb(0x2f9) & 0x0f, 0x0f);  // scratch2 != 0: "IER test failed"
    EXPECT_GE(pc.unclaimed.count, 3u);
    EXPECT_EQ(pc.unclaimed.last_port, 0x2f9);
}

TEST_F(Platform, WideAccessesAreSplitIntoBytes) {
    EXPECT_TRUE(pc.write(0x4d0, 2, 0x0e20, 0));  // both ELCRs at once
    EXPECT_EQ(pc.pic.master().read_elcr(), 0x20);
    EXPECT_EQ(pc.pic.slave().read_elcr(), 0x0e);
    uint32_t v = 0;
    EXPECT_TRUE(pc.read(0x4d0, 2, 0, v));
    EXPECT_EQ(v, 0x0e20u);
}

TEST_F(Platform, PciConfigAddressIsNotTheResetRegister) {
    uint32_t v = 0;
    EXPECT_FALSE(pc.write(0xcf8, 4, 0x80000000, 0));
    EXPECT_FALSE(pc.read(0xcf8, 4, 0, v));
    EXPECT_EQ(v, 0xffffffffu);
    EXPECT_FALSE(pc.write(0xcf9, 2, 0x0606, 0));
    EXPECT_TRUE(reset.requests.empty());
    outb(0xcf9, 0x06);
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::ResetControlHard);
}

TEST_F(Platform, KeyboardControllerResetReachesTheResetLine) {
    outb(0x64, 0xfe);
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::KeyboardPulse);
}

TEST_F(Platform, PostCodePortIsTakenSilently) {
    outb(0x80, 0x42);  // io_delay
    EXPECT_EQ(pc.post_code, 0x42);
    EXPECT_EQ(pc.unhandled_count(), 0u);
}

TEST_F(Platform, CmosAndPort61AreThere) {
    outb(0x70, 0x0d);
    EXPECT_EQ(inb(0x71), mc146818::kDValidRamTime);
    outb(0x70, 0x09);
    EXPECT_EQ(inb(0x71), 0x24);  // the default epoch's year
    outb(0x61, 0x01);
    EXPECT_EQ(inb(0x61) & 0x0f, 0x01);
}

TEST_F(Platform, UnsupportedSizesAreRefused) {
    uint32_t v = 0;
    EXPECT_FALSE(pc.read(0x3f8, 3, 0, v));
    EXPECT_FALSE(pc.write(0x3f8, 8, 0, 0));
    EXPECT_EQ(pc.unclaimed.count, 2u);
}

}  // namespace
}  // namespace hv::devices
