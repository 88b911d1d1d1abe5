// Memslots: KVM_SET_USER_MEMORY_REGION over a copy-on-write slot array.
#include <new>

#include "mm/mmu.h"

namespace hv::mm {

namespace {
PageMeta* meta_of(EpochCallback* cb) { return reinterpret_cast<PageMeta*>(cb); }
uint64_t pages_for(uint64_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }
}  // namespace

void Mmu::free_pages_cb(EpochCallback* cb) {
  PageMeta* m = meta_of(cb);
  static_cast<Mmu*>(m->owner)->p_->free(m->pa, m->aux2);
}

void Mmu::free_deferred(uint64_t pa, size_t pages) {
  if (!pa) return;
  PageMeta* m = p_->meta(pa);
  m->owner = this;
  m->pa = pa;
  m->aux2 = pages;
  deferred_ = true;
  if (!epoch_->call(&m->rcu, &free_pages_cb)) need_barrier_ = true;
}

// A memslot update returns once what it freed is free. The epoch's
// callbacks otherwise run only where some CPU idles (the kernel's scheduler
// polls there) or past the callback bound: a control guest that kept every
// CPU busy while it mapped and unmapped windows held the freed rmaps,
// bitmaps and slot arrays until the host ran out of memory (the review's
// finding). KVM waits for SRCU's grace period at every memslot update
// (kvm_swap_active_memslots) for the same reason.
void Mmu::settle_frees() {
  if (!need_barrier_ && !deferred_) return;
  need_barrier_ = deferred_ = false;
  epoch_->barrier();
}

bool Mmu::alloc_slot_storage(Memslot& s, bool bitmap) {
  if (bitmap) {
    // Twice the bitmap: the second half is the harvest snapshot (seed 003's
    // dirty_bitmap_buffer), so get_dirty_log needs no allocation.
    const uint64_t pages = pages_for(2 * s.bitmap_words() * 8);
    const uint64_t pa = p_->alloc(pages, AllocMode::kMayBlock);
    if (!pa) return false;
    auto* w = p_->va<std::atomic<uint64_t>>(pa);
    for (uint64_t i = 0; i < pages * kPageSize / 8; ++i) w[i].store(0, std::memory_order_relaxed);
    s.dirty_bitmap = w;
    s.bitmap_pa = pa;
    s.bitmap_pages = pages;
    return true;
  }
  for (int l = 1; l <= 3; ++l) {
    const uint64_t first = s.base_gfn >> (9 * (l - 1));
    const uint64_t last = (s.end_gfn() - 1) >> (9 * (l - 1));
    const uint64_t pages = pages_for((last - first + 1) * sizeof(RmapHead));
    const uint64_t pa = p_->alloc(pages, AllocMode::kMayBlock);
    if (!pa) {
      for (int k = 1; k < l; ++k) p_->free(s.rmap_pa[k - 1], s.rmap_pages[k - 1]);
      return false;
    }
    auto* h = p_->va<RmapHead>(pa);
    for (uint64_t i = 0; i < pages * kPageSize / sizeof(RmapHead); ++i)
      new (&h[i]) RmapHead();
    s.rmap[l - 1] = h;
    s.rmap_pa[l - 1] = pa;
    s.rmap_pages[l - 1] = pages;
    s.rmap_base[l - 1] = first;
  }
  return true;
}

void Mmu::free_slot_storage_deferred(const Memslot& s, bool rmaps, bool bitmap) {
  if (rmaps)
    for (int l = 0; l < 3; ++l) free_deferred(s.rmap_pa[l], s.rmap_pages[l]);
  if (bitmap) free_deferred(s.bitmap_pa, s.bitmap_pages);
}

void Mmu::publish(MemslotArray* next) {  // MMU lock held
  // Copy-on-write: readers hold the old array until their grace period ends;
  // the caller retires it (retire_array()) once the lock is dropped.
  next->generation = generation() + 1;
  // MMIO generations (seed 004): before a generation whose low bits wrap to 0
  // becomes visible, every MMIO SPTE goes, so no stale SPTE can match again.
  if (sw_.mmio_gen && (next->generation & ept::kMmioGenMask) == 0) {
    zap_mmio_table_locked(root_pa_, ept::kMaxLevel);
    stats_.mmio_wrap_zaps.fetch_add(1, std::memory_order_relaxed);
  }
  slots_pa_ = p_->pa(next);
  slots_.store(next, std::memory_order_release);
  // After the slots: a fault that reads the new generation (acquire) then
  // reads the new slots.
  generation_.store(next->generation, std::memory_order_release);
  mmio_on_memslot_change();
}

namespace {

// What a change needs, taken before anything changes: a failure leaves the
// slots as they were.
struct Prepared {
  uint64_t arrays[2] = {0, 0};  // [0]: the delete half of a move or a delete; [1]: the new layout
  Memslot fresh;                // a created (or moved) slot's rmaps
  bool has_fresh = false;
  size_t tables = 0;            // reserved for the fresh slot
  Memslot bitmap;               // logging on: the bitmap storage
  bool has_bitmap = false;
};

}  // namespace

int Mmu::set_memory_region(uint32_t id, uint64_t base_gfn, uint64_t npages, uint64_t backing_pfn,
                           uint32_t flags) {
  if (id >= kMaxMemslots) return -kEINVAL;
  if (flags & ~(kLogDirtyPages | kReadOnly)) return -kEINVAL;
  const uint64_t gfn_limit = uint64_t{1} << (cfg_.phys_bits - 12);
  if (npages > gfn_limit || base_gfn > gfn_limit - npages) return -kEINVAL;
  if (npages && (backing_pfn > gfn_limit - npages)) return -kEINVAL;
  const MemslotArray* cur = slots();
  const Memslot* old = cur->by_id(id);
  if (npages == 0 && !old) return -kEINVAL;
  if (npages) {
    for (uint32_t i = 0; i < cur->count; ++i) {
      const Memslot& o = cur->slots[i];
      if (o.id != id && base_gfn < o.end_gfn() && o.base_gfn < base_gfn + npages) return -kEEXIST;
    }
  }
  if (old && npages && ((old->flags ^ flags) & kReadOnly)) return -kEINVAL;  // as KVM

  const bool layout_change = !old || npages == 0 || old->base_gfn != base_gfn ||
                             old->npages != npages || old->backing_pfn != backing_pfn;
  const bool deletes = old && layout_change;
  const bool logs_before = old && !layout_change && (old->flags & kLogDirtyPages);
  const bool log_on = npages && (flags & kLogDirtyPages) && !logs_before;
  const bool log_off = logs_before && !(flags & kLogDirtyPages);
  // Teardown must never fail for want of memory: a delete, or logging off.
  const bool teardown = npages == 0 || (!layout_change && !log_on);

  // ---- everything this change needs, or -ENOMEM and nothing changed ----
  Prepared pr;
  int err = 0;
  if (deletes && !(pr.arrays[0] = alloc_array(teardown))) err = -kENOMEM;
  if (!err && npages && !(pr.arrays[1] = alloc_array(teardown))) err = -kENOMEM;
  if (!err && npages && layout_change) {
    pr.fresh.id = id;
    pr.fresh.base_gfn = base_gfn;
    pr.fresh.npages = npages;
    pr.fresh.backing_pfn = backing_pfn;
    if (!alloc_slot_storage(pr.fresh, false)) err = -kENOMEM;
    else pr.has_fresh = true;
    if (!err) {
      pr.tables = tables_for(base_gfn, npages);
      if ((err = reserve_tables(pr.tables)) != 0) pr.tables = 0;
    }
  }
  if (!err && log_on) {
    pr.bitmap.npages = npages;
    if (!alloc_slot_storage(pr.bitmap, true)) err = -kENOMEM;
    else pr.has_bitmap = true;
  }
  if (err) {
    for (uint64_t pa : pr.arrays)
      if (pa) retire_array(pa);  // refills the spare if a teardown took it
    if (pr.has_fresh)
      for (int l = 0; l < 3; ++l) p_->free(pr.fresh.rmap_pa[l], pr.fresh.rmap_pages[l]);
    if (pr.tables) unreserve_tables(pr.tables);
    if (pr.has_bitmap) p_->free(pr.bitmap.bitmap_pa, pr.bitmap.bitmap_pages);
    return err;
  }

  if (deletes) {
    // Delete (and, for a move or resize, create again below). The slot
    // leaves the array first so that no new fault maps its range, then its
    // SPTEs are zapped with the old array (whose rmaps they are in).
    const Memslot gone = *old;
    auto* next = new (p_->va(pr.arrays[0])) MemslotArray(*cur);
    uint32_t k = 0;
    for (uint32_t i = 0; i < next->count; ++i)
      if (next->slots[i].id != id) next->slots[k++] = next->slots[i];
    next->count = k;
    bool flush = false;
    const uint64_t old_pa = slots_pa_;
    mmu_lock_.lock();
    zap_table_locked(root_pa_, ept::kMaxLevel, 0, gone.base_gfn, gone.end_gfn(), cur, &flush);
    publish(next);
    mmu_lock_.unlock();
    if (flush) flush_tlb();
    retire_array(old_pa);
    free_slot_storage_deferred(gone, true, true);
    unreserve_tables(tables_for(gone.base_gfn, gone.npages));
    if (npages == 0) {
      settle_frees();
      return 0;
    }
    cur = slots();
    old = nullptr;
  }

  auto* next = new (p_->va(pr.arrays[1])) MemslotArray(*cur);
  Memslot s = old ? *old : pr.fresh;
  const Memslot before = s;
  s.flags = flags;
  if (log_on) {
    s.dirty_bitmap = pr.bitmap.dirty_bitmap;
    s.bitmap_pa = pr.bitmap.bitmap_pa;
    s.bitmap_pages = pr.bitmap.bitmap_pages;
    if (cfg_.manual_protect && cfg_.initially_set) {
      // Initially-set: every page reported dirty until cleared; no up-front
      // write-protection (nor split: that happens at clear time).
      for (size_t w = 0; w < s.bitmap_words(); ++w) {
        const uint64_t left = s.npages - w * 64;
        s.dirty_bitmap[w].store(left >= 64 ? ~uint64_t{0} : (uint64_t{1} << left) - 1,
                                std::memory_order_relaxed);
      }
    }
  }
  if (log_off) {
    s.dirty_bitmap = nullptr;
    s.bitmap_pa = 0;
    s.bitmap_pages = 0;
  }
  // Insert or replace, keeping base_gfn order.
  uint32_t k = 0;
  for (uint32_t i = 0; i < next->count; ++i)
    if (next->slots[i].id != id) next->slots[k++] = next->slots[i];
  next->count = k;
  uint32_t pos = 0;
  while (pos < next->count && next->slots[pos].base_gfn < s.base_gfn) ++pos;
  for (uint32_t i = next->count; i > pos; --i) next->slots[i] = next->slots[i - 1];
  next->slots[pos] = s;
  ++next->count;
  const uint64_t old_pa = slots_pa_;
  mmu_lock_.lock();
  publish(next);
  mmu_lock_.unlock();
  retire_array(old_pa);
  if (log_off) {
    free_slot_storage_deferred(before, false, true);
    recover_huge_pages(*slots()->by_id(id));
  }
  if (log_on) {
    // A fast page fault that looked the slot up in the old array (no bitmap)
    // may still be about to set W on an SPTE that logging-off left W-clear
    // and MMU-writable; write-protecting now would find W clear and miss it,
    // and its dirty bit would go to the old slot: the page writable and
    // unlogged for good. The fast fault is one read section from its lookup
    // to its dirty bit, so after a grace period every fault that saw the old
    // array has made its SPTE change visible to the walks below (and to the
    // clears of initially-set), and every later one sees the bitmap. KVM
    // waits for SRCU between installing the memslots and write-protecting
    // for the same reason. (MmuTest.EnablingLoggingDuringAFastFaultLosesNoWrite)
    epoch_->synchronize();
  }
  if (log_on && !(cfg_.manual_protect && cfg_.initially_set)) {
    // Logging starts: split huge pages (seed 002) and write-protect the slot.
    const Memslot* now = slots()->by_id(id);
    if (sw_.eager_split) split_range(id, now->base_gfn, now->npages, true);
    if (write_protect_slot(*now)) flush_tlb();
  }
  settle_frees();
  return 0;
}

}  // namespace hv::mm
