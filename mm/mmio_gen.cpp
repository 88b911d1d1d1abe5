// MMIO SPTEs and their generation (seed 004).
//
// A gfn outside every memslot gets an MMIO SPTE (mm/spte.h: a misconfiguration
// pattern carrying the gfn and the low 19 bits of the memslot generation), so
// its next access exits as an EPT misconfiguration and is emulated without a
// page-table walk under the lock. Any memslot change bumps the generation
// (publish() in memslot.cpp); the misconfiguration path treats an MMIO SPTE of
// another generation as absent and lets the slow path decide again. So
// invalidating every MMIO SPTE costs one increment instead of a walk of all
// tables under the MMU lock (the baseline, mmio_zap=walk). When the low 19
// bits wrap to 0, every MMIO SPTE is zapped first (publish()), so a
// generation value is never reused while an SPTE tagged with it survives.
//
// Why not bump a generation of *all* SPTEs on slot creation: every vCPU would
// then fault on all of its memory (seed 004's answer to Marcelo).
#include "mm/mmu.h"

namespace hv::mm {

using namespace ept;

Fault Mmu::install_mmio_locked(uint64_t gfn, uint64_t gen) {
  int level = 1;
  // Tables for MMIO SPTEs come from no reservation (a guest may touch any
  // gfn); without memory the access is emulated all the same, uncached.
  Spte* e = entry_locked(gfn, &level, true, false);
  if (!e) {
    stats_.mmio_uncached.fetch_add(1, std::memory_order_relaxed);
    return Fault::kMmio;
  }
  if (level != 1) return Fault::kSpurious;  // a huge RAM mapping covers it
  const uint64_t v = e->load(std::memory_order_relaxed);
  if (is_present(v)) return Fault::kSpurious;
  const uint64_t m = make_mmio(gfn, gen);
  if (v != m) {
    e->store(m, std::memory_order_release);
    stats_.mmio_created.fetch_add(1, std::memory_order_relaxed);
  }
  return Fault::kMmio;
}

Fault Mmu::handle_ept_misconfig(uint64_t gfn) {
  {
    EpochReadGuard g(*epoch_);
    // The generation first (acquire), then the SPTE. publish() zaps every
    // MMIO SPTE before it stores a generation whose low bits wrap to 0, so an
    // SPTE read after a generation can only be that old or older: a stale
    // SPTE tagged with equal low bits 2^19 changes ago is gone by then. Read
    // the other way round, the wrapping publish could land between the two
    // reads and make such an SPTE match again (MmuTest.MisconfigReadsThe-
    // GenerationBeforeTheSpte).
    const uint64_t gen = generation();
    test_point(TestPoint::kMisconfigBetweenReads);
    int level;
    uint64_t v;
    walk_lockless(gfn, &level, &v);
    if (is_mmio(v) && mmio_gfn(v) == (gfn & kMmioGfnMask)) {
      // One comparison instead of a walk: the common, lockless case.
      if (!sw_.mmio_gen || mmio_gen(v) == (gen & kMmioGenMask)) return Fault::kMmio;
      stats_.mmio_stale.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // Stale (or gone): as if absent. The slow path maps RAM if a slot now covers
  // gfn, or makes a fresh MMIO SPTE of the current generation.
  return handle_ept_violation(gfn, false);
}

void Mmu::mmio_on_memslot_change() {
  if (sw_.mmio_gen) return;  // the increment in publish() was the invalidation
  zap_mmio_table_locked(root_pa_, kMaxLevel);
  stats_.mmio_walk_zaps.fetch_add(1, std::memory_order_relaxed);
}

size_t Mmu::zap_mmio_table_locked(uint64_t table_pa, int level) {
  Spte* t = table(table_pa);
  size_t n = 0;
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t v = t[i].load(std::memory_order_relaxed);
    if (level == 1) {
      if (is_mmio(v)) {
        t[i].store(0, std::memory_order_release);
        ++n;
      }
    } else if (is_present(v) && !is_leaf(v, level)) {
      n += zap_mmio_table_locked(addr(v), level - 1);
    }
  }
  return n;
}

size_t Mmu::count_mmio_table_locked(uint64_t table_pa, int level) {
  Spte* t = table(table_pa);
  size_t n = 0;
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t v = t[i].load(std::memory_order_relaxed);
    if (level == 1) n += is_mmio(v);
    else if (is_present(v) && !is_leaf(v, level)) n += count_mmio_table_locked(addr(v), level - 1);
  }
  return n;
}

size_t Mmu::zap_all_mmio() {
  LockGuard g(mmu_lock_);
  return zap_mmio_table_locked(root_pa_, kMaxLevel);
}

size_t Mmu::count_mmio_sptes() {
  LockGuard g(mmu_lock_);
  return count_mmio_table_locked(root_pa_, kMaxLevel);
}

}  // namespace hv::mm
