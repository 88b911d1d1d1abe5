// Port 0xcf9 as Linux's reboot=pci (BOOT_CF9_FORCE) writes it.
#include "kernel/devices/reset_control.h"

#include <gtest/gtest.h>

#include "hosttests/devices/wires.h"

namespace hv::devices {
namespace {

using test::ResetProbe;
using namespace reset_control;

TEST(ResetControl, LinuxCf9SequenceIsOneHardReset) {
    ResetProbe reset;
    ResetControl rc(reset.line());
    const uint8_t code = 0x0e;  // cold reboot: SYS_RST | RST_CPU | FULL_RST
    const uint8_t cf9 = uint8_t(rc.read() & ~code);
    rc.write(cf9 | kSysRst);  // request a hard reset
    EXPECT_TRUE(reset.requests.empty());
    EXPECT_EQ(rc.read(), kSysRst);
    rc.write(cf9 | code);  // do it
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::ResetControlHard);
    EXPECT_EQ(rc.read(), 0);  // the reset cleared the register
}

TEST(ResetControl, RstCpuWithoutSysRstIsASoftReset) {
    ResetProbe reset;
    ResetControl rc(reset.line());
    rc.write(kRstCpu);
    ASSERT_EQ(reset.requests.size(), 1u);
    EXPECT_EQ(reset.requests[0], ResetSource::ResetControlSoft);
}

TEST(ResetControl, OnlyARisingRstCpuResets) {
    ResetProbe reset;
    ResetControl rc(reset.line());
    rc.write(kSysRst);
    rc.write(kFullRst);
    EXPECT_TRUE(reset.requests.empty());
    rc.write(kSysRst | kRstCpu);
    rc.write(kSysRst | kRstCpu);  // the register was cleared by the first: a new rise
    EXPECT_EQ(reset.requests.size(), 2u);
    EXPECT_EQ(rc.resets(), 2u);
    rc.write(0xf1);  // reserved bits
    EXPECT_EQ(rc.unhandled.count, 1u);
}

}  // namespace
}  // namespace hv::devices
