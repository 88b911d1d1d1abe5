// EPT tables, faults, write-protection and the audit (see mm/mmu.h).
#include <new>

#include "mm/mmu.h"

namespace hv::mm {

using namespace ept;

namespace {

// Clear `bit` (W, or D with PML) on one SPTE found through the level-`level`
// rmap. Only a present leaf of that level is touched: a lockless walker may
// hold a stale pointer to a slot that now holds an MMIO SPTE (W|X pattern:
// clearing W would make it an execute-only mapping) or a non-leaf entry
// (clearing W would write-protect a whole subtree). Returns true if the bit
// was cleared. A CAS, never a store: the processor sets A and D itself.
template <uint64_t bit>
bool wp_spte(Spte* s, int level) {
  uint64_t v = s->load(std::memory_order_acquire);
  while (is_present(v) && is_leaf(v, level) && (v & bit)) {
    if (s->compare_exchange_weak(v, v & ~bit, std::memory_order_acq_rel,
                                 std::memory_order_acquire))
      return true;
  }
  return false;
}

}  // namespace

bool Mmu::init(const Platform* p, Epoch* e, ObjectCache* descs, MmuSwitches sw, Config cfg) {
  if (!p || !e || !descs || cfg.phys_bits < 32 || cfg.phys_bits > 52) return false;
  p_ = p;
  epoch_ = e;
  descs_ = descs;
  sw_ = sw;
  cfg_ = cfg;
  rmap_.init(descs);
  // What init takes it gives back on failure (no destroy() follows a
  // failed init).
  auto undo = [this] {
    if (root_pa_) p_->free(root_pa_, 1);
    if (slots_pa_) p_->free(slots_pa_, kMemslotArrayPages);
    if (spare_array_pa_) p_->free(spare_array_pa_, kMemslotArrayPages);
    root_pa_ = slots_pa_ = spare_array_pa_ = 0;
    drop_reservations();
    return false;
  };
  if (reserve_tables(1) != 0) return undo();  // the root
  mmu_lock_.lock();
  root_pa_ = alloc_table_locked(4, true);
  mmu_lock_.unlock();
  if (!root_pa_) return undo();
  slots_pa_ = p_->alloc(kMemslotArrayPages, AllocMode::kMayBlock);
  if (!slots_pa_) return undo();
  spare_array_pa_ = p_->alloc(kMemslotArrayPages, AllocMode::kMayBlock);
  if (!spare_array_pa_) return undo();
  auto* a = new (p_->va(slots_pa_)) MemslotArray();
  a->generation = cfg.initial_generation;
  generation_.store(cfg.initial_generation, std::memory_order_relaxed);
  slots_.store(a, std::memory_order_release);
  return true;
}

Spte* Mmu::entry_locked(uint64_t gfn, int* level, bool create, bool reserved) {
  const int target = *level;
  uint64_t pa = root_pa_;
  for (int l = kMaxLevel;; --l) {
    Spte* e = &table(pa)[index_at(gfn, l)];
    const uint64_t v = e->load(std::memory_order_relaxed);
    if (is_present(v) && is_leaf(v, l)) {
      *level = l;
      return e;
    }
    if (l <= target && !(is_present(v) && l > 1)) {
      *level = l;
      return e;
    }
    if (!is_present(v)) {
      if (!create) return nullptr;
      const uint64_t c = alloc_table_locked(l - 1, reserved);
      if (!c) return nullptr;
      // Release: the zeroed table is visible before the link to it.
      e->store(make_nonleaf(c), std::memory_order_release);
      pa = c;
    } else {
      pa = addr(v);
    }
  }
}

Spte* Mmu::walk_lockless(uint64_t gfn, int* level, uint64_t* value) {
  uint64_t pa = root_pa_;
  for (int l = kMaxLevel;; --l) {
    Spte* e = &table(pa)[index_at(gfn, l)];
    const uint64_t v = e->load(std::memory_order_acquire);
    if (!is_present(v) || is_leaf(v, l)) {
      *level = l;
      *value = v;
      return e;
    }
    pa = addr(v);
  }
}

uint64_t Mmu::lookup(uint64_t gfn, int* level) {
  EpochReadGuard g(*epoch_);
  int l;
  uint64_t v;
  walk_lockless(gfn, &l, &v);
  if (level) *level = l;
  return (is_present(v) || is_mmio(v)) ? v : 0;
}

// ---- zap ----

void Mmu::zap_leaf_locked(Spte* s, uint64_t v, int level, uint64_t gfn, const MemslotArray* a) {
  if (is_present(v)) {
    const Memslot* slot = a->lookup(gfn);
    if (slot) rmap_.remove(slot->rmap_head(gfn, level), s);
  }
  s->store(0, std::memory_order_release);
}

void Mmu::zap_table_locked(uint64_t table_pa, int level, uint64_t gfn_base, uint64_t lo,
                           uint64_t hi, const MemslotArray* a, bool* flush) {
  Spte* t = table(table_pa);
  const uint64_t span = pages_per_level(level);
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t g = gfn_base + i * span;
    if (g >= hi || g + span <= lo) continue;
    const uint64_t v = t[i].load(std::memory_order_relaxed);
    if (v == 0) continue;
    if (!is_present(v) || is_leaf(v, level)) {
      zap_leaf_locked(&t[i], v, level, g, a);
      if (is_present(v)) *flush = true;
      continue;
    }
    zap_table_locked(addr(v), level - 1, g, lo, hi, a, flush);
    // Wholly covered, or left with nothing but MMIO SPTEs (a cache): unlink
    // and free the table. An emptied table must not outlive the range: it
    // would still count against the reservation of the slots that remain
    // (mm/table_reserve.cpp), whose own tables would then come up short.
    if ((g >= lo && g + span <= hi) || only_mmio_locked(addr(v), level - 1)) {
      t[i].store(0, std::memory_order_release);
      free_table_deferred(addr(v));
      *flush = true;
    }
  }
}

bool Mmu::only_mmio_locked(uint64_t table_pa, int level) const {
  const Spte* t = table(table_pa);
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t v = t[i].load(std::memory_order_relaxed);
    if (v != 0 && !(level == 1 && is_mmio(v))) return false;
  }
  return true;
}

void Mmu::zap_range(uint64_t gfn, uint64_t n) {
  bool flush = false;
  mmu_lock_.lock();
  zap_table_locked(root_pa_, kMaxLevel, 0, gfn, gfn + n, slots(), &flush);
  mmu_lock_.unlock();
  if (flush) flush_tlb();
  if (need_barrier_) {
    need_barrier_ = false;
    epoch_->barrier();  // back-pressure from the epoch's callback bound
  } else {
    epoch_->poll();
  }
}

void Mmu::destroy() {
  if (!root_pa_) return;
  zap_range(0, uint64_t{1} << 36);
  const MemslotArray* a = slots();
  for (uint32_t i = 0; i < a->count; ++i) free_slot_storage_deferred(a->slots[i], true, true);
  free_deferred(slots_pa_, kMemslotArrayPages);
  slots_.store(nullptr, std::memory_order_release);
  free_deferred(root_pa_, 1);
  root_pa_ = 0;
  free_deferred(spare_array_pa_, kMemslotArrayPages);
  spare_array_pa_ = 0;
  epoch_->barrier();
  drop_reservations();
}

// ---- write-protection ----

void Mmu::flush_tlb() {
  stats_.flushes.fetch_add(1, std::memory_order_relaxed);
  p_->flush(eptp());
}

template <uint64_t bit>
bool Mmu::wp_head(const RmapHead* h, int level, bool lockless) {
  bool flush = false;
  auto fn = [&flush, level](Spte* s) { flush |= wp_spte<bit>(s, level); };
  if (lockless) rmap_.walk_lockless(h, fn);
  else rmap_.walk_locked(h, fn);
  return flush;
}

bool Mmu::wp_head(const RmapHead* h, int level, bool lockless) {
  // The bit to clear: with PML, a 4K page's D (the next write logs it); W
  // otherwise, and always for huge pages, which the fault path must see. A
  // template argument, chosen once per walk: as a run-time value it cost the
  // harvest 8 cycles a page in Bochs.
  return sw_.pml && level == 1 ? wp_head<kDirty>(h, level, lockless) : wp_head<kWrite>(h, level, lockless);
}

bool Mmu::wp_mask_walk(const Memslot& s, uint64_t gfn_base, uint64_t mask, bool lockless) {
  return sw_.pml ? wp_mask_walk<kDirty>(s, gfn_base, mask, lockless)
                 : wp_mask_walk<kWrite>(s, gfn_base, mask, lockless);
}

template <uint64_t bit4k>
bool Mmu::wp_mask_walk(const Memslot& s, uint64_t gfn_base, uint64_t mask, bool lockless) {
  bool flush = false;
  uint64_t last_idx[2] = {~uint64_t{0}, ~uint64_t{0}};
  while (mask) {
    const uint64_t gfn = gfn_base + static_cast<unsigned>(__builtin_ctzll(mask));
    mask &= mask - 1;
    if (!s.contains(gfn)) continue;
    flush |= wp_head<bit4k>(s.rmap_head(gfn, 1), 1, lockless);
    // Huge SPTEs covering the page become read-only (not dropped), once each.
    for (int l = 2; l <= 3; ++l) {
      const uint64_t idx = gfn >> (9 * (l - 1));
      if (idx == last_idx[l - 2]) continue;
      last_idx[l - 2] = idx;
      flush |= wp_head<kWrite>(s.rmap_head(gfn, l), l, lockless);
    }
  }
  if (flush) stats_.wp_cleared.fetch_add(1, std::memory_order_relaxed);
  return flush;
}

bool Mmu::write_protect_mask(const Memslot& s, uint64_t gfn_base, uint64_t mask) {
  if (sw_.rmap_lockless) {
    EpochReadGuard g(*epoch_);
    return wp_mask_walk(s, gfn_base, mask, true);
  }
  LockGuard g(mmu_lock_);
  return wp_mask_walk(s, gfn_base, mask, false);
}

bool Mmu::write_protect_gfn(const Memslot& s, uint64_t gfn) {
  if (!s.contains(gfn)) return false;
  return write_protect_mask(s, gfn, 1);
}

bool Mmu::wp_slot_walk(const Memslot& s, bool lockless) {
  bool flush = false;
  for (int l = 1; l <= 3; ++l) {
    const uint64_t first = s.base_gfn >> (9 * (l - 1));
    const uint64_t last = (s.end_gfn() - 1) >> (9 * (l - 1));
    for (uint64_t i = first; i <= last; ++i)
      flush |= wp_head(&s.rmap[l - 1][i - s.rmap_base[l - 1]], l, lockless);
  }
  return flush;
}

bool Mmu::write_protect_slot(const Memslot& s) {
  if (s.npages == 0) return false;
  if (sw_.rmap_lockless) {
    EpochReadGuard g(*epoch_);
    return wp_slot_walk(s, true);
  }
  LockGuard g(mmu_lock_);
  return wp_slot_walk(s, false);
}

// ---- faults ----

void Mmu::mark_dirty(const Memslot& s, uint64_t gfn) {
  if (!s.dirty_bitmap) return;
  const uint64_t off = gfn - s.base_gfn;
  // Always the RMW with release: it is what the harvester's xchg synchronises
  // with (a plain "already set?" load could read a value the harvester has
  // already taken and skip the release).
  s.dirty_bitmap[off / 64].fetch_or(uint64_t{1} << (off % 64), std::memory_order_release);
}

int Mmu::max_level(const Memslot& s, uint64_t gfn) const {
  // No huge mappings in a dirty-logged slot (as KVM): one dirty bit per 4K.
  if (s.logging()) return 1;
  for (int l = 3; l >= 2; --l) {
    const uint64_t span = pages_per_level(l);
    const uint64_t g = gfn & ~(span - 1);
    if (g >= s.base_gfn && g + span <= s.end_gfn() && (s.pfn_of(g) & (span - 1)) == 0) return l;
  }
  return 1;
}

bool Mmu::fast_page_fault(uint64_t gfn, Fault* out) {
  // Seed 000: only a last-level SPTE that is write-protected but MMU-writable
  // is fixed here, with one cmpxchg and no lock. Anything else goes slow.
  EpochReadGuard g(*epoch_);
  const Memslot* s = slots()->lookup(gfn);
  if (!s) return false;
  int level;
  uint64_t v;
  Spte* e = walk_lockless(gfn, &level, &v);
  if (level != 1 || !is_present(v)) return false;
  if (v & kWrite) {
    *out = Fault::kSpurious;
    return true;
  }
  if (!is_mmu_writable(v)) return false;
  if (sw_.test_dirty_before_spte) {
    mark_dirty(*s, gfn);  // the broken order
    // Widen the window, so that a harvest on another CPU lands in it within
    // a short test run: it clears the bit and finds the SPTE read-only (no
    // flush owed), then the cmpxchg below makes it writable for good.
    for (int i = 0; i < kTestBrokenOrderSpins; ++i) p_->pause();
    test_point(TestPoint::kFastFaultAfterCmpxchg);
  }
  test_point(TestPoint::kFastFaultBeforeCmpxchg);
  if (!e->compare_exchange_strong(v, fast_fix_writable(v), std::memory_order_acq_rel,
                                  std::memory_order_relaxed)) {
    stats_.fast_retries.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!sw_.test_dirty_before_spte) test_point(TestPoint::kFastFaultAfterCmpxchg);
  // The SPTE is writable and (since it was mapped) in the rmap: only now
  // may the dirty bit become visible.
  if (!sw_.test_dirty_before_spte) mark_dirty(*s, gfn);
  stats_.faults_fast.fetch_add(1, std::memory_order_relaxed);
  *out = Fault::kFixedFast;
  return true;
}

int Mmu::map_leaf_locked(const Memslot& s, uint64_t gfn, int level, bool writable) {
  const uint64_t span = pages_per_level(level);
  const uint64_t g = gfn & ~(span - 1);
  int l = level;
  Spte* e = entry_locked(g, &l, true);
  if (!e) return -kENOMEM;
  if (l != level || is_present(e->load(std::memory_order_relaxed))) return -kEAGAIN;
  const bool host_w = !(s.flags & kReadOnly);
  uint64_t v = make_leaf(s.pfn_of(g), level, kAccR | kAccW | kAccX, MemType::kWB, false, host_w,
                         cfg_.phys_bits);
  if (v == 0) return -kEINVAL;
  // While logging, a page becomes writable only through a write fault, which
  // sets its dirty bit: map read-only (MMU-writable) on reads. With PML it is
  // writable at once, D clear on a read so that its first write is logged;
  // A and D are set otherwise so that the processor never writes them.
  const bool make_w = host_w && (writable || !s.logging() || sw_.pml);
  if (!make_w) v = write_protected(v);
  if (sw_.pml) v |= kAccessed | (writable || !s.logging() ? kDirty : 0);
  if (make_w && sw_.test_dirty_before_spte) mark_dirty(s, gfn);  // the broken order
  // Seed 000's order: in the rmap, then the SPTE, then the dirty bit.
  if (rmap_.add(s.rmap_head(g, level), e, AllocMode::kNoWait) < 0) return -kENOMEM;
  e->store(v, std::memory_order_release);
  if (make_w && writable && !sw_.test_dirty_before_spte) mark_dirty(s, gfn);
  return 0;
}

Fault Mmu::slow_page_fault(uint64_t gfn, bool write) {
  stats_.faults_slow.fetch_add(1, std::memory_order_relaxed);
  descs_->reserve(4, AllocMode::kMayBlock);
  Fault res = Fault::kFixed;
  mmu_lock_.lock();
  // Best effort: the slot's tables are reserved (mm/table_reserve.cpp), and
  // an MMIO SPTE is only a cache; a real shortage shows where a table is taken.
  topup_locked(4);
  // Generation before slots: a fault that sees the new generation also sees
  // the new slots, so an MMIO SPTE is never tagged newer than its layout.
  const uint64_t gen = generation();
  const Memslot* s = slots()->lookup(gfn);
  if (!s) {
    res = install_mmio_locked(gfn, gen);
    mmu_lock_.unlock();
    return res;
  }
  if (write && (s->flags & kReadOnly)) {
    mmu_lock_.unlock();
    return Fault::kReadOnlySlot;
  }
  int level = max_level(*s, gfn);
  Spte* e = entry_locked(gfn, &level, true);
  if (!e) {
    mmu_lock_.unlock();
    return Fault::kNoMemory;
  }
  uint64_t v = e->load(std::memory_order_relaxed);
  if (is_present(v)) {
    if (!write || (v & kWrite)) {
      res = Fault::kSpurious;
    } else if (!is_mmu_writable(v)) {
      res = Fault::kReadOnlySlot;
    } else {
      if (level > 1 && s->logging()) {
        // A huge SPTE left read-only by write-protection (eager_split=0, the
        // baseline: KVM before seed 002). It cannot stay while the slot
        // logs: drop it and map this 4K page. Every other page of the range
        // comes back through a fault of its own, a VM exit, the MMU lock and
        // a walk each: the cost that eager splitting takes off the vCPU.
        zap_leaf_locked(e, v, level, gfn & ~(pages_per_level(level) - 1), slots());
        stats_.lazy_splits.fetch_add(1, std::memory_order_relaxed);
        if (map_leaf_locked(*s, gfn, 1, true) == -kENOMEM) res = Fault::kNoMemory;  // the vCPU retries
        mmu_lock_.unlock();
        flush_tlb();
        return res;
      }
      if (!(v & kWrite)) {
        const uint64_t set = kWrite | (sw_.pml ? kDirty : 0);  // this write: no log entry too
        while (!e->compare_exchange_weak(v, v | set, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
        }
        if (level == 1) mark_dirty(*s, gfn);
      }
    }
  } else {
    const int r = map_leaf_locked(*s, gfn, level, write);
    if (r == -kENOMEM) res = Fault::kNoMemory;
  }
  mmu_lock_.unlock();
  return res;
}

Fault Mmu::handle_ept_violation(uint64_t gfn, bool write) {
  Fault f;
  if (write && fast_page_fault(gfn, &f)) return f;
  for (int tries = 0;; ++tries) {
    f = slow_page_fault(gfn, write);
    if (f != Fault::kNoMemory || tries == 3) return f;
    descs_->reserve(PteListDesc::kExt * 80, AllocMode::kMayBlock);
  }
}

int Mmu::populate(uint32_t slot_id) {
  const MemslotArray* a = slots();
  const Memslot* s = a->by_id(slot_id);
  if (!s) return -kEINVAL;
  const uint64_t end = s->end_gfn();
  for (uint64_t g = s->base_gfn; g < end;) {
    const Fault f = handle_ept_violation(g, !s->logging() && !(s->flags & kReadOnly));
    if (f == Fault::kNoMemory) return -kENOMEM;
    int level = 1;
    lookup(g, &level);
    g = (g & ~(pages_per_level(level) - 1)) + pages_per_level(level);
  }
  return 0;
}

// ---- audit ----

namespace {
void put(char* why, size_t len, const char* msg, uint64_t gfn) {
  if (!why || len == 0) return;
  size_t i = 0;
  for (; msg[i] && i + 1 < len; ++i) why[i] = msg[i];
  const char* hex = "0123456789abcdef";
  if (i + 20 < len) {
    why[i++] = ' ';
    why[i++] = '0';
    why[i++] = 'x';
    for (int sh = 60; sh >= 0; sh -= 4) why[i++] = hex[(gfn >> sh) & 15];
  }
  why[i] = 0;
}
}  // namespace

bool Mmu::audit_table_locked(uint64_t table_pa, int level, uint64_t gfn_base,
                             const MemslotArray* a, size_t* leaves, char* why, size_t why_len) {
  Spte* t = table(table_pa);
  const uint64_t span = pages_per_level(level);
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t v = t[i].load(std::memory_order_relaxed);
    const uint64_t g = gfn_base + i * span;
    if (!is_present(v)) {
      if (v != 0 && !(is_mmio(v) && level == 1)) {
        put(why, why_len, "non-present SPTE with stray bits at gfn", g);
        return false;
      }
      continue;
    }
    if (check(v, level, cfg_.phys_bits) != Problem::kNone) {
      put(why, why_len, "illegal SPTE at gfn", g);
      return false;
    }
    if (!is_leaf(v, level)) {
      if (!audit_table_locked(addr(v), level - 1, g, a, leaves, why, why_len)) return false;
      continue;
    }
    ++*leaves;
    const Memslot* s = a->lookup(g);
    if (!s) {
      put(why, why_len, "leaf outside every memslot at gfn", g);
      return false;
    }
    if (pfn(v) != s->pfn_of(g)) {
      put(why, why_len, "leaf maps the wrong frame at gfn", g);
      return false;
    }
    bool found = false;
    rmap_.walk_locked(s->rmap_head(g, level), [&](Spte* p) { found |= p == &t[i]; });
    if (!found) {
      put(why, why_len, "leaf missing from its rmap at gfn", g);
      return false;
    }
  }
  return true;
}

bool Mmu::audit(char* why, size_t why_len) {
  LockGuard g(mmu_lock_);
  const MemslotArray* a = slots();
  size_t leaves = 0;
  if (!audit_table_locked(root_pa_, kMaxLevel, 0, a, &leaves, why, why_len)) return false;
  // The other direction: every rmap entry is a present leaf of its level
  // mapping a gfn of its head, and the counts agree.
  size_t entries = 0;
  for (uint32_t i = 0; i < a->count; ++i) {
    const Memslot& s = a->slots[i];
    for (int l = 1; l <= 3; ++l) {
      const uint64_t first = s.base_gfn >> (9 * (l - 1));
      const uint64_t last = (s.end_gfn() - 1) >> (9 * (l - 1));
      for (uint64_t x = first; x <= last; ++x) {
        bool bad = false;
        rmap_.walk_locked(&s.rmap[l - 1][x - s.rmap_base[l - 1]], [&](Spte* p) {
          ++entries;
          const uint64_t v = p->load(std::memory_order_relaxed);
          if (!is_present(v) || !is_leaf(v, l)) bad = true;
        });
        if (bad) {
          put(why, why_len, "rmap entry is not a present leaf, rmap index", x);
          return false;
        }
      }
    }
  }
  if (entries != leaves) {
    put(why, why_len, "rmap entries != present leaves; leaves", leaves);
    return false;
  }
  return true;
}

Mmu::LeafCounts Mmu::count_leaves() {
  LockGuard g(mmu_lock_);
  LeafCounts n{};
  struct R {
    static void go(Mmu* m, uint64_t pa, int l, LeafCounts* n) {
      Spte* t = m->table(pa);
      for (unsigned i = 0; i < 512; ++i) {
        const uint64_t v = t[i].load(std::memory_order_relaxed);
        if (!is_present(v)) continue;
        if (is_leaf(v, l))
          ++n->at[l];
        else
          go(m, addr(v), l - 1, n);
      }
    }
  };
  R::go(this, root_pa_, kMaxLevel, &n);
  return n;
}

}  // namespace hv::mm
