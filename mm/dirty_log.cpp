// Dirty-log harvest (seed 003) with lockless write-protection (seed 000).
//
// For each 64-page word, in this order:
//   1. take a snapshot of the word and clear it with one xchg;
//   2. write-protect the pages of the snapshot (clear W only);
//   3. after all words: one TLB flush, if any W bit was cleared;
//   4. copy the snapshot out.
// Between 2 and 3 the guest may still write a page through a stale writable
// TLB entry: that page is already in the snapshot (reported at step 4), and
// after step 3 every further write faults, sets the bit again and is reported
// by the next harvest. Nothing is lost; a page may be reported twice.
// With manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) get only copies
// the bitmap and clear_dirty_log() does steps 1-3 for the bits it is given.
//
// With PML (dirty_log=pml) step 2 clears D instead of W: the page stays
// writable and its next write, once the flush has dropped the cached D,
// sets D again and adds a page-modification log entry, which log_pml()
// turns into the dirty bit. The caller drains the logs before step 1.
#include "mm/mmu.h"

namespace hv::mm {

void Mmu::log_pml(const uint64_t* gpas, size_t n) {
  EpochReadGuard rg(*epoch_);
  const MemslotArray* a = slots();
  for (size_t i = 0; i < n; ++i) {
    // Bochs 2.7 writes the entry with the low 12 bits set: the gfn is what counts.
    const uint64_t gfn = gpas[i] >> 12;
    if (const Memslot* s = a->lookup(gfn)) mark_dirty(*s, gfn);
  }
  stats_.pml_entries.fetch_add(n, std::memory_order_relaxed);
}

void Mmu::mark_page_dirty(uint64_t gfn) {
  EpochReadGuard rg(*epoch_);
  if (const Memslot* s = slots()->lookup(gfn)) mark_dirty(*s, gfn);
}

int Mmu::get_dirty_log(uint32_t slot_id, uint64_t* out, size_t out_words) {
  EpochReadGuard rg(*epoch_);  // the slot array and its storage stay valid
  const Memslot* s = slots()->by_id(slot_id);
  if (!s) return -kEINVAL;
  if (!s->logging()) return -kENOENT;
  const size_t words = s->bitmap_words();
  if (!out || out_words < words) return -kEFAULT;
  std::atomic<uint64_t>* bitmap = s->dirty_bitmap;
  if (cfg_.manual_protect) {
    for (size_t i = 0; i < words; ++i) out[i] = bitmap[i].load(std::memory_order_acquire);
    return 0;
  }
  std::atomic<uint64_t>* snap = bitmap + words;  // second half: the buffer
  bool flush = false;
  const bool lockless = sw_.rmap_lockless;
  // The baseline (rmap_walk=locked) holds the MMU lock over the whole loop,
  // as KVM did before seed 000; the lockless one holds only the epoch.
  if (!lockless) mmu_lock_.lock();
  for (size_t i = 0; i < words; ++i) {
    if (bitmap[i].load(std::memory_order_relaxed) == 0) {
      snap[i].store(0, std::memory_order_relaxed);
      continue;
    }
    // acq_rel: synchronises with the release of mark_dirty(), so the rmap
    // walk below sees the SPTE that was made writable before the bit was set.
    const uint64_t mask = bitmap[i].exchange(0, std::memory_order_acq_rel);
    snap[i].store(mask, std::memory_order_relaxed);
    if (mask) flush |= wp_mask_walk(*s, s->base_gfn + i * 64, mask, lockless);
  }
  if (!lockless) mmu_lock_.unlock();
  if (flush) flush_tlb();  // one flush, outside the lock
  for (size_t i = 0; i < words; ++i) out[i] = snap[i].load(std::memory_order_relaxed);
  return 0;
}

int Mmu::clear_dirty_log(uint32_t slot_id, uint64_t first_page, uint64_t num_pages,
                         const uint64_t* bitmap) {
  if (!cfg_.manual_protect) return -kEINVAL;
  uint64_t base, npages;
  {
    EpochReadGuard rg(*epoch_);
    const Memslot* s = slots()->by_id(slot_id);
    if (!s) return -kEINVAL;
    if (!s->logging()) return -kENOENT;
    base = s->base_gfn;
    npages = s->npages;
  }
  if ((first_page & 63) != 0) return -kEINVAL;
  if (first_page > npages || num_pages > npages - first_page) return -kEINVAL;
  if ((num_pages & 63) != 0 && first_page + num_pages != npages) return -kEINVAL;
  if (num_pages == 0) return 0;
  if (!bitmap) return -kEFAULT;
  // Initially-set: huge pages are split when their bits are first cleared
  // (seed 002), before they are write-protected; as KVM, only those under
  // the span from the first to the last set bit of the mask.
  if (cfg_.initially_set && sw_.eager_split) {
    const size_t words = static_cast<size_t>((num_pages + 63) / 64);
    uint64_t lo = num_pages, hi = 0;
    for (size_t k = 0; k < words; ++k) {
      uint64_t mask = bitmap[k];
      if (num_pages - k * 64 < 64) mask &= (uint64_t{1} << (num_pages - k * 64)) - 1;
      if (!mask) continue;
      if (lo == num_pages) lo = k * 64 + static_cast<unsigned>(__builtin_ctzll(mask));
      hi = k * 64 + 63 - static_cast<unsigned>(__builtin_clzll(mask));
    }
    if (lo < num_pages) {
      const long r = split_range(slot_id, base + first_page + lo, hi - lo + 1, true);
      if (r < 0) return static_cast<int>(r);
    }
  }
  EpochReadGuard rg(*epoch_);
  const Memslot* s = slots()->by_id(slot_id);
  bool flush = false;
  const bool lockless = sw_.rmap_lockless;
  if (!lockless) mmu_lock_.lock();
  const size_t words = static_cast<size_t>((num_pages + 63) / 64);
  for (size_t k = 0; k < words; ++k) {
    uint64_t mask = bitmap[k];
    const uint64_t left = num_pages - k * 64;
    if (left < 64) mask &= (uint64_t{1} << left) - 1;
    if (!mask) continue;
    const size_t w = static_cast<size_t>(first_page / 64) + k;
    const uint64_t cleared =
        s->dirty_bitmap[w].fetch_and(~mask, std::memory_order_acq_rel) & mask;
    if (cleared) flush |= wp_mask_walk(*s, base + w * 64, cleared, lockless);
  }
  if (!lockless) mmu_lock_.unlock();
  if (flush) flush_tlb();
  return 0;
}

int Mmu::set_dirty_log_mode(bool manual_protect, bool initially_set) {
  // The caller serialises slot changes and dirty-log calls (slots_lock), the
  // only readers of these two flags, so a plain store is enough.
  const MemslotArray* a = slots();
  for (uint32_t i = 0; i < a->count; ++i)
    if (a->slots[i].logging()) return -kEBUSY;
  cfg_.manual_protect = manual_protect;
  cfg_.initially_set = manual_protect && initially_set;
  return 0;
}

}  // namespace hv::mm
