// The MMIO instruction decoder: the forms compilers emit for a volatile load
// or store through a pointer, and everything else refused rather than
// guessed (the guest is stopped with the bytes in the reason).
#include "kernel/mmio.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// A guest whose linear pages 1 and 2 map to frames 5 and 3: an instruction
// that straddles their boundary continues in a frame that does not follow.
struct TwoPages {
  std::vector<uint8_t> memory = std::vector<uint8_t>(0x6000, 0xcc);
  bool second_mapped = true;
  bool translate(uint64_t la, uint64_t& gpa) const {
    if (la >> 12 == 1) return gpa = 0x5000 + (la & 0xfff), true;
    if (la >> 12 == 2 && second_mapped) return gpa = 0x3000 + (la & 0xfff), true;
    return false;
  }
  bool read(uint64_t gpa, void* dst, uint64_t n) const {
    if (gpa + n > memory.size()) return false;
    std::copy_n(memory.begin() + long(gpa), n, static_cast<uint8_t*>(dst));
    return true;
  }
  unsigned fetch(uint64_t rip, uint8_t* out) const {
    return fetch_insn(
        rip, out, 15, [this](uint64_t la, uint64_t& gpa) { return translate(la, gpa); },
        [this](uint64_t gpa, void* dst, uint64_t n) { return read(gpa, dst, n); });
  }
};

TEST(MmioFetch, InstructionAcrossAPageBoundaryComesFromBothFrames) {
  for (unsigned split = 1; split <= 2; ++split) {
    TwoPages g;
    const uint8_t insn[] = {0x48, 0x89, 0x03};  // mov [rbx], rax
    for (unsigned i = 0; i < 3; ++i) g.memory[i < split ? 0x6000 - split + i : 0x3000 + i - split] = insn[i];
    uint8_t bytes[15] = {};
    ASSERT_EQ(g.fetch(0x2000 - split, bytes), 15u);
    MmioInsn d{};
    ASSERT_TRUE(decode_mmio_insn(bytes, 15, d)) << "split after byte " << split;
    EXPECT_TRUE(d.store);
    EXPECT_EQ(d.length, 3u);
  }
}

TEST(MmioFetch, StopsAtAnUnmappedPage) {
  TwoPages g;
  g.second_mapped = false;
  g.memory[0x5ffe] = 0x48, g.memory[0x5fff] = 0x89;
  uint8_t bytes[15] = {};
  EXPECT_EQ(g.fetch(0x1ffe, bytes), 2u);
  MmioInsn d{};
  EXPECT_FALSE(decode_mmio_insn(bytes, 2, d));  // cut short: the guest is stopped, not guessed at
  // An instruction that ends before the unmapped page needs none of it.
  g.memory[0x5ff8] = 0x48, g.memory[0x5ff9] = 0x8b, g.memory[0x5ffa] = 0x03;
  EXPECT_EQ(g.fetch(0x1ff8, bytes), 8u);
  EXPECT_TRUE(decode_mmio_insn(bytes, 8, d));
  EXPECT_FALSE(d.store);
}

TEST(MmioFetch, WithinOnePageReadsMaxBytes) {
  TwoPages g;
  uint8_t bytes[15] = {};
  EXPECT_EQ(g.fetch(0x1100, bytes), 15u);
  EXPECT_EQ(bytes[14], 0xcc);
}

}  // namespace
}  // namespace hv
