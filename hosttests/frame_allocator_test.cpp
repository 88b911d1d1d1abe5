// Specification of hv::mm::FrameAllocator. The bitmap storage is a heap
// vector of exactly storage_words_for() words, so the AddressSanitizer build
// catches any access past it.
#include "mm/frame_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace hv::mm {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;

static_assert(FrameAllocator::storage_words_for(0) == 0);
static_assert(FrameAllocator::storage_words_for(kFrameSize - 1) == 0);
static_assert(FrameAllocator::storage_words_for(kFrameSize) == 2);
static_assert(FrameAllocator::storage_words_for(64 * kFrameSize) == 2);
static_assert(FrameAllocator::storage_words_for(65 * kFrameSize) == 4);
static_assert(FrameAllocator::storage_words_for(4 * GiB) == 2 * (4 * GiB / kFrameSize / 64));

// A FrameAllocator must be usable as a kernel global without a constructor.
constinit FrameAllocator g_static_allocator;

class FrameAllocatorTest : public ::testing::Test {
 protected:
  void init(uint64_t max_phys) {
    storage_.assign(FrameAllocator::storage_words_for(max_phys), 0xa5a5a5a5a5a5a5a5ull);
    ASSERT_TRUE(fa_.init(storage_.data(), storage_.size(), max_phys));
  }

  // Allocates until exhaustion, checking each answer is a fresh aligned frame.
  std::set<uint64_t> drain() {
    std::set<uint64_t> got;
    for (;;) {
      const uint64_t pa = fa_.alloc();
      if (pa == 0) break;
      EXPECT_EQ(pa % kFrameSize, 0u);
      EXPECT_TRUE(got.insert(pa).second) << "frame handed out twice: " << std::hex << pa;
    }
    return got;
  }

  std::vector<uint64_t> storage_;
  FrameAllocator fa_;
};

bool overlaps(uint64_t pa, uint64_t base, uint64_t end) {
  return pa + kFrameSize > base && pa < end;
}

// --- Setup ------------------------------------------------------------------

TEST(FrameAllocatorStatic, DefaultConstructedAllocatorHandsOutNothing) {
  EXPECT_EQ(g_static_allocator.alloc(), 0u);
  EXPECT_EQ(g_static_allocator.alloc_contiguous(1, 1), 0u);
  EXPECT_FALSE(g_static_allocator.free(0x1000));
  EXPECT_EQ(g_static_allocator.free_frames(), 0u);
  EXPECT_EQ(g_static_allocator.usable_frames(), 0u);
}

TEST(FrameAllocatorStatic, InitRefusesStorageSmallerThanStorageWordsFor) {
  const uint64_t max_phys = 16 * MiB;
  std::vector<uint64_t> storage(FrameAllocator::storage_words_for(max_phys) - 1);
  FrameAllocator fa;
  EXPECT_FALSE(fa.init(storage.data(), storage.size(), max_phys));
  // The refused allocator tracks nothing, so all added RAM is ignored.
  fa.add_free({0, max_phys});
  EXPECT_EQ(fa.usable_frames(), 0u);
  EXPECT_EQ(fa.ignored_bytes(), max_phys);
  EXPECT_EQ(fa.alloc(), 0u);
}

TEST(FrameAllocatorStatic, InitRefusesNullStorage) {
  FrameAllocator fa;
  EXPECT_FALSE(fa.init(nullptr, 1024, 1 * MiB));
}

TEST_F(FrameAllocatorTest, StartsWithNoUsableFramesUntilRamIsAdded) {
  init(64 * MiB);
  EXPECT_EQ(fa_.usable_frames(), 0u);
  EXPECT_EQ(fa_.free_frames(), 0u);
  EXPECT_EQ(fa_.alloc(), 0u);
}

TEST_F(FrameAllocatorTest, NeverHandsOutFrameZero) {
  init(1 * MiB);
  fa_.add_free({0, 16 * kFrameSize});
  EXPECT_EQ(fa_.usable_frames(), 15u);
  const std::set<uint64_t> got = drain();
  EXPECT_EQ(got.size(), 15u);
  EXPECT_EQ(got.count(0), 0u);
}

// --- Usable and reserved memory ---------------------------------------------

// A PC-like layout: RAM below the EBDA and from 1 MiB, with the kernel,
// boot information and two modules inside it.
struct Layout {
  std::vector<PhysRange> ram = {{0x0, 0x9fc00}, {0x100000, 0x7fe0000}, {0x8000000, 0x8000000 + 3 * MiB}};
  std::vector<PhysRange> reserved = {
      {0x0, 1 * MiB},                  // low memory: real-mode structures, AP trampoline
      {0x100000, 0x1a3456},            // kernel image, unaligned end
      {0x9000, 0x9123},                // boot information (inside low memory anyway)
      {0x400800, 0x5ff801},            // module 1, unaligned at both ends
      {0x7fdf000, 0x8001000},          // module 2, straddling two RAM ranges
  };
  uint64_t max_phys = 256 * MiB;

  // Frames a correct allocator may hand out, by brute force.
  std::set<uint64_t> expected() const {
    std::set<uint64_t> out;
    for (uint64_t pa = kFrameSize; pa + kFrameSize <= max_phys; pa += kFrameSize) {
      bool in_ram = false;
      for (const PhysRange& r : ram) in_ram |= pa >= r.base && pa + kFrameSize <= r.end;
      bool hit = false;
      for (const PhysRange& r : reserved) hit |= overlaps(pa, r.base, r.end);
      if (in_ram && !hit) out.insert(pa);
    }
    return out;
  }
};

TEST_F(FrameAllocatorTest, AllocatesEveryUsableFrameExactlyOnceThenReturnsZero) {
  const Layout l;
  init(l.max_phys);
  for (const PhysRange& r : l.ram) fa_.add_free(r);
  for (const PhysRange& r : l.reserved) fa_.reserve(r);
  const std::set<uint64_t> want = l.expected();
  EXPECT_EQ(fa_.usable_frames(), want.size());
  EXPECT_EQ(fa_.free_frames(), want.size());

  EXPECT_EQ(drain(), want);
  EXPECT_EQ(fa_.alloc(), 0u);
  EXPECT_EQ(fa_.alloc(), 0u);
  EXPECT_EQ(fa_.free_frames(), 0u);
  EXPECT_EQ(fa_.usable_frames(), want.size());
}

TEST_F(FrameAllocatorTest, NeverHandsOutReservedFramesEvenWhenReservedBeforeTheRamIsAdded) {
  const Layout l;
  init(l.max_phys);
  for (const PhysRange& r : l.reserved) fa_.reserve(r);
  for (const PhysRange& r : l.ram) fa_.add_free(r);
  const std::set<uint64_t> got = drain();
  EXPECT_EQ(got, l.expected());
  for (uint64_t pa : got) {
    EXPECT_GE(pa, 1 * MiB);
    for (const PhysRange& r : l.reserved) EXPECT_FALSE(overlaps(pa, r.base, r.end)) << std::hex << pa;
  }
}

TEST_F(FrameAllocatorTest, RoundsUsableRangesInwardAndReservedRangesOutward) {
  init(1 * MiB);
  fa_.add_free({0x1001, 0x5fff});  // whole frames: 0x2000, 0x3000, 0x4000
  EXPECT_EQ(fa_.usable_frames(), 3u);
  fa_.reserve({0x2fff, 0x3001});   // touches 0x2000 and 0x3000
  EXPECT_EQ(fa_.usable_frames(), 1u);
  EXPECT_EQ(fa_.alloc(), 0x4000u);
  EXPECT_EQ(fa_.alloc(), 0u);
}

TEST_F(FrameAllocatorTest, IgnoresRangesWithNoWholeFrame) {
  init(1 * MiB);
  fa_.add_free({0x1001, 0x2fff});
  fa_.add_free({0x5000, 0x5000});
  fa_.add_free({0x6000, 0x5000});
  EXPECT_EQ(fa_.usable_frames(), 0u);
  EXPECT_EQ(fa_.ignored_bytes(), 0u);
}

TEST_F(FrameAllocatorTest, CountsRamAtOrAboveMaxPhysAsIgnored) {
  init(1 * MiB);
  fa_.add_free({512 * KiB, 1536 * KiB});  // straddles max_phys
  EXPECT_EQ(fa_.usable_frames(), 512 * KiB / kFrameSize);
  EXPECT_EQ(fa_.ignored_bytes(), 512 * KiB);
  fa_.add_free({4 * GiB, 6 * GiB});       // wholly above
  EXPECT_EQ(fa_.ignored_bytes(), 512 * KiB + 2 * GiB);
  for (uint64_t pa : drain()) EXPECT_LT(pa, 1 * MiB);
}

TEST_F(FrameAllocatorTest, TreatsAFrameStraddlingAnUnalignedMaxPhysAsAboveIt) {
  init(1 * MiB + 0x800);
  fa_.add_free({1 * MiB - kFrameSize, 1 * MiB + kFrameSize});
  EXPECT_EQ(fa_.usable_frames(), 1u);
  EXPECT_EQ(fa_.ignored_bytes(), kFrameSize);
  EXPECT_EQ(fa_.alloc(), 1 * MiB - kFrameSize);
}

TEST_F(FrameAllocatorTest, SurvivesRangesAtTheTopOfTheAddressSpace) {
  init(1 * MiB);
  fa_.add_free({UINT64_MAX - 10, UINT64_MAX});
  fa_.add_free({UINT64_MAX - kFrameSize - 100, UINT64_MAX});
  fa_.reserve({UINT64_MAX - 10, UINT64_MAX});
  EXPECT_EQ(fa_.usable_frames(), 0u);
  fa_.add_free({0, UINT64_MAX});
  EXPECT_EQ(fa_.usable_frames(), 255u);
  fa_.reserve({0, UINT64_MAX});
  EXPECT_EQ(fa_.usable_frames(), 0u);
  EXPECT_EQ(fa_.free_frames(), 0u);
}

TEST_F(FrameAllocatorTest, AddingOverlappingRangesDoesNotCountFramesTwice) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x20000});
  fa_.add_free({0x18000, 0x28000});
  EXPECT_EQ(fa_.usable_frames(), 0x18u);
  EXPECT_EQ(drain().size(), 0x18u);
}

TEST_F(FrameAllocatorTest, AddingRamAgainDoesNotFreeAllocatedFrames) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x12000});
  const uint64_t a = fa_.alloc();
  fa_.add_free({0x10000, 0x12000});
  EXPECT_EQ(fa_.free_frames(), 1u);
  EXPECT_NE(fa_.alloc(), a);
  EXPECT_EQ(fa_.alloc(), 0u);
  EXPECT_TRUE(fa_.free(a));
}

TEST_F(FrameAllocatorTest, ReservingAnAllocatedFrameWithdrawsItForGood) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x14000});
  const uint64_t a = fa_.alloc();
  fa_.reserve({a, a + kFrameSize});
  EXPECT_EQ(fa_.usable_frames(), 3u);
  EXPECT_EQ(fa_.free_frames(), 3u);
  EXPECT_FALSE(fa_.free(a));
  EXPECT_EQ(fa_.free_frames(), 3u);
}

// --- Freeing ----------------------------------------------------------------

TEST_F(FrameAllocatorTest, FreedFramesCanBeAllocatedAgain) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x14000});
  std::set<uint64_t> first = drain();
  for (uint64_t pa : first) EXPECT_TRUE(fa_.free(pa));
  EXPECT_EQ(fa_.free_frames(), 4u);
  EXPECT_EQ(drain(), first);
}

TEST_F(FrameAllocatorTest, RefusesDoubleFreeWithoutChangingCounts) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x14000});
  const uint64_t a = fa_.alloc();
  ASSERT_TRUE(fa_.free(a));
  EXPECT_FALSE(fa_.free(a));
  EXPECT_EQ(fa_.free_frames(), 4u);
  EXPECT_EQ(fa_.usable_frames(), 4u);
  EXPECT_FALSE(fa_.free(0x13000));  // usable but never allocated
  EXPECT_EQ(fa_.free_frames(), 4u);
}

TEST_F(FrameAllocatorTest, RefusesFreeOfReservedOrNeverUsableFrames) {
  init(2 * MiB);
  fa_.add_free({0, 2 * MiB});
  fa_.reserve({0, 1 * MiB});
  const size_t free_before = fa_.free_frames();
  const size_t usable_before = fa_.usable_frames();
  EXPECT_FALSE(fa_.free(0));          // frame 0, always reserved
  EXPECT_FALSE(fa_.free(0x9000));     // explicitly reserved
  fa_.add_free({0, 0});
  EXPECT_EQ(fa_.free_frames(), free_before);
  EXPECT_EQ(fa_.usable_frames(), usable_before);

  FrameAllocator sparse;
  std::vector<uint64_t> storage(FrameAllocator::storage_words_for(2 * MiB));
  ASSERT_TRUE(sparse.init(storage.data(), storage.size(), 2 * MiB));
  sparse.add_free({1 * MiB, 2 * MiB});
  EXPECT_FALSE(sparse.free(0x80000));  // a hole: never RAM
  EXPECT_EQ(sparse.free_frames(), 256u);
}

TEST_F(FrameAllocatorTest, RefusesFreeOfUnalignedOrOutOfRangeAddresses) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x14000});
  const uint64_t a = fa_.alloc();
  EXPECT_FALSE(fa_.free(a + 1));
  EXPECT_FALSE(fa_.free(a + kFrameSize / 2));
  EXPECT_FALSE(fa_.free(1 * MiB));
  EXPECT_FALSE(fa_.free(UINT64_MAX & ~(kFrameSize - 1)));
  EXPECT_EQ(fa_.free_frames(), 3u);
  EXPECT_TRUE(fa_.free(a));
}

// --- Contiguous allocation --------------------------------------------------

TEST_F(FrameAllocatorTest, ContiguousAllocationsAreAlignedAndDisjoint) {
  init(64 * MiB);
  fa_.add_free({0x1000, 64 * MiB});
  // Fragment the pool so that the runs must skip holes.
  for (int i = 0; i < 5; ++i) (void)fa_.alloc();
  std::vector<uint64_t> pages;
  for (;;) {
    const uint64_t pa = fa_.alloc_contiguous(512, 512);
    if (pa == 0) break;
    EXPECT_EQ(pa % (2 * MiB), 0u);
    pages.push_back(pa);
  }
  // [0, 2 MiB) holds frame 0 and the fragments; the other 31 fit.
  EXPECT_EQ(pages.size(), 31u);
  const std::set<uint64_t> distinct(pages.begin(), pages.end());
  EXPECT_EQ(distinct.size(), pages.size());  // 2 MiB-aligned and distinct => disjoint
  for (uint64_t pa : pages) EXPECT_GE(pa, 2 * MiB);
  // The single frames left over are still there for alloc().
  EXPECT_EQ(fa_.free_frames(), 511u - 5u);
  for (uint64_t pa : drain()) EXPECT_LT(pa, 2 * MiB);
}

TEST_F(FrameAllocatorTest, ContiguousAllocationSkipsRunsBrokenByReservedFrames) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x30000});
  fa_.reserve({0x17000, 0x18000});
  // 16 frames starting at 0x10000 would include the reserved one.
  const uint64_t pa = fa_.alloc_contiguous(16, 16);
  EXPECT_EQ(pa, 0x20000u);
  EXPECT_EQ(fa_.alloc_contiguous(16, 16), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(8, 1), 0x18000u);  // the largest run left over
  EXPECT_EQ(fa_.alloc_contiguous(8, 1), 0u);
  EXPECT_EQ(fa_.free_frames(), 7u);
}

TEST_F(FrameAllocatorTest, ContiguousAllocationHonoursNonPowerOfTwoAlignment) {
  init(1 * MiB);
  fa_.add_free({0x1000, 0x20000});
  const uint64_t a = fa_.alloc_contiguous(2, 3);
  const uint64_t b = fa_.alloc_contiguous(2, 3);
  EXPECT_EQ(a, 3 * kFrameSize);
  EXPECT_EQ(b, 6 * kFrameSize);
}

TEST_F(FrameAllocatorTest, ContiguousAllocationTreatsAlignmentZeroAsOne) {
  init(1 * MiB);
  fa_.add_free({0x1000, 0x4000});
  EXPECT_EQ(fa_.alloc_contiguous(3, 0), 0x1000u);
}

TEST_F(FrameAllocatorTest, ContiguousAllocationFailsForZeroFramesOrTooLargeRequests) {
  init(1 * MiB);
  fa_.add_free({0x1000, 1 * MiB});
  EXPECT_EQ(fa_.alloc_contiguous(0, 1), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(256, 1), 0u);                // 255 usable
  EXPECT_EQ(fa_.alloc_contiguous(1, SIZE_MAX), 0u);           // alignment past the end
  EXPECT_EQ(fa_.alloc_contiguous(SIZE_MAX, 1), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(255, 1), 0x1000u);
  EXPECT_EQ(fa_.free_frames(), 0u);
}

TEST_F(FrameAllocatorTest, FreeContiguousIsAllOrNothing) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x20000});
  const uint64_t run = fa_.alloc_contiguous(8, 8);
  ASSERT_EQ(run, 0x10000u);
  ASSERT_TRUE(fa_.free(run + 3 * kFrameSize));
  const size_t before = fa_.free_frames();

  EXPECT_FALSE(fa_.free_contiguous(run, 8));  // frame 3 is already free
  EXPECT_EQ(fa_.free_frames(), before);
  EXPECT_FALSE(fa_.free_contiguous(run, 0));
  EXPECT_FALSE(fa_.free_contiguous(run + 1, 3));
  EXPECT_FALSE(fa_.free_contiguous(run, SIZE_MAX));
  EXPECT_EQ(fa_.free_frames(), before);

  EXPECT_TRUE(fa_.free_contiguous(run, 3));
  EXPECT_TRUE(fa_.free_contiguous(run + 4 * kFrameSize, 4));
  EXPECT_EQ(fa_.free_frames(), 16u);
}

TEST_F(FrameAllocatorTest, FreeContiguousRefusesRunsThatIncludeReservedFrames) {
  init(1 * MiB);
  fa_.add_free({0x10000, 0x20000});
  const uint64_t run = fa_.alloc_contiguous(4, 1);
  fa_.reserve({run + kFrameSize, run + 2 * kFrameSize});
  EXPECT_FALSE(fa_.free_contiguous(run, 4));
  EXPECT_TRUE(fa_.free(run));
  EXPECT_TRUE(fa_.free_contiguous(run + 2 * kFrameSize, 2));
  EXPECT_EQ(fa_.free_frames(), 15u);
}

// --- Windows, RAM above 4 GiB, moving the storage ---------------------------

// QEMU's PC with 8 GiB: 3 GiB below the PCI hole, 5 GiB from 4 GiB up, as
// the kernel's usable_ranges() makes of its memory map.
const std::vector<PhysRange> kQemu8GiB = {{0, 0x9f000}, {0x100000, 0xbffe0000}, {4 * GiB, 9 * GiB}};

TEST_F(FrameAllocatorTest, TracksRamAbove4GiBAcrossThePciHoleAndHandsOutNothingInTheHoles) {
  init(9 * GiB);
  uint64_t ram = 0;
  for (const PhysRange& r : kQemu8GiB) fa_.add_free(r), ram += r.end - r.base;
  fa_.reserve({0, 1 * MiB});
  EXPECT_EQ(fa_.ignored_bytes(), 0u);
  EXPECT_EQ(fa_.usable_frames(), (ram - 0x9f000) / kFrameSize);  // all but low memory
  // Every frame once, none in a hole: a bitmap, not a std::set, for 2 M frames.
  std::vector<bool> seen(9 * GiB / kFrameSize);
  size_t n = 0, above = 0;
  for (uint64_t pa; (pa = fa_.alloc()) != 0; ++n) {
    ASSERT_FALSE(seen[pa / kFrameSize]) << std::hex << pa;
    seen[pa / kFrameSize] = true;
    ASSERT_TRUE((pa >= 1 * MiB && pa < 0xbffe0000) || pa >= 4 * GiB) << "in a hole: " << std::hex << pa;
    above += pa >= 4 * GiB;
  }
  EXPECT_EQ(n, (ram - 0x9f000) / kFrameSize);
  EXPECT_EQ(above, 5 * GiB / kFrameSize);
}

TEST_F(FrameAllocatorTest, WindowedAllocationGivesTheLowestRunInsideTheWindow) {
  init(9 * GiB);
  for (const PhysRange& r : kQemu8GiB) fa_.add_free(r);
  fa_.reserve({0, 1 * MiB});
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {4 * GiB, 9 * GiB}), 4 * GiB);
  // 2 MiB-aligned guest backing above 4 GiB: the next aligned run.
  EXPECT_EQ(fa_.alloc_contiguous(512, 512, {4 * GiB, 9 * GiB}), 4 * GiB + 2 * MiB);
  // The top frame of RAM, and nothing past it.
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {9 * GiB - kFrameSize, 9 * GiB}), 9 * GiB - kFrameSize);
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {9 * GiB - kFrameSize, 10 * GiB}), 0u);
  // A window in the PCI hole holds no RAM; one straddling it starts past it.
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {3 * GiB, 4 * GiB}), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(512, 512, {0xbff00000, 5 * GiB}), 4 * GiB + 4 * MiB);
  // Rounded inward: a window whose first frame is partial starts at the next.
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {1 * MiB + 1, 2 * MiB}), 1 * MiB + kFrameSize);
  // Empty or frame-less windows.
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {2 * MiB, 2 * MiB}), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {2 * MiB + 1, 2 * MiB + kFrameSize}), 0u);
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {~uint64_t{0} - 10, ~uint64_t{0}}), 0u);
}

TEST_F(FrameAllocatorTest, WindowBelow4GiBNeverSpillsAboveItWhenLowMemoryRunsOut) {
  init(9 * GiB);
  fa_.add_free({1 * MiB, 1 * MiB + 3 * kFrameSize});
  fa_.add_free({4 * GiB, 5 * GiB});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fa_.alloc_contiguous(1, 1, {0, 4 * GiB}), 1 * MiB + i * kFrameSize);
  EXPECT_EQ(fa_.alloc_contiguous(1, 1, {0, 4 * GiB}), 0u);
  EXPECT_EQ(fa_.alloc(), 4 * GiB);  // the unwindowed call goes on above
}

TEST_F(FrameAllocatorTest, AlignedRunsAbove4GiBSkipHolesThatBreakThem) {
  init(5 * GiB);
  fa_.add_free({4 * GiB, 4 * GiB + 3 * MiB});
  fa_.add_free({4 * GiB + 5 * MiB, 4 * GiB + 9 * MiB});
  EXPECT_EQ(fa_.alloc_contiguous(512, 512), 4 * GiB);
  EXPECT_EQ(fa_.alloc_contiguous(512, 512), 4 * GiB + 6 * MiB);  // [2M, 4M) has the hole
  EXPECT_EQ(fa_.alloc_contiguous(512, 512), 0u);                 // [8M, 10M) runs past the RAM
  EXPECT_EQ(fa_.free_frames(), (1 * MiB + 1 * MiB + 1 * MiB) / kFrameSize);
}

TEST_F(FrameAllocatorTest, RebaseKeepsEveryStateWhenTheStorageIsReachedElsewhere) {
  init(64 * MiB);
  fa_.add_free({0, 64 * MiB});
  fa_.reserve({0, 1 * MiB});
  const uint64_t a = fa_.alloc(), b = fa_.alloc_contiguous(512, 512);
  // The same bytes at another address (the kernel: identity map -> direct
  // map); the old address must not be touched again.
  std::vector<uint64_t> moved(storage_);
  std::fill(storage_.begin(), storage_.end(), ~uint64_t{0});
  fa_.rebase(moved.data());
  EXPECT_FALSE(fa_.free(0x1000));  // still reserved
  EXPECT_TRUE(fa_.free(a));
  EXPECT_FALSE(fa_.free(a));  // still knows it is free
  EXPECT_TRUE(fa_.free_contiguous(b, 512));
  EXPECT_EQ(fa_.free_frames(), 63 * MiB / kFrameSize);
  EXPECT_EQ(drain().size(), 63 * MiB / kFrameSize);
  for (uint64_t w : storage_) EXPECT_EQ(w, ~uint64_t{0});
}

// --- Against a reference model ----------------------------------------------

TEST_F(FrameAllocatorTest, AgreesWithAReferenceModelUnderRandomOperations) {
  enum class State { Absent, Free, Allocated, Reserved };
  constexpr uint64_t kMax = 3 * MiB + 5 * kFrameSize;  // not a whole number of words
  constexpr size_t kFrames = kMax / kFrameSize;
  init(kMax);
  std::vector<State> model(kFrames, State::Absent);
  model[0] = State::Reserved;
  std::mt19937_64 rng(42);

  auto check_counts = [&] {
    size_t free_n = 0, usable_n = 0;
    for (State s : model) {
      free_n += s == State::Free;
      usable_n += s == State::Free || s == State::Allocated;
    }
    ASSERT_EQ(fa_.free_frames(), free_n);
    ASSERT_EQ(fa_.usable_frames(), usable_n);
  };
  auto random_range = [&] {
    const uint64_t a = rng() % (kMax + 64 * kFrameSize);
    return PhysRange{a, a + rng() % (256 * kFrameSize)};
  };

  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 8) {
      case 0: {  // add_free, rounded inward
        const PhysRange r = random_range();
        const uint64_t b = (r.base + kFrameSize - 1) / kFrameSize;
        for (uint64_t f = b; (f + 1) * kFrameSize <= r.end && f < kFrames; ++f)
          if (model[f] == State::Absent) model[f] = State::Free;
        fa_.add_free(r);
        break;
      }
      case 1: {  // reserve, rounded outward; rarer, or the pool dries up
        if (rng() % 4 != 0) break;
        PhysRange r = random_range();
        r.end = r.base + (r.end - r.base) / 16;
        if (r.end > r.base)
          for (uint64_t f = r.base / kFrameSize; f * kFrameSize < r.end && f < kFrames; ++f) model[f] = State::Reserved;
        fa_.reserve(r);
        break;
      }
      case 2:
      case 3: {
        const uint64_t pa = fa_.alloc();
        if (pa == 0) {
          for (State s : model) ASSERT_NE(s, State::Free);
        } else {
          ASSERT_EQ(model[pa / kFrameSize], State::Free);
          model[pa / kFrameSize] = State::Allocated;
        }
        break;
      }
      case 4: {
        const size_t n = 1 + rng() % 40;
        const size_t align = 1 + rng() % 16;
        // Half the time inside a random window (frames [lo, hi) wholly in it).
        const bool windowed = rng() % 2;
        const PhysRange w = windowed ? random_range() : PhysRange{0, ~uint64_t{0}};
        const uint64_t lo = (w.base + kFrameSize - 1) / kFrameSize;
        const uint64_t hi = std::min<uint64_t>(kFrames, w.end / kFrameSize);
        const uint64_t pa = windowed ? fa_.alloc_contiguous(n, align, w) : fa_.alloc_contiguous(n, align);
        // The lowest aligned run of free frames in the window, or kFrames.
        size_t want = kFrames;
        for (size_t s = (lo + align - 1) / align * align; s + n <= hi && want == kFrames; s += align) {
          bool all = true;
          for (size_t i = 0; i < n && all; ++i) all = model[s + i] == State::Free;
          if (all) want = s;
        }
        if (pa != 0) {
          ASSERT_EQ(pa / kFrameSize, want);
          for (size_t i = 0; i < n; ++i) model[pa / kFrameSize + i] = State::Allocated;
        } else {
          ASSERT_EQ(want, kFrames) << "missed a run at frame " << want;
        }
        break;
      }
      case 5:
      case 6: {  // free any frame: the model says whether it must succeed
        const uint64_t f = rng() % (kFrames + 8);
        const uint64_t pa = f * kFrameSize + (rng() % 16 == 0 ? 8 : 0);
        const bool ok = pa % kFrameSize == 0 && f < kFrames && model[f] == State::Allocated;
        ASSERT_EQ(fa_.free(pa), ok);
        if (ok) model[f] = State::Free;
        break;
      }
      default: {
        const uint64_t f = rng() % (kFrames + 8);
        const size_t n = rng() % 8;
        bool ok = n > 0 && f + n <= kFrames;
        for (size_t i = 0; ok && i < n; ++i) ok = model[f + i] == State::Allocated;
        ASSERT_EQ(fa_.free_contiguous(f * kFrameSize, n), ok);
        if (ok)
          for (size_t i = 0; i < n; ++i) model[f + i] = State::Free;
        break;
      }
    }
    check_counts();
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace hv::mm
