// Specification of hv::mm::usable_ranges and hv::mm::lowest_fit: the boot
// path's usable RAM from a firmware memory map, and the place of the frame
// allocator's bitmaps in it.
#include "mm/phys_ranges.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <vector>

namespace hv::mm {

// Found by argument-dependent lookup: they live in PhysRange's namespace.
bool operator==(const PhysRange& a, const PhysRange& b) { return a.base == b.base && a.end == b.end; }
std::ostream& operator<<(std::ostream& os, const PhysRange& r) {
  return os << std::hex << "[0x" << r.base << ", 0x" << r.end << ")";
}

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t kMax = ~uint64_t{0};

std::vector<PhysRange> usable(const std::vector<PhysRange>& ram, const std::vector<PhysRange>& holes,
                              size_t cap = 64) {
  std::vector<PhysRange> out(cap);
  const size_t n = usable_ranges(ram.data(), ram.size(), holes.data(), holes.size(), out.data(), cap);
  if (n == kTooManyRanges) return {{kMax, kMax}};
  out.resize(n);
  return out;
}

// --- usable_ranges --------------------------------------------------------------

TEST(UsableRanges, QemuPcWith8GiBKeepsRamAbove4GiB) {
  // QEMU 7.2's e820 for -m 8192 on the PC machine, in its own order.
  const std::vector<PhysRange> ram = {{0, 0x9fc00}, {0x100000, 0xbffe0000}, {4 * GiB, 9 * GiB}};
  const std::vector<PhysRange> holes = {{0x9fc00, 0xa0000}, {0xf0000, 0x100000}, {0xbffe0000, 0xc0000000},
                                        {0xfffc0000, 4 * GiB}};
  const std::vector<PhysRange> want = {{0, 0x9f000}, {0x100000, 0xbffe0000}, {4 * GiB, 9 * GiB}};
  EXPECT_EQ(usable(ram, holes), want);
}

TEST(UsableRanges, SortsMergesAndRoundsInward) {
  const std::vector<PhysRange> ram = {{8 * GiB, 12 * GiB}, {0x100800, 0x200001}, {6 * GiB, 8 * GiB},
                                      {0x180000, 0x300000}, {64 * GiB + 1, 64 * GiB + 4095}, {5, 5}};
  const std::vector<PhysRange> want = {{0x101000, 0x300000}, {6 * GiB, 12 * GiB}};
  EXPECT_EQ(usable(ram, {}), want);
}

TEST(UsableRanges, ReservedWinsOverAvailableWhereFirmwareSaysBoth) {
  // A reserved entry inside an available one (split), over its start and over
  // its end (trimmed, rounded outward), and over a whole one (gone).
  const std::vector<PhysRange> ram = {{4 * GiB, 8 * GiB}, {16 * GiB, 17 * GiB}, {20 * GiB, 21 * GiB}};
  const std::vector<PhysRange> holes = {{5 * GiB + 1, 5 * GiB + 2 * MiB - 1},
                                        {15 * GiB, 16 * GiB + 4097},
                                        {17 * GiB - 1, 18 * GiB},
                                        {20 * GiB, 21 * GiB},
                                        {100 * GiB, kMax}};
  const std::vector<PhysRange> want = {
      {4 * GiB, 5 * GiB}, {5 * GiB + 2 * MiB, 8 * GiB}, {16 * GiB + 8192, 17 * GiB - 4096}};
  EXPECT_EQ(usable(ram, holes), want);
}

TEST(UsableRanges, SaysWhenTheAnswerDoesNotFit) {
  // Three holes cut one range into four pieces.
  const std::vector<PhysRange> ram = {{0, 1 * GiB}};
  const std::vector<PhysRange> holes = {{1 * MiB, 2 * MiB}, {3 * MiB, 4 * MiB}, {5 * MiB, 6 * MiB}};
  EXPECT_EQ(usable(ram, holes, 4).size(), 4u);
  EXPECT_EQ(usable(ram, holes, 3), (std::vector<PhysRange>{{kMax, kMax}}));
  EXPECT_EQ(usable({{0, 1 * GiB}, {2 * GiB, 3 * GiB}}, {}, 1), (std::vector<PhysRange>{{kMax, kMax}}));
}

TEST(UsableRanges, SurvivesTheTopOfTheAddressSpace) {
  const std::vector<PhysRange> ram = {{kMax - 4095, kMax}, {kMax - 3 * 4096 + 1, kMax}};
  const std::vector<PhysRange> want = {{kMax - 3 * 4096 + 1, kMax - 4095}};
  EXPECT_EQ(usable(ram, {}), want);
  EXPECT_EQ(usable(ram, {{kMax - 1, kMax}}), want);  // a hole in the last partial frame cuts nothing
  EXPECT_TRUE(usable(ram, {{kMax - 8192, kMax}}).empty());
}

// --- lowest_fit -------------------------------------------------------------------

TEST(LowestFit, SkipsTakenRangesAndKeepsBelowTheLimit) {
  const std::vector<PhysRange> ram = {{0, 0x9f000}, {0x100000, 0xbffe0000}, {4 * GiB, 9 * GiB}};
  // Low memory, the kernel at 1 MiB, modules after it (out of order).
  const std::vector<PhysRange> taken = {{0, 1 * MiB}, {0x300000, 0x1200000}, {1 * MiB, 0x2fe001}};
  uint64_t at = 0;
  ASSERT_TRUE(lowest_fit(ram.data(), ram.size(), taken.data(), taken.size(), 576 * KiB, 4096, 4 * GiB, &at));
  EXPECT_EQ(at, 0x1200000u);
  // Only 4 KiB between the kernel and the modules: taken for a single page.
  ASSERT_TRUE(lowest_fit(ram.data(), ram.size(), taken.data(), taken.size(), 4096, 4096, 4 * GiB, &at));
  EXPECT_EQ(at, 0x2ff000u);  // the kernel's end rounded up
  // More than fits below the limit: never placed above it.
  EXPECT_FALSE(lowest_fit(ram.data(), ram.size(), taken.data(), taken.size(), 4 * GiB, 4096, 4 * GiB, &at));
  ASSERT_TRUE(lowest_fit(ram.data(), ram.size(), taken.data(), taken.size(), 4 * GiB, 4096, kMax, &at));
  EXPECT_EQ(at, 4 * GiB);
}

TEST(LowestFit, HonoursAlignmentAndRefusesNonsense) {
  const std::vector<PhysRange> ram = {{0x1000, 0x500000}};
  uint64_t at = 0;
  ASSERT_TRUE(lowest_fit(ram.data(), ram.size(), nullptr, 0, 2 * MiB, 2 * MiB, kMax, &at));
  EXPECT_EQ(at, 2 * MiB);
  EXPECT_FALSE(lowest_fit(ram.data(), ram.size(), nullptr, 0, 4 * MiB, 2 * MiB, kMax, &at));
  EXPECT_FALSE(lowest_fit(ram.data(), ram.size(), nullptr, 0, 0, 4096, kMax, &at));
  EXPECT_FALSE(lowest_fit(ram.data(), ram.size(), nullptr, 0, 4096, 3, kMax, &at));
  EXPECT_FALSE(lowest_fit(ram.data(), ram.size(), nullptr, 0, 4096, 0, kMax, &at));
  const std::vector<PhysRange> top = {{kMax - 8191, kMax}};
  EXPECT_FALSE(lowest_fit(top.data(), top.size(), nullptr, 0, 4096, 1ull << 63, kMax, &at));
  ASSERT_TRUE(lowest_fit(top.data(), top.size(), nullptr, 0, 4096, 4096, kMax, &at));
  EXPECT_EQ(at, kMax - 8191);
  EXPECT_FALSE(lowest_fit(top.data(), top.size(), nullptr, 0, kMax, 4096, kMax, &at));
}

}  // namespace
}  // namespace hv::mm
