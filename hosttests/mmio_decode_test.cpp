// The MMIO instruction decoder: the forms compilers emit for a volatile load
// or store through a pointer, and everything else refused rather than
// guessed (the guest is stopped with the bytes in the reason).
#include "kernel/mmio.h"

#include <gtest/gtest.h>

#include <vector>

namespace hv {
namespace {

struct Case {
  std::vector<uint8_t> bytes;
  bool store;
  unsigned reg, size, length;
};

class MmioDecodes : public ::testing::TestWithParam<Case> {};

TEST_P(MmioDecodes, RegisterSizeDirectionAndLength) {
  const Case& c = GetParam();
  MmioInsn insn{};
  ASSERT_TRUE(decode_mmio_insn(c.bytes.data(), unsigned(c.bytes.size()), insn));
  EXPECT_EQ(insn.store, c.store);
  EXPECT_EQ(insn.reg, c.reg);
  EXPECT_EQ(insn.size, c.size);
  EXPECT_EQ(insn.length, c.length);
}

INSTANTIATE_TEST_SUITE_P(
    Mmio, MmioDecodes,
    ::testing::Values(Case{{0x48, 0x89, 0x03}, true, 0, 8, 3},                                // mov [rbx], rax
                      Case{{0x89, 0x03}, true, 0, 4, 2},                                      // mov [rbx], eax
                      Case{{0x48, 0x8b, 0x43, 0x08}, false, 0, 8, 4},                         // mov rax, [rbx+8]
                      Case{{0x4c, 0x89, 0x04, 0x24}, true, 8, 8, 4},                          // mov [rsp], r8
                      Case{{0x48, 0x89, 0x05, 1, 2, 3, 4}, true, 0, 8, 7},                    // mov [rip+d32], rax
                      Case{{0x48, 0x8b, 0x84, 0x24, 0, 1, 0, 0}, false, 0, 8, 8},             // mov rax, [rsp+0x100]
                      Case{{0x44, 0x8b, 0x3c, 0x25, 0, 0, 0, 0xc0}, false, 15, 4, 8},         // mov r15d, [0xc0000000]
                      Case{{0x48, 0x89, 0x03, 0x90, 0x90}, true, 0, 8, 3}));                  // trailing bytes ignored

class MmioRefuses : public ::testing::TestWithParam<std::vector<uint8_t>> {};

TEST_P(MmioRefuses, AnythingElse) {
  MmioInsn insn{};
  const std::vector<uint8_t>& b = GetParam();
  EXPECT_FALSE(decode_mmio_insn(b.data(), unsigned(b.size()), insn));
}

INSTANTIATE_TEST_SUITE_P(Mmio, MmioRefuses,
                         ::testing::Values(std::vector<uint8_t>{0x48, 0x89, 0xc3},        // register operand
                                           std::vector<uint8_t>{0x66, 0x89, 0x03},        // 16-bit prefix
                                           std::vector<uint8_t>{0x48, 0xc7, 0x03, 1, 0, 0, 0},  // mov imm
                                           std::vector<uint8_t>{0x48, 0x89},              // cut short
                                           std::vector<uint8_t>{0x48, 0x8b, 0x84, 0x24, 0},  // cut in its disp
                                           std::vector<uint8_t>{}));

TEST(MmioDevice, RegistersKeepWhatIsWrittenAndCountAccesses) {
  MmioRegion r{0x1000, {}, 0};
  r.write(8, 0x1122334455667788ull, 8);
  EXPECT_EQ(r.read(8), 0x1122334455667788ull);
  r.write(8, 0xffffffffaabbccddull, 4);
  EXPECT_EQ(r.read(8), 0xaabbccddull);  // a 32-bit write zero-extends
  r.write(9, 1, 8);                     // unaligned: ignored
  r.write(HV_MMIO_REGS * 8, 1, 8);      // past the registers: ignored
  EXPECT_EQ(r.read(HV_MMIO_REGS * 8 + 8), 0u);
  EXPECT_EQ(r.read(HV_MMIO_ACCESSES), 8u);
}

}  // namespace
}  // namespace hv
