// Specification of the EPT MMU (mm/mmu.h): tables, faults, write-protection,
// dirty logs (seed 003), eager split (seed 002), MMIO generations (seed 004),
// and the audit after every test.
#include "mm/mmu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "hosttests/mmu/host_platform.h"

namespace hv::mm {

struct MmuTestAccess {
  // The SPTE slot for gfn at its leaf level (test-only corruption).
  static Spte* leaf(Mmu& m, uint64_t gfn) {
    int l;
    uint64_t v;
    EpochReadGuard g(*m.epoch_);
    return m.walk_lockless(gfn, &l, &v);
  }
  // Gives the MMU's free table pages back to the platform: the pool is
  // short of its reservation until tables come back.
  static void empty_pool(Mmu& m) {
    LockGuard g(m.pool_lock_);
    while (PageMeta* p = m.pool_) {
      m.pool_ = p->next;
      --m.pool_n_;
      m.p_->free(p->pa, 1);
    }
  }
  // Stands in for many memslot changes (MMIO wrap tests).
  static void set_generation(Mmu& m, uint64_t g) { m.generation_.store(g); }
};

namespace {

using namespace ept;
constexpr uint64_t k2M = 512, k1G = 512 * 512;

class MmuTest : public ::testing::Test {
 protected:
  void SetUp() override { host::set_cpu(0); }
  void Make(MmuSwitches sw = MmuSwitches(), Mmu::Config cfg = Mmu::Config()) {
    e_.init(arena_.platform(), 1 << 16);
    ASSERT_TRUE(e_.cpu_online());
    ASSERT_TRUE(descs_.init(arena_.platform(), &e_, sizeof(PteListDesc)));
    ASSERT_TRUE(mmu_.init(arena_.platform(), &e_, &descs_, sw, cfg));
    made_ = true;
  }
  void TearDown() override {
    if (!made_) return;
    char why[160] = "";
    EXPECT_TRUE(mmu_.audit(why, sizeof why)) << why;
    mmu_.destroy();
    e_.barrier();
    EXPECT_EQ(descs_.stats().live, 0u) << "every rmap descriptor freed";
    EXPECT_TRUE(descs_.destroy());
    EXPECT_EQ(arena_.allocated_pages(), 0u) << "every page back after the grace periods";
  }
  bool writable(uint64_t gfn) { return is_writable(mmu_.lookup(gfn)); }
  int level_of(uint64_t gfn) { int l = 0; mmu_.lookup(gfn, &l); return l; }
  std::vector<uint64_t> harvest(uint32_t id, size_t words) {
    std::vector<uint64_t> out(words, 0);
    EXPECT_EQ(mmu_.get_dirty_log(id, out.data(), words), 0);
    return out;
  }

  host::Arena arena_{12288};
  Epoch e_;
  ObjectCache descs_;
  Mmu mmu_;
  bool made_ = false;
};

TEST_F(MmuTest, MemslotArgumentsAreChecked) {
  Make();
  EXPECT_EQ(mmu_.set_memory_region(0, 0x100, 64, 0x1000, 0), 0);
  const uint64_t g0 = mmu_.generation();
  EXPECT_EQ(mmu_.set_memory_region(1, 0x120, 64, 0x2000, 0), -kEEXIST) << "overlap";
  EXPECT_EQ(mmu_.set_memory_region(kMaxMemslots, 0x1000, 1, 0, 0), -kEINVAL) << "bad id";
  EXPECT_EQ(mmu_.set_memory_region(1, 0x1000, 1, 0, 0x80), -kEINVAL) << "unknown flag";
  EXPECT_EQ(mmu_.set_memory_region(2, 0, 0, 0, 0), -kEINVAL) << "delete of an absent slot";
  EXPECT_EQ(mmu_.set_memory_region(1, uint64_t{1} << 34, 1, 0, 0), -kEINVAL) << "beyond MAXPHYADDR";
  EXPECT_EQ(mmu_.set_memory_region(0, 0x100, 64, 0x1000, kReadOnly), -kEINVAL) << "READONLY is fixed";
  EXPECT_EQ(mmu_.generation(), g0) << "refused calls change nothing";
  EXPECT_EQ(mmu_.set_memory_region(1, 0x10, 16, 0x3000, kReadOnly), 0);
  EXPECT_EQ(mmu_.generation(), g0 + 1) << "every change bumps the generation";
  const MemslotArray* a = mmu_.slots();
  ASSERT_EQ(a->count, 2u);
  EXPECT_EQ(a->slots[0].id, 1u) << "sorted by base gfn";
  EXPECT_EQ(a->lookup(0x13)->id, 1u);
  EXPECT_EQ(a->lookup(0x13f)->id, 0u);
  EXPECT_EQ(a->lookup(0x140), nullptr);
}

TEST_F(MmuTest, MapsAt4K2MAnd1GAccordingToAlignment) {
  Make();
  // 1 GiB + 2 MiB + 3 pages, backing aligned with the gfns.
  ASSERT_EQ(mmu_.set_memory_region(0, k1G, k1G + k2M + 3, 3 * k1G, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  EXPECT_EQ(level_of(k1G), 3);
  EXPECT_EQ(level_of(2 * k1G), 2);
  EXPECT_EQ(level_of(2 * k1G + k2M), 1);
  EXPECT_EQ(mmu_.count_leaves(3), 1u);
  EXPECT_EQ(mmu_.count_leaves(2), 1u);
  EXPECT_EQ(mmu_.count_leaves(1), 3u);
  EXPECT_EQ(pfn(mmu_.lookup(2 * k1G + k2M + 2)), 3 * k1G + k1G + k2M + 2);
  EXPECT_EQ(check(mmu_.lookup(k1G + 5), 3), Problem::kNone);
  // Misaligned backing: no huge pages.
  ASSERT_EQ(mmu_.set_memory_region(1, 8 * k1G, k2M, 7, 0), 0);
  ASSERT_EQ(mmu_.populate(1), 0);
  EXPECT_EQ(level_of(8 * k1G), 1);
}

TEST_F(MmuTest, ReadOnlySlotsAreNeverWritable) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, k2M, 0, kReadOnly), 0);
  EXPECT_EQ(mmu_.handle_ept_violation(5, false), Fault::kFixed);
  EXPECT_EQ(mmu_.handle_ept_violation(5, true), Fault::kReadOnlySlot);
  EXPECT_FALSE(writable(5));
  EXPECT_FALSE(is_mmu_writable(mmu_.lookup(5)));
}

TEST_F(MmuTest, WriteProtectClearsOnlyWAndKeepsHugeSptes) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  const uint64_t before = mmu_.lookup(3);
  ASSERT_EQ(level_of(3), 2);
  const Memslot& s = *mmu_.slots()->by_id(0);
  EXPECT_TRUE(mmu_.write_protect_gfn(s, 3));
  EXPECT_EQ(mmu_.lookup(3), before & ~kWrite) << "huge SPTE made read-only, not dropped";
  EXPECT_FALSE(mmu_.write_protect_gfn(s, 4)) << "nothing left to clear: no flush owed";
  EXPECT_TRUE(mmu_.write_protect_mask(s, k2M, uint64_t{1} << 9));
  EXPECT_FALSE(writable(k2M + 100));
}

TEST_F(MmuTest, FastPageFaultRestoresWWithOneCmpxchgAndMarksDirtyAfter) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 256, 0x1000, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.handle_ept_violation(7, false), Fault::kFixed);
  EXPECT_FALSE(writable(7)) << "read fault while logging maps read-only";
  EXPECT_TRUE(is_mmu_writable(mmu_.lookup(7)));
  EXPECT_EQ(harvest(0, 4)[0], 0u);
  EXPECT_EQ(mmu_.handle_ept_violation(7, true), Fault::kFixedFast);
  EXPECT_TRUE(writable(7));
  EXPECT_EQ(mmu_.stats().faults_fast.load(), 1u);
  EXPECT_EQ(mmu_.handle_ept_violation(7, true), Fault::kSpurious);
  const auto log = harvest(0, 4);
  EXPECT_EQ(log[0], uint64_t{1} << 7);
  EXPECT_FALSE(writable(7)) << "reported pages are write-protected again";
}

TEST_F(MmuTest, GetDirtyLogFollowsSeed003AndFlushesOnce) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0x1000, 1000, 0x8000, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.set_memory_region(0, 0x1000, 1000, 0x8000, kLogDirtyPages), 0);
  for (uint64_t g = 0x1000; g < 0x1000 + 1000; ++g) ASSERT_FALSE(writable(g)) << "logging write-protects";
  const std::vector<uint64_t> pages = {0, 1, 63, 64, 500, 999};
  for (uint64_t p : pages) ASSERT_EQ(mmu_.handle_ept_violation(0x1000 + p, true), Fault::kFixedFast);
  const uint64_t f0 = arena_.flushes();
  const auto log = harvest(0, 16);
  EXPECT_EQ(arena_.flushes(), f0 + 1) << "one flush for the whole harvest";
  size_t n = 0;
  for (uint64_t w : log) n += __builtin_popcountll(w);
  EXPECT_EQ(n, pages.size());
  for (uint64_t p : pages) {
    EXPECT_TRUE(log[p / 64] & (uint64_t{1} << (p % 64))) << p;
    EXPECT_FALSE(writable(0x1000 + p));
  }
  EXPECT_EQ(harvest(0, 16), std::vector<uint64_t>(16, 0)) << "get clears";
  EXPECT_EQ(arena_.flushes(), f0 + 1) << "nothing dirty: no flush";
  std::vector<uint64_t> small(15);
  EXPECT_EQ(mmu_.get_dirty_log(0, small.data(), small.size()), -kEFAULT) << "bitmap does not fit";
  EXPECT_EQ(mmu_.get_dirty_log(9, small.data(), small.size()), -kEINVAL) << "no such slot";
  ASSERT_EQ(mmu_.set_memory_region(0, 0x1000, 1000, 0x8000, 0), 0);
  EXPECT_EQ(mmu_.get_dirty_log(0, small.data(), 16), -kENOENT) << "not logging";
}

TEST_F(MmuTest, LockedBaselineHarvestsTheSame) {
  MmuSwitches sw;
  sw.rmap_lockless = false;
  Make(sw);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 128, 0, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  for (uint64_t p : {3, 70, 127}) mmu_.handle_ept_violation(p, true);
  const auto log = harvest(0, 2);
  EXPECT_EQ(log[0], uint64_t{1} << 3);
  EXPECT_EQ(log[1], (uint64_t{1} << 6) | (uint64_t{1} << 63));
  EXPECT_FALSE(writable(70));
}

TEST_F(MmuTest, ManualProtectGetSnapshotsAndClearReprotects) {
  Mmu::Config cfg;
  cfg.manual_protect = true;
  Make(MmuSwitches(), cfg);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 200, 0, kLogDirtyPages), 0);
  mmu_.handle_ept_violation(5, true);
  mmu_.handle_ept_violation(130, true);
  EXPECT_EQ(harvest(0, 4)[0], uint64_t{1} << 5);
  EXPECT_EQ(harvest(0, 4)[0], uint64_t{1} << 5) << "get only snapshots";
  EXPECT_TRUE(writable(5));
  const uint64_t all[4] = {~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}};
  EXPECT_EQ(mmu_.clear_dirty_log(0, 1, 64, all), -kEINVAL) << "first page not 64-aligned";
  EXPECT_EQ(mmu_.clear_dirty_log(0, 0, 65, all), -kEINVAL) << "count not 64-aligned, not slot end";
  EXPECT_EQ(mmu_.clear_dirty_log(0, 192, 9, all), -kEINVAL) << "beyond the slot";
  EXPECT_EQ(mmu_.clear_dirty_log(0, 0, 64, nullptr), -kEFAULT);
  EXPECT_EQ(mmu_.clear_dirty_log(0, 0, 64, all), 0);
  EXPECT_FALSE(writable(5));
  EXPECT_TRUE(writable(130)) << "outside the cleared range";
  EXPECT_EQ(mmu_.clear_dirty_log(0, 128, 72, all), 0) << "count may end the slot unaligned";
  EXPECT_FALSE(writable(130));
  EXPECT_EQ(harvest(0, 4), std::vector<uint64_t>(4, 0));
}

TEST_F(MmuTest, InitiallySetStartsAllDirtyWithoutProtectionAndSplitsAtClear) {
  Mmu::Config cfg;
  cfg.manual_protect = true;
  cfg.initially_set = true;
  Make(MmuSwitches(), cfg);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M + 10, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  const uint64_t flushes = arena_.flushes();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M + 10, 0, kLogDirtyPages), 0);
  EXPECT_EQ(arena_.flushes(), flushes) << "no up-front write-protection";
  EXPECT_TRUE(writable(3));
  EXPECT_EQ(level_of(3), 2);
  const auto log = harvest(0, 17);
  for (int w = 0; w < 16; ++w) EXPECT_EQ(log[w], ~uint64_t{0});
  EXPECT_EQ(log[16], (uint64_t{1} << 10) - 1) << "only the slot's pages";
  std::vector<uint64_t> ones(8, ~uint64_t{0});
  ASSERT_EQ(mmu_.clear_dirty_log(0, 0, 512, ones.data()), 0);
  EXPECT_EQ(level_of(3), 1) << "split at clear time";
  EXPECT_FALSE(writable(3));
  EXPECT_EQ(level_of(k2M + 3), 2) << "the uncleared huge page stays";
  EXPECT_EQ(mmu_.stats().splits.load(), 1u);
}

TEST_F(MmuTest, EagerSplitOnEnablingLoggingLeavesNoHugeMapping) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, k1G, k1G + 2 * k2M, k1G, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.count_leaves(3), 1u);
  ASSERT_EQ(mmu_.count_leaves(2), 2u);
  ASSERT_EQ(mmu_.set_memory_region(0, k1G, k1G + 2 * k2M, k1G, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.count_leaves(3), 0u);
  EXPECT_EQ(mmu_.count_leaves(2), 0u);
  EXPECT_EQ(mmu_.count_leaves(1), k1G + 2 * k2M);
  EXPECT_EQ(mmu_.stats().splits.load(), 1u + 512u + 2u);
  const uint64_t g = k1G + 12345;
  const uint64_t c = mmu_.lookup(g);
  EXPECT_EQ(pfn(c), g);
  EXPECT_FALSE(is_writable(c));
  EXPECT_TRUE(is_mmu_writable(c));
  EXPECT_EQ(mmu_.handle_ept_violation(g, true), Fault::kFixedFast) << "first write: no split on the fault";
  EXPECT_EQ(mmu_.stats().lazy_splits.load(), 0u);
}

TEST_F(MmuTest, WithoutEagerSplitAWriteFaultDropsTheHugePage) {
  MmuSwitches sw;
  sw.eager_split = false;
  Make(sw);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.count_leaves(2), 2u) << "huge SPTEs stay, read-only";
  EXPECT_FALSE(writable(9));
  const uint64_t flushes = mmu_.stats().flushes.load();
  EXPECT_EQ(mmu_.handle_ept_violation(9, true), Fault::kFixed);
  EXPECT_EQ(mmu_.stats().lazy_splits.load(), 1u);
  EXPECT_EQ(mmu_.stats().flushes.load(), flushes + 1) << "the dropped huge SPTE is flushed";
  EXPECT_EQ(level_of(9), 1);
  EXPECT_TRUE(writable(9));
  EXPECT_EQ(mmu_.lookup(10), 0u) << "the rest of the range is not mapped";
  EXPECT_EQ(mmu_.count_leaves(2), 1u);
  EXPECT_EQ(harvest(0, 16)[0], uint64_t{1} << 9);
  // Each other page comes back through the slow path, one fault per page.
  const uint64_t slow = mmu_.stats().faults_slow.load();
  EXPECT_EQ(mmu_.handle_ept_violation(10, true), Fault::kFixed);
  EXPECT_EQ(mmu_.handle_ept_violation(11, false), Fault::kFixed);
  EXPECT_EQ(mmu_.stats().faults_slow.load(), slow + 2);
  EXPECT_TRUE(writable(10));
  EXPECT_FALSE(writable(11)) << "a read maps read-only while the slot logs";
  EXPECT_EQ(mmu_.handle_ept_violation(11, true), Fault::kFixedFast);
  EXPECT_EQ(harvest(0, 16)[0], (uint64_t{1} << 10) | (uint64_t{1} << 11));
}

TEST_F(MmuTest, TurningLoggingOffBringsHugePagesBackOnTheNextFault) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 4 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 4 * k2M, 0, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.count_leaves(2), 0u);
  EXPECT_EQ(mmu_.handle_ept_violation(k2M + 7, true), Fault::kFixedFast);  // the guest ran on
  const uint64_t freed = mmu_.stats().tables_freed.load();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 4 * k2M, 0, 0), 0);
  EXPECT_EQ(mmu_.stats().recovered_huge.load(), 4u);
  EXPECT_EQ(mmu_.count_leaves(1), 0u) << "every 4K table under a 2M-capable range zapped";
  // The four 4K tables, then the two above them that were left empty (the
  // slot is the only thing under them): no empty table outlives its range.
  EXPECT_EQ(mmu_.stats().tables_freed.load(), freed + 4u + 2u);
  EXPECT_EQ(mmu_.handle_ept_violation(k2M + 7, true), Fault::kFixed);
  EXPECT_EQ(level_of(k2M + 7), 2) << "one fault maps 2M again";
  EXPECT_TRUE(writable(k2M + 300)) << "writable: the slot no longer logs";
  EXPECT_EQ(pfn(mmu_.lookup(k2M + 300)), k2M) << "the 2M frame run the slot maps there";
  EXPECT_EQ(mmu_.lookup(7), 0u) << "the other ranges come back on their own faults";
}

TEST_F(MmuTest, HugePageRecoveryLeavesRangesThatCannotBeHuge) {
  Make();
  // Backing off by one page: 2M mappings are impossible, the 4K ones stay.
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 1, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  // A slot that starts and ends inside 2M ranges: only the whole one in the middle recovers.
  ASSERT_EQ(mmu_.set_memory_region(1, 4 * k2M + 5, 2 * k2M, 4 * k2M + 5, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.populate(1), 0);
  const size_t leaves = mmu_.count_leaves(1);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 1, 0), 0);
  EXPECT_EQ(mmu_.stats().recovered_huge.load(), 0u);
  EXPECT_EQ(mmu_.count_leaves(1), leaves);
  ASSERT_EQ(mmu_.set_memory_region(1, 4 * k2M + 5, 2 * k2M, 4 * k2M + 5, 0), 0);
  EXPECT_EQ(mmu_.stats().recovered_huge.load(), 1u);
  EXPECT_EQ(mmu_.count_leaves(1), leaves - k2M);
  EXPECT_NE(mmu_.lookup(4 * k2M + 5), 0u);
  EXPECT_EQ(mmu_.lookup(5 * k2M), 0u);
  EXPECT_NE(mmu_.lookup(6 * k2M), 0u);
}

TEST_F(MmuTest, WithPmlLoggingClearsDAndLeavesPagesWritable) {
  MmuSwitches sw;
  sw.pml = true;
  Make(sw);
  EXPECT_NE(mmu_.eptp() & Mmu::kEptpAccessDirty, 0u) << "EPT A/D bits on: the processor sets D";
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  EXPECT_NE(mmu_.lookup(5) & kDirty, 0u) << "not logging: mapped dirty, so no log entry";
  const uint64_t flushes = mmu_.stats().flushes.load();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.count_leaves(2), 0u);
  EXPECT_GT(mmu_.stats().flushes.load(), flushes) << "the cached D bits must go";
  const uint64_t v = mmu_.lookup(5);
  EXPECT_TRUE(is_writable(v)) << "no write-protection fault";
  EXPECT_EQ(v & kDirty, 0u);
  // The processor sets D and logs the page (Bochs 2.7 with the low bits set).
  MmuTestAccess::leaf(mmu_, 5)->fetch_or(kDirty);
  const uint64_t entries[] = {(5 << 12) | 0xfff, uint64_t{1} << 40 /* no slot: ignored */};
  mmu_.log_pml(entries, 2);
  EXPECT_EQ(mmu_.stats().pml_entries.load(), 2u);
  EXPECT_EQ(harvest(0, 16)[0], uint64_t{1} << 5);
  EXPECT_EQ(mmu_.lookup(5) & kDirty, 0u) << "the harvest clears D again";
  EXPECT_TRUE(writable(5));
  EXPECT_EQ(harvest(0, 16)[0], 0u);
  // A page faulted in by a read is writable with D clear; by a write, dirty
  // and reported without a log entry.
  ASSERT_EQ(mmu_.set_memory_region(1, 4 * k2M, 64, 4 * k2M, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.handle_ept_violation(4 * k2M + 1, false), Fault::kFixed);
  EXPECT_TRUE(writable(4 * k2M + 1));
  EXPECT_EQ(mmu_.lookup(4 * k2M + 1) & kDirty, 0u);
  EXPECT_EQ(mmu_.handle_ept_violation(4 * k2M + 2, true), Fault::kFixed);
  EXPECT_NE(mmu_.lookup(4 * k2M + 2) & kDirty, 0u);
  EXPECT_EQ(harvest(1, 1)[0], uint64_t{1} << 2);
}

TEST_F(MmuTest, EagerSplitTakesItsTablesFromTheSlotsReservation) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 16 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  arena_.set_fail_nowait(true);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 16 * k2M, 0, kLogDirtyPages), 0);
  arena_.set_fail_nowait(false);
  EXPECT_EQ(mmu_.count_leaves(2), 0u);
  EXPECT_EQ(mmu_.stats().split_alloc_fallbacks.load(), 0u) << "every table was reserved with the slot";
}

TEST_F(MmuTest, SplitFallsBackWhenThePoolIsShortAndTheNonBlockingAllocationFails) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 16 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  MmuTestAccess::empty_pool(mmu_);  // as if its tables were all awaiting a grace period
  arena_.set_fail_nowait(true);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 16 * k2M, 0, kLogDirtyPages), 0);
  arena_.set_fail_nowait(false);
  EXPECT_EQ(mmu_.count_leaves(2), 0u);
  EXPECT_GT(mmu_.stats().split_alloc_fallbacks.load(), 0u);
}

TEST_F(MmuTest, MmioSptesAreInvalidatedByOneGenerationIncrement) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 64, 0, 0), 0);
  EXPECT_EQ(mmu_.handle_ept_violation(0x5000, false), Fault::kMmio);
  const uint64_t m = mmu_.lookup(0x5000);
  ASSERT_TRUE(is_mmio(m));
  EXPECT_EQ(mmio_gfn(m), 0x5000u);
  EXPECT_EQ(mmio_gen(m), mmu_.generation() & kMmioGenMask);
  const uint64_t slow = mmu_.stats().faults_slow.load();
  EXPECT_EQ(mmu_.handle_ept_misconfig(0x5000), Fault::kMmio);
  EXPECT_EQ(mmu_.stats().faults_slow.load(), slow) << "emulated without the slow path";
  // A slot appears over the MMIO gfn: one increment invalidates the SPTE.
  ASSERT_EQ(mmu_.set_memory_region(1, 0x5000, 16, 0x9000, 0), 0);
  EXPECT_EQ(mmu_.count_mmio_sptes(), 1u) << "no walk: the SPTE is still there, but stale";
  EXPECT_EQ(mmu_.handle_ept_misconfig(0x5000), Fault::kFixed) << "stale: treated as absent";
  EXPECT_EQ(mmu_.stats().mmio_stale.load(), 1u);
  EXPECT_EQ(pfn(mmu_.lookup(0x5000)), 0x9000u);
  EXPECT_EQ(mmu_.count_mmio_sptes(), 0u);
}

TEST_F(MmuTest, MmioWalkBaselineZapsOnEveryChange) {
  MmuSwitches sw;
  sw.mmio_gen = false;
  Make(sw);
  for (uint64_t g = 0; g < 10; ++g) EXPECT_EQ(mmu_.handle_ept_violation(0x7000 + g, true), Fault::kMmio);
  EXPECT_EQ(mmu_.count_mmio_sptes(), 10u);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 64, 0, 0), 0);
  EXPECT_EQ(mmu_.count_mmio_sptes(), 0u);
  EXPECT_EQ(mmu_.stats().mmio_walk_zaps.load(), 1u);
}

TEST_F(MmuTest, MmioGenerationIsNeverReusedBeforeTheWrapZap) {
  Mmu::Config cfg;
  cfg.initial_generation = kMmioGenMask - 1;  // two changes from the wrap
  Make(MmuSwitches(), cfg);
  EXPECT_EQ(mmu_.handle_ept_violation(0x100, false), Fault::kMmio);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 1, 0, 0), 0);  // gen = mask
  EXPECT_EQ(mmu_.count_mmio_sptes(), 1u);
  EXPECT_EQ(mmu_.stats().mmio_wrap_zaps.load(), 0u);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 0, 0, 0), 0);  // gen low bits wrap to 0
  EXPECT_EQ(mmu_.stats().mmio_wrap_zaps.load(), 1u);
  EXPECT_EQ(mmu_.count_mmio_sptes(), 0u) << "every MMIO SPTE zapped at the wrap";
  EXPECT_EQ(mmu_.generation() & kMmioGenMask, 0u);
}

TEST_F(MmuTest, DeletingASlotZapsItsMappingsAndFreesTablesAfterAGracePeriod) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0x40000, 4096, 0x100001, 0), 0);  // 4K mappings
  ASSERT_EQ(mmu_.set_memory_region(1, 0x80000, 100, 0x200000, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.populate(1), 0);
  const size_t pages = arena_.allocated_pages();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 0, 0, 0), 0);
  e_.barrier();
  EXPECT_EQ(mmu_.lookup(0x40000), 0u);
  EXPECT_NE(mmu_.lookup(0x80000), 0u) << "the other slot is untouched";
  EXPECT_GT(mmu_.stats().tables_freed.load(), 0u);
  EXPECT_LT(arena_.allocated_pages(), pages);
  // Move slot 1: old range zapped, new range maps the same backing.
  ASSERT_EQ(mmu_.set_memory_region(1, 0x90000, 100, 0x200000, 0), 0);
  EXPECT_EQ(mmu_.lookup(0x80000), 0u);
  EXPECT_EQ(mmu_.handle_ept_violation(0x90001, true), Fault::kFixed);
  EXPECT_EQ(pfn(mmu_.lookup(0x90001)), 0x200001u);
}

TEST_F(MmuTest, AuditCatchesAnSpteMissingFromItsRmap) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 64, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  char why[160];
  ASSERT_TRUE(mmu_.audit(why, sizeof why)) << why;
  Spte* s = MmuTestAccess::leaf(mmu_, 9);
  const uint64_t v = s->load();
  s->store(0);
  EXPECT_FALSE(mmu_.audit(why, sizeof why));
  EXPECT_NE(std::string(why).find("rmap entry is not a present leaf"), std::string::npos) << why;
  s->store(v);
}

// Seed 000's order, deterministically: a harvest runs between the two halves
// of the fast page fault; then the vCPU writes the page. The write must be
// reported by the next harvest.
bool write_after_racing_harvest_is_reported(MmuTest* t, Mmu& mmu) {
  EXPECT_EQ(mmu.set_memory_region(0, 0, 64, 0, kLogDirtyPages), 0);
  EXPECT_EQ(mmu.handle_ept_violation(5, false), Fault::kFixed);  // read-only map
  std::vector<uint64_t> log(1);
  mmu.get_dirty_log(0, log.data(), 1);
  struct Ctx { Mmu* m; uint64_t log; bool fired; } ctx{&mmu, 0, false};
  mmu.set_test_hook([](void* c, TestPoint where) {
    auto* x = static_cast<Ctx*>(c);
    if (where != TestPoint::kFastFaultAfterCmpxchg || x->fired) return;
    x->fired = true;
    x->m->get_dirty_log(0, &x->log, 1);  // the migrator's harvest, right here
  }, &ctx);
  EXPECT_EQ(mmu.handle_ept_violation(5, true), Fault::kFixedFast);
  mmu.set_test_hook(nullptr, nullptr);
  EXPECT_TRUE(ctx.fired);
  // The vCPU's store: it goes through only if the SPTE is writable now.
  const bool wrote = is_writable(mmu.lookup(5));
  EXPECT_TRUE(wrote);
  mmu.get_dirty_log(0, log.data(), 1);
  (void)t;
  return (log[0] >> 5) & 1;
}

TEST_F(MmuTest, DirtyBitSetAfterTheSpteIsWritableLosesNoWrite) {
  Make();
  EXPECT_TRUE(write_after_racing_harvest_is_reported(this, mmu_));
}

TEST_F(MmuTest, DirtyBitSetBeforeTheSpteIsWritableLosesTheWrite) {
  MmuSwitches sw;
  sw.test_dirty_before_spte = true;  // the broken order
  Make(sw);
  EXPECT_FALSE(write_after_racing_harvest_is_reported(this, mmu_))
      << "the harvest consumed the bit while W was still clear; the SPTE stays writable unlogged";
}

// Review finding: a fast page fault that looked up the slot array before
// logging was enabled, and sets W after the enable's write-protection walk
// found W clear, left the page writable and out of every dirty log for good.
// Here the vCPU thread stops between its slot lookup and its cmpxchg, lets
// the control thread enable logging, and waits until the enable has returned
// (or 300 ms: the enable may wait for this fault to finish, which is the fix).
// Then the guest writes the page: a write after logging is on must be logged.
TEST_F(MmuTest, EnablingLoggingDuringAFastFaultLosesNoWrite) {
  Make();
  // Misaligned backing: 4K mappings only, so that after logging stops the
  // page stays W-clear and MMU-writable (no huge-page recovery).
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 64, 1, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.handle_ept_violation(5, false), Fault::kFixed);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 64, 1, 0), 0);
  ASSERT_FALSE(writable(5));
  ASSERT_TRUE(is_mmu_writable(mmu_.lookup(5)));

  struct Ctx {
    std::atomic<bool> at_point{false}, enabled{false};
  } ctx;
  mmu_.set_test_hook([](void* c, TestPoint where) {
    auto* x = static_cast<Ctx*>(c);
    if (where != TestPoint::kFastFaultBeforeCmpxchg) return;
    x->at_point.store(true);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (!x->enabled.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  }, &ctx);
  Fault f = Fault::kNoMemory;
  std::thread vcpu([&] {
    host::set_cpu(1);
    ASSERT_TRUE(e_.cpu_online());
    f = mmu_.handle_ept_violation(5, true);
    e_.quiescent_state();  // VM entry
    e_.cpu_offline();
  });
  while (!ctx.at_point.load()) std::this_thread::yield();
  EXPECT_EQ(mmu_.set_memory_region(0, 0, 64, 1, kLogDirtyPages), 0);
  ctx.enabled.store(true);
  vcpu.join();
  mmu_.set_test_hook(nullptr, nullptr);
  EXPECT_EQ(f, Fault::kFixedFast);
  // Logging is on: the guest writes the page, through W if the SPTE has it
  // (unseen by the MMU), else by a write fault.
  const bool through_w = writable(5);
  if (!through_w) {
    EXPECT_EQ(mmu_.handle_ept_violation(5, true), Fault::kFixedFast);
  }
  EXPECT_EQ(harvest(0, 1)[0] >> 5 & 1, 1u)
      << "a write after logging was enabled is not in the log (it went through W: " << through_w << ")";
  EXPECT_FALSE(writable(5)) << "the harvest left the page writable";
}

// Review finding: handle_ept_misconfig read the SPTE before the generation.
// An MMIO SPTE tagged at a generation whose low bits are 0, a slot since
// created over its gfn, and a publish that wraps the low bits to 0 again
// between the two reads: the stale SPTE matched and a RAM access was
// emulated as MMIO. The generation must be read first.
TEST_F(MmuTest, MisconfigReadsTheGenerationBeforeTheSpte) {
  Mmu::Config cfg;
  cfg.initial_generation = kMmioGenMask + 1;  // low bits 0
  Make(MmuSwitches(), cfg);
  EXPECT_EQ(mmu_.handle_ept_violation(0x100, false), Fault::kMmio);
  ASSERT_EQ(mmu_.set_memory_region(0, 0x100, 1, 0x100, 0), 0);  // RAM there now
  // 2^19 - 2 memslot changes later, the next one wraps the low bits to 0.
  MmuTestAccess::set_generation(mmu_, 2 * (kMmioGenMask + 1) - 1);
  struct Ctx { Mmu* m; bool fired; } ctx{&mmu_, false};
  mmu_.set_test_hook([](void* c, TestPoint where) {
    auto* x = static_cast<Ctx*>(c);
    if (where != TestPoint::kMisconfigBetweenReads || x->fired) return;
    x->fired = true;
    EXPECT_EQ(x->m->set_memory_region(1, 0x1000, 1, 0x1000, 0), 0);  // the wrapping publish
  }, &ctx);
  const Fault f = mmu_.handle_ept_misconfig(0x100);
  mmu_.set_test_hook(nullptr, nullptr);
  ASSERT_TRUE(ctx.fired);
  EXPECT_EQ(mmu_.stats().mmio_wrap_zaps.load(), 1u);
  EXPECT_NE(f, Fault::kMmio) << "RAM emulated as MMIO";
  EXPECT_EQ(pfn(mmu_.lookup(0x100)), 0x100u);
}

// A split in a logging slot write-protects every child: a writable SPTE in a
// logging slot comes only from a write fault, which sets the page's bit.
// Initially-set clears part of a 2M page: the page is split, and children
// outside the cleared range are write-protected too.
TEST_F(MmuTest, ClearTimeSplitWriteProtectsChildrenOutsideTheClearedRange) {
  Mmu::Config cfg;
  cfg.manual_protect = cfg.initially_set = true;
  Make(MmuSwitches(), cfg);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2 * k2M, 0, kLogDirtyPages), 0);
  ASSERT_EQ(level_of(100), 2);
  ASSERT_TRUE(writable(100)) << "initially-set: no up-front write-protection";
  const uint64_t all = ~uint64_t{0};
  ASSERT_EQ(mmu_.clear_dirty_log(0, 0, 64, &all), 0);
  EXPECT_EQ(level_of(100), 1);
  EXPECT_FALSE(writable(5));
  EXPECT_FALSE(writable(100)) << "a child outside the cleared range kept W";
  EXPECT_TRUE(writable(k2M + 5)) << "the other 2M page is not touched";
}

// A page-table page retired while a reader is inside a read section (a fast
// fault parked between its walk and its cmpxchg) is not freed, however often
// the epoch is polled, until that reader has passed a quiescent state.
TEST_F(MmuTest, RetiredTablesOutliveAParkedReader) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0x40000, 1024, 0x100001, 0), 0);  // 4K tables
  ASSERT_EQ(mmu_.populate(0), 0);
  Spte* seen = MmuTestAccess::leaf(mmu_, 0x40005);  // in a level-1 table
  e_.barrier();  // what was retired before the reader came may go
  const size_t before = arena_.allocated_pages();
  std::atomic<bool> parked{false};
  bool poisoned_while_parked = true;
  // CPU 1 parks inside its read section, holding `seen`, until the delete
  // has retired the slot's tables; the delete (which waits for what it
  // frees to be free) cannot return before it leaves.
  std::thread reader([&] {
    host::set_cpu(1);
    ASSERT_TRUE(e_.cpu_online());
    e_.read_lock();
    parked.store(true);
    while (mmu_.stats().tables_freed.load() == 0) std::this_thread::yield();
    for (int i = 0; i < 100; ++i) std::this_thread::yield();  // the deleter is in its grace period now
    poisoned_while_parked = seen->load() == host::kPoisonWord;
    e_.read_unlock();
    e_.quiescent_state();
    ASSERT_TRUE(e_.cpu_offline());
  });
  while (!parked.load()) std::this_thread::yield();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 0, 0, 0), 0);
  reader.join();
  EXPECT_FALSE(poisoned_while_parked) << "the reader's table was freed under it";
  EXPECT_LT(arena_.allocated_pages(), before) << "freed after the grace period, before the delete returned";
}

// As KVM: clear-time splitting (initially-set) covers the span of the set
// bits, not the whole range the call names; the 2M page whose bits are all
// zero stays huge.
TEST_F(MmuTest, ClearTimeSplitCoversOnlyTheSpanOfSetBits) {
  Mmu::Config cfg;
  cfg.manual_protect = cfg.initially_set = true;
  Make(MmuSwitches(), cfg);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 4 * k2M, 0, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 4 * k2M, 0, kLogDirtyPages), 0);
  std::vector<uint64_t> mask(4 * k2M / 64, 0);
  mask[k2M / 64 + 1] = 0xf0;  // pages 2M+68..71 only
  ASSERT_EQ(mmu_.clear_dirty_log(0, 0, 4 * k2M, mask.data()), 0);
  EXPECT_EQ(level_of(k2M + 70), 1);
  EXPECT_FALSE(writable(k2M + 70));
  EXPECT_EQ(level_of(5), 2) << "no set bit in the first 2M page: not split";
  EXPECT_EQ(level_of(3 * k2M + 5), 2) << "no set bit in the last 2M page: not split";
  EXPECT_EQ(mmu_.stats().splits.load(), 1u);
}

// PML: a 1G page split twice ends in 4K children that are writable with D
// clear (logged by the processor), not W-clear ones logged by faults: the
// 2M children of the first split are write-protected as huge pages are.
TEST_F(MmuTest, WithPmlA1GPageSplitTwiceEndsInWritableCleanChildren) {
  MmuSwitches sw;
  sw.pml = true;
  Make(sw);
  ASSERT_EQ(mmu_.set_memory_region(0, k1G, k1G, k1G, 0), 0);
  ASSERT_EQ(mmu_.populate(0), 0);
  ASSERT_EQ(level_of(k1G + 5), 3);
  ASSERT_EQ(mmu_.set_memory_region(0, k1G, k1G, k1G, kLogDirtyPages), 0);
  EXPECT_EQ(mmu_.count_leaves(3), 0u);
  EXPECT_EQ(mmu_.count_leaves(2), 0u);
  for (uint64_t g : {k1G + 5, k1G + 300 * k2M + 17, 2 * k1G - 1}) {
    EXPECT_EQ(level_of(g), 1);
    const uint64_t v = mmu_.lookup(g);
    EXPECT_TRUE(is_writable(v)) << "gfn " << g << ": W-clear, logged by faults instead of PML";
    EXPECT_EQ(v & kDirty, 0u) << "gfn " << g;
  }
  EXPECT_EQ(mmu_.handle_ept_violation(k1G + 5, true), Fault::kSpurious) << "no write-protection fault";
}

// Review finding: with memory exhausted, no slot could be deleted (a delete
// needs a new slot array) and a guest's next fault was fatal. Teardown
// (logging off, delete) needs no memory, twice in a row; the slot's tables
// were reserved when it was created, so its faults still map; an MMIO access
// is emulated uncached; a creation is refused and changes nothing.
TEST_F(MmuTest, WithMemoryExhaustedTeardownWorksAndReservedTablesMap) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2048, 1, 0), 0);  // misaligned: 4K tables
  ASSERT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, kLogDirtyPages), 0);
  ASSERT_EQ(mmu_.set_memory_region(2, 0x20000, 1024, 0x20000, 0), 0);
  ASSERT_EQ(mmu_.populate(1), 0);
  ASSERT_EQ(mmu_.populate(2), 0);
  arena_.set_fail_all(true);
  EXPECT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, 0), 0) << "logging off";
  EXPECT_EQ(mmu_.set_memory_region(2, 0, 0, 0, 0), 0) << "delete";
  EXPECT_EQ(mmu_.set_memory_region(1, 0, 0, 0, 0), 0) << "a second delete";
  const uint64_t gen = mmu_.generation();
  EXPECT_EQ(mmu_.set_memory_region(3, 0x30000, 16, 0x30000, 0), -kENOMEM);
  EXPECT_EQ(mmu_.set_memory_region(0, 0, 2048, 1, kLogDirtyPages), -kENOMEM) << "logging on needs a bitmap";
  EXPECT_EQ(mmu_.generation(), gen) << "refused changes change nothing";
  for (uint64_t g = 0; g < 2048; g += 97)
    EXPECT_EQ(mmu_.handle_ept_violation(g, true), Fault::kFixed) << "gfn " << g;
  EXPECT_EQ(mmu_.handle_ept_violation(uint64_t{1} << 30, false), Fault::kMmio);
  EXPECT_EQ(mmu_.stats().mmio_uncached.load(), 1u);
  arena_.set_fail_all(false);
  EXPECT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, 0), 0) << "memory back: creation works";
  EXPECT_EQ(mmu_.set_memory_region(1, 0, 0, 0, 0), 0);
  EXPECT_EQ(mmu_.set_memory_region(2, 0x20000, 1024, 0x20000, 0), 0);
}

// A memslot update returns only once what it freed is free (KVM waits for
// SRCU's grace period at every memslot update): the review found that
// window map/unmap cycles from a control guest, with every CPU busy so that
// no idle loop ran the epoch's callbacks, held the freed rmaps, bitmaps and
// slot arrays until the host ran out of memory.
TEST_F(MmuTest, MemslotUpdatesGiveWhatTheyFreeBackBeforeReturning) {
  Make();
  ASSERT_EQ(mmu_.set_memory_region(0, 0, 2048, 0, 0), 0);
  const uint64_t baseline = arena_.allocated_pages();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, 0), 0) << "create, cycle " << i;
    ASSERT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, kLogDirtyPages), 0) << "logging on, cycle " << i;
    ASSERT_EQ(mmu_.set_memory_region(1, 0x10000, 1024, 0x10000, 0), 0) << "logging off, cycle " << i;
    ASSERT_EQ(mmu_.set_memory_region(1, 0, 0, 0, 0), 0) << "delete, cycle " << i;
    ASSERT_EQ(arena_.allocated_pages(), baseline) << "after cycle " << i;
  }
}

}  // namespace
}  // namespace hv::mm
