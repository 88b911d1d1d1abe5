// Eager page splitting (seed 002). Its baseline, eager_split=0, is in the
// fault path (mm/page_table.cpp): KVM's behaviour before seed 002, where a
// write fault drops the huge SPTE and the range comes back 4K by 4K.
//
// A huge leaf is replaced by a fully populated child table in one cmpxchg:
//  1. allocate the child table: non-blocking first (the page cache or a
//     kNoWait allocation, as GFP_NOWAIT under the MMU lock); on failure the
//     caller drops the lock, allocates with kMayBlock and tries again;
//  2. fill the 512 children: same frame run, memory type, IPAT and rights,
//     W removed when logging (MMU-writable kept, so the fast path can
//     restore it page by page); with PML, 4K children keep or regain W and
//     lose D instead, so that the processor logs them;
//  3. add every child to the rmap *before* the table becomes reachable: once
//     installed a child can be made writable by the lockless fast path, and
//     a writable SPTE must be findable through the rmap before its dirty bit
//     is set (seed 000);
//  4. cmpxchg the huge SPTE into the non-leaf entry. If it changed meanwhile
//     (lockless write-protection cleared its W), undo 3 and retry; the unused
//     table is freed after a grace period (walkers may have seen its children
//     through the rmap);
//  5. remove the huge SPTE from its rmap. The TLB flush is the caller's,
//     batched and outside the lock.
#include "mm/mmu.h"

namespace hv::mm {

using namespace ept;

namespace {

// PML logs 4K pages by D, not W: a 4K child is writable with D clear, even
// when its parent was a write-protected huge page (the 2M children of a 1G
// split are; split again they would stay W-clear, logged by faults).
constexpr uint64_t pml_logged(uint64_t child) {
  return dirty_cleared(is_mmu_writable(child) ? fast_fix_writable(child) : child);
}

}  // namespace

int Mmu::split_huge_locked(const Memslot& s, Spte* sp, int level, uint64_t gfn, bool wp) {
  uint64_t old = sp->load(std::memory_order_acquire);
  if (level < 2 || !is_present(old) || !is_large(old)) return -kEINVAL;
  const uint64_t child_pa = alloc_table_locked(level - 1, true);  // pool or kNoWait
  if (!child_pa) return -kENOMEM;
  Spte* c = table(child_pa);
  const int cl = level - 1;
  const uint64_t span = pages_per_level(cl);
  for (;;) {
    for (unsigned i = 0; i < 512; ++i) {
      uint64_t v = make_split_child(old, level, i);
      if (wp) v = sw_.pml && cl == 1 ? pml_logged(v) : write_protected(v);
      c[i].store(v, std::memory_order_relaxed);
    }
    unsigned added = 0;
    for (; added < 512; ++added)
      if (rmap_.add(s.rmap_head(gfn + added * span, cl), &c[added], AllocMode::kNoWait) < 0) break;
    if (added == 512 &&
        sp->compare_exchange_strong(old, make_nonleaf(child_pa), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      rmap_.remove(s.rmap_head(gfn, level), sp);
      stats_.splits.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    for (unsigned i = 0; i < added; ++i) rmap_.remove(s.rmap_head(gfn + i * span, cl), &c[i]);
    if (added < 512) {
      free_table_deferred(child_pa);
      return -kENOMEM;
    }
    if (!is_present(old) || !is_large(old)) {  // zapped under us: nothing to split
      free_table_deferred(child_pa);
      return -kEAGAIN;
    }
    // `old` now holds the new value (W cleared by a harvester): refill.
  }
}

long Mmu::split_range(uint32_t slot_id, uint64_t gfn, uint64_t n, bool wp) {
  const Memslot* s = slots()->by_id(slot_id);
  if (!s) return -kEINVAL;
  if (gfn < s->base_gfn || n > s->npages || gfn - s->base_gfn > s->npages - n) return -kEINVAL;
  if (n == 0) return 0;
  long splits = 0;
  bool flush = false;
  // 1G first: its 2M children are then split in the 2M pass.
  for (int l = 3; l >= 2; --l) {
    const uint64_t first = gfn >> (9 * (l - 1));
    const uint64_t last = (gfn + n - 1) >> (9 * (l - 1));
    for (uint64_t idx = first; idx <= last; ++idx) {
      RmapHead* h = &s->rmap[l - 1][idx - s->rmap_base[l - 1]];
      for (;;) {
        mmu_lock_.lock();
        Spte* sp = nullptr;
        rmap_.walk_locked(h, [&sp](Spte* x) { if (!sp) sp = x; });
        if (!sp) {
          mmu_lock_.unlock();
          break;
        }
        const int r = split_huge_locked(*s, sp, l, idx << (9 * (l - 1)), wp);
        mmu_lock_.unlock();
        if (r == 0) {
          ++splits;
          flush = true;
          continue;
        }
        if (r == -kEAGAIN) continue;
        if (r != -kENOMEM) return r;
        // Fallback: the non-blocking allocation failed; allocate with the
        // lock dropped (KVM's GFP_KERNEL retry), then try again.
        stats_.split_alloc_fallbacks.fetch_add(1, std::memory_order_relaxed);
        if (!descs_->reserve(512 / PteListDesc::kExt + 2, AllocMode::kMayBlock)) return -kENOMEM;
        mmu_lock_.lock();
        const bool ok = topup_locked(1);
        mmu_lock_.unlock();
        if (!ok) return -kENOMEM;
      }
    }
  }
  if (flush) flush_tlb();
  if (need_barrier_) {
    need_barrier_ = false;
    epoch_->barrier();
  }
  return splits;
}

}  // namespace hv::mm
