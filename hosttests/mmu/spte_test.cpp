// Specification of the EPT SPTE encoding (mm/spte.h): no constructor ever
// produces an entry the processor would take as a misconfiguration by
// accident, and MMIO SPTEs are exactly the misconfiguration pattern.
#include "mm/spte.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace hv::mm::ept {
namespace {

const MemType kAllTypes[] = {MemType::kUC, MemType::kWC, MemType::kWT, MemType::kWP, MemType::kWB};

TEST(Spte, EveryLeafEncodingIsLegalOrRefused) {
  for (int level = 0; level <= 5; ++level)
    for (unsigned acc = 0; acc < 8; ++acc)
      for (MemType mt : kAllTypes)
        for (int ipat = 0; ipat < 2; ++ipat)
          for (int hw = 0; hw < 2; ++hw) {
            const uint64_t pfn = level >= 1 && level <= 3 ? 0x40000 * pages_per_level(level) / 512 * 512 : 0;
            const uint64_t s = make_leaf(pfn, level, acc, mt, ipat, hw);
            if (s == 0) continue;
            SCOPED_TRACE(::testing::Message() << "level " << level << " acc " << acc << " s " << std::hex << s);
            EXPECT_EQ(check(s, level), Problem::kNone);
            EXPECT_TRUE(level >= 1 && level <= 3);
            EXPECT_FALSE((s & kWrite) && !(s & kRead)) << "write-only or W+X-only";
            EXPECT_EQ(is_large(s), level > 1) << "PS only at levels 2 and 3";
            EXPECT_TRUE(is_present(s));
            EXPECT_FALSE(is_mmio(s));
            if (s & kWrite) {
              EXPECT_TRUE(is_mmu_writable(s));
              EXPECT_TRUE(is_host_writable(s));
            }
            if (!hw) {
              EXPECT_FALSE(s & (kWrite | kMmuWritable)) << "read-only slots never writable";
            }
            EXPECT_EQ(ept::pfn(s), pfn);
          }
}

TEST(Spte, WriteWithoutReadIsRefused) {
  EXPECT_EQ(make_leaf(1, 1, kAccW, MemType::kWB, false, true), 0u);
  EXPECT_EQ(make_leaf(1, 1, kAccW | kAccX, MemType::kWB, false, true), 0u);
  EXPECT_EQ(make_leaf(1, 1, 0, MemType::kWB, false, true), 0u);
  EXPECT_NE(make_leaf(1, 1, kAccX, MemType::kWB, false, true), 0u) << "execute-only is legal";
}

TEST(Spte, MalformedFramesAreRefused) {
  EXPECT_EQ(make_leaf(1, 2, kAccR, MemType::kWB, false, true), 0u) << "2M frame must be 512-aligned";
  EXPECT_EQ(make_leaf(512, 3, kAccR, MemType::kWB, false, true), 0u) << "1G frame must be 2^18-aligned";
  EXPECT_EQ(make_leaf(uint64_t{1} << 34, 1, kAccR, MemType::kWB, false, true, 46), 0u) << "beyond MAXPHYADDR";
  EXPECT_EQ(make_leaf(1, 1, kAccR, static_cast<MemType>(2), false, true), 0u);
  EXPECT_EQ(make_leaf(1, 1, kAccR, static_cast<MemType>(7), false, true), 0u);
  EXPECT_EQ(make_leaf(1, 4, kAccR, MemType::kWB, false, true), 0u) << "no leaf at level 4";
}

TEST(Spte, AuditCatchesEachMisconfiguration) {
  const uint64_t ok = make_leaf(0x200, 2, kAccR | kAccW, MemType::kWB, false, true);
  EXPECT_EQ(check(ok, 2), Problem::kNone);
  EXPECT_EQ(check(ok & ~kRead, 2), Problem::kWriteWithoutRead);
  EXPECT_EQ(check((ok & ~kMemTypeMask) | (uint64_t{2} << kMemTypeShift), 2), Problem::kReservedMemType);
  EXPECT_EQ(check(ok | (uint64_t{1} << 12), 2), Problem::kMisalignedLarge);
  EXPECT_EQ(check(ok | (uint64_t{1} << 50), 2, 46), Problem::kReservedAddrBits);
  EXPECT_EQ(check(make_nonleaf(0x5000) | kIgnorePat, 3), Problem::kReservedNonLeafBits);
  EXPECT_EQ(check(make_nonleaf(0x5000) | kLargePage, 4), Problem::kLargeAtBadLevel);
  EXPECT_EQ(check(make_leaf(1, 1, kAccR, MemType::kWB, false, true) | kLargePage, 1), Problem::kLargeAtBadLevel);
  EXPECT_EQ(check(ok & ~kMmuWritable, 2), Problem::kWriteWithoutMmuW);
}

TEST(Spte, NonLeafEntriesAreClean) {
  for (int level = 2; level <= 4; ++level) {
    const uint64_t s = make_nonleaf(0x123456000);
    EXPECT_EQ(check(s, level), Problem::kNone);
    EXPECT_FALSE(is_leaf(s, level));
    EXPECT_EQ(addr(s), 0x123456000u);
  }
}

TEST(Spte, WriteProtectClearsOnlyW) {
  const uint64_t s = make_leaf(7, 1, kAccR | kAccW | kAccX, MemType::kWB, true, true);
  const uint64_t wp = write_protected(s);
  EXPECT_EQ(s ^ wp, kWrite);
  EXPECT_TRUE(is_mmu_writable(wp)) << "the fast page fault may restore W";
  EXPECT_EQ(check(wp, 1), Problem::kNone);
  EXPECT_EQ(fast_fix_writable(wp), s);
  const uint64_t huge = make_leaf(512, 2, kAccR | kAccW, MemType::kWB, false, true);
  EXPECT_TRUE(is_large(write_protected(huge))) << "huge SPTEs become read-only, not dropped";
  EXPECT_TRUE(is_present(write_protected(huge)));
}

TEST(Spte, SplitChildrenInheritEverything) {
  for (int level = 2; level <= 3; ++level) {
    const uint64_t base = pages_per_level(level) * 3;
    const uint64_t huge = make_leaf(base, level, kAccR | kAccW | kAccX, MemType::kWT, true, true);
    for (unsigned i = 0; i < 512; ++i) {
      const uint64_t c = make_split_child(huge, level, i);
      EXPECT_EQ(check(c, level - 1), Problem::kNone);
      EXPECT_EQ(pfn(c), base + i * pages_per_level(level - 1));
      EXPECT_EQ(c & ~(kAddrMask | kLargePage), huge & ~(kAddrMask | kLargePage));
      EXPECT_EQ(is_large(c), level - 1 > 1);
      EXPECT_EQ(check(write_protected(c), level - 1), Problem::kNone);
    }
  }
}

TEST(Spte, MmioSptesCarryGenerationAndGfnAndMisconfigure) {
  std::mt19937_64 rng(1);
  for (int n = 0; n < 10000; ++n) {
    const uint64_t gfn = rng() & kMmioGfnMask, gen = rng() & kMmioGenMask;
    const uint64_t s = make_mmio(gfn, gen);
    ASSERT_TRUE(is_mmio(s));
    ASSERT_FALSE(is_present(s));
    ASSERT_EQ(mmio_gen(s), gen);
    ASSERT_EQ(mmio_gfn(s), gfn);
    ASSERT_EQ(check(s, 1), Problem::kWriteWithoutRead) << "exits as EPT misconfiguration";
  }
  EXPECT_EQ(kMmioGenBits, 19u);
  EXPECT_EQ(mmio_gen(make_mmio(0, kMmioGenMask + 1)), 0u) << "generation truncated to 19 bits";
}

}  // namespace
}  // namespace hv::mm::ept
