// Huge-page recovery when dirty logging stops: the way back from a split
// (KVM's kvm_mmu_zap_collapsible_sptes). While a slot logs, max_level() keeps
// it on 4K pages; once logging is off, a 2M range that could be mapped huge
// but is mapped through a table of 4K SPTEs is zapped as a whole, and the next
// fault there maps one 2M page again. Without this a guest whose migration
// was cancelled would run on 4K mappings for the rest of its life.
//
// Zapping rather than rebuilding: the 4K SPTEs may have been made writable by
// the lockless fast path a moment ago; only the fault path, under the MMU
// lock, knows how to install a leaf safely. A zapped SPTE is 0, so a fast
// fault still holding its old value fails its cmpxchg and goes slow; the
// table itself is freed after a grace period, as every table is.
//
// Recovery is to 2M. A 1G-capable range whose 2M pages come back one by one
// stays a table of 2M leaves (KVM recovers the largest level; we do not
// rebuild 1G, which no guest slot here is aligned for).
#include "mm/mmu.h"

namespace hv::mm {

using namespace ept;

long Mmu::recover_huge_pages(const Memslot& s) {
  constexpr uint64_t kSpan = pages_per_level(2);
  long recovered = 0;
  bool flush = false;
  const uint64_t first = (s.base_gfn + kSpan - 1) & ~(kSpan - 1);
  for (uint64_t g = first; g + kSpan <= s.end_gfn(); g += kSpan) {
    if (max_level(s, g) < 2) continue;  // backing not 2M aligned: 4K forever
    // The lock per 2M range: faults (and the vCPUs behind them) get in
    // between, as KVM's cond_resched in the same walk.
    LockGuard lock(mmu_lock_);
    int level = 2;
    // Returns the level-1 entry only when the level-2 entry is a table.
    if (!entry_locked(g, &level, false) || level != 1) continue;
    zap_table_locked(root_pa_, kMaxLevel, 0, g, g + kSpan, slots(), &flush);
    ++recovered;
  }
  if (flush) flush_tlb();
  stats_.recovered_huge.fetch_add(static_cast<uint64_t>(recovered), std::memory_order_relaxed);
  return recovered;
}

}  // namespace hv::mm
