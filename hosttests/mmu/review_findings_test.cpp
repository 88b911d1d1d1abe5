// The outside review's findings on the MMU under memory pressure, as specifications:
// a slot's reserved tables stay enough after a neighbour is deleted, and a
// failed Mmu::init gives back what it took.
#include "mm/mmu.h"

#include <gtest/gtest.h>

#include "hosttests/mmu/host_platform.h"

namespace hv::mm {
namespace {

using namespace ept;
constexpr uint64_t k2M = 512;

// A platform that forwards to the arena's but fails allocation number fail_at (1-based) and after.
struct Wrap {
  const Platform* in;
  int n = 0, fail_at = 1 << 30;
};
Wrap* W(void* c) { return static_cast<Wrap*>(c); }
Platform wrap(Wrap& w) {
  Platform p;
  p.ctx = &w;
  p.phys_to_virt = [](void* c, uint64_t pa) { return W(c)->in->phys_to_virt(W(c)->in->ctx, pa); };
  p.virt_to_phys = [](void* c, const void* va) { return W(c)->in->virt_to_phys(W(c)->in->ctx, va); };
  p.alloc_pages = [](void* c, size_t n, AllocMode m) -> uint64_t {
    if (++W(c)->n >= W(c)->fail_at) return 0;
    return W(c)->in->alloc_pages(W(c)->in->ctx, n, m);
  };
  p.free_pages = [](void* c, uint64_t pa, size_t n) { W(c)->in->free_pages(W(c)->in->ctx, pa, n); };
  p.page_meta = [](void* c, uint64_t pa) { return W(c)->in->page_meta(W(c)->in->ctx, pa); };
  p.flush_tlb = [](void* c, uint64_t e) { W(c)->in->flush_tlb(W(c)->in->ctx, e); };
  p.cpu_id = [](void* c) { return W(c)->in->cpu_id(W(c)->in->ctx); };
  p.relax = [](void* c) { W(c)->in->relax(W(c)->in->ctx); };
  return p;
}

class MmuUnderPressure : public ::testing::Test {
 protected:
  void SetUp() override {
    host::set_cpu(0);
    e_.init(arena_.platform(), 1 << 16);
    ASSERT_TRUE(e_.cpu_online());
    ASSERT_TRUE(descs_.init(arena_.platform(), &e_, sizeof(PteListDesc)));
  }
  host::Arena arena_{12288};
  Epoch e_;
  ObjectCache descs_;
};

// docs/mmu.md "Memory": a slot's worst-case tables are reserved when it is
// created, so its faults map however little memory is left. That must stay
// true after a neighbouring slot is deleted: a deleted slot that did not
// cover whole 2M ranges used to leave its (now empty) table behind, still
// counted as allocated while its reservation was gone, so the pool was
// trimmed below what the remaining slot needs. Emptied tables, and tables
// left with only MMIO SPTEs, are now freed at the zap.
void SmallSlotChurn(Mmu& mmu, uint64_t slot1_pages, bool mmio) {
  // Slot 0: 8 MiB, backing misaligned: mapped through 4 level-1 tables, all reserved.
  ASSERT_EQ(mmu.set_memory_region(0, 0, 4 * k2M, 1, 0), 0);
  // Slot 1 at 256 MiB (a control guest's HV_HC_SET_MEMORY_REGION), touched once, deleted.
  ASSERT_EQ(mmu.set_memory_region(1, 0x10000, slot1_pages, 0x10000, 0), 0);
  ASSERT_EQ(mmu.handle_ept_violation(0x10000, true), Fault::kFixed);
  if (mmio) {
    ASSERT_EQ(mmu.handle_ept_violation(0x10000 + slot1_pages, false), Fault::kMmio);
  }
  ASSERT_EQ(mmu.set_memory_region(1, 0, 0, 0, 0), 0);
}

// With every other page of the host taken, slot 0's faults in each of its
// four 2M ranges (reserved at its creation) must still map.
void ExpectSlot0FaultsMapUnderPressure(Mmu& mmu, host::Arena& arena) {
  arena.set_fail_all(true);  // a hog took the rest of host memory
  Fault f[4];
  for (int i = 0; i < 4; ++i) f[i] = mmu.handle_ept_violation(uint64_t(i) * k2M, true);
  arena.set_fail_all(false);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(f[i], Fault::kFixed) << "slot 0 fault in 2M range " << i << " (reserved at creation) failed";
}

TEST_F(MmuUnderPressure, DeletedSmallSlotLeavesNoTableThatStarvesSlot0) {
  Mmu mmu;
  ASSERT_TRUE(mmu.init(arena_.platform(), &e_, &descs_, MmuSwitches()));
  SmallSlotChurn(mmu, 1, false);
  ExpectSlot0FaultsMapUnderPressure(mmu, arena_);
  mmu.destroy();
  e_.barrier();
}

// The same with an MMIO SPTE next to the deleted slot (HV_HC_REGISTER_MMIO).
TEST_F(MmuUnderPressure, DeletedSmallSlotWithAnMmioNeighbourLeavesNoTableThatStarvesSlot0) {
  Mmu mmu;
  ASSERT_TRUE(mmu.init(arena_.platform(), &e_, &descs_, MmuSwitches()));
  SmallSlotChurn(mmu, 1, true);
  ExpectSlot0FaultsMapUnderPressure(mmu, arena_);
  mmu.destroy();
  e_.barrier();
}

// Control: a deleted slot of a whole, aligned 2M range.
TEST_F(MmuUnderPressure, DeletedWhole2MSlotDoesNotStarveSlot0) {
  Mmu mmu;
  ASSERT_TRUE(mmu.init(arena_.platform(), &e_, &descs_, MmuSwitches()));
  SmallSlotChurn(mmu, k2M, false);
  ExpectSlot0FaultsMapUnderPressure(mmu, arena_);
  mmu.destroy();
  e_.barrier();
}

// Mmu::init failing after its first allocations leaves them allocated, and
// Vm::destroy() calls mmu_.destroy() only when init succeeded (mmu_ready_):
// a create_guest that fails there leaks the root table and the slot array.
TEST_F(MmuUnderPressure, AFailedInitGivesBackWhatItTook) {
  for (int fail_at = 1; fail_at <= 4; ++fail_at) {
    Wrap w{arena_.platform()};
    w.fail_at = fail_at;
    Platform p = wrap(w);
    const size_t before = arena_.allocated_pages();
    {
      Mmu mmu;
      bool ok = mmu.init(&p, &e_, &descs_, MmuSwitches());
      if (ok) { mmu.destroy(); e_.barrier(); continue; }
      // the kernel's Vm::destroy() does nothing more with the MMU (mmu_ready_ false)
    }
    e_.barrier();
    EXPECT_EQ(arena_.allocated_pages(), before) << "init failing at allocation #" << fail_at << " leaked pages";
  }
}

}  // namespace
}  // namespace hv::mm
