// The EPT MMU of one guest: page tables, memslots with their rmaps and dirty
// bitmaps, write-protection, the fast page fault, dirty-log harvest, eager
// split and MMIO generations. One class; its parts live in one file per idea:
//
//   mm/page_table.cpp  tables, map/unmap/walk, faults (fast path: seed 000),
//                      write-protection by gfn and mask, the audit
//   mm/memslot.cpp     set_memory_region, logging on/off (copy-on-write array)
//   mm/dirty_log.cpp   get/clear dirty log (seed 003), manual protect, initially-set
//   mm/split.cpp       eager split (seed 002)
//   mm/collapse.cpp    huge pages recovered when logging stops
//   mm/mmio_gen.cpp    MMIO SPTEs and their generation (seed 004)
//
// Locking. `mmu_lock_` (a spinlock) serialises every change of the tables and
// the rmaps. Lockless, inside an epoch read section: the fast page fault, the
// MMIO generation check, the page-table walk, and (rmap_walk=lockless) the
// rmap walks of write-protection. Slot changes and dirty-log calls of one VM
// are serialised by the caller (KVM's slots_lock); faults run concurrently
// with everything. TLB flushes are batched per operation and requested with
// no lock held.
//
// The ordering that makes the lockless harvest lose nothing (seed 000): a
// leaf SPTE is made writable and is in the rmap *before* its page's dirty bit
// is set (release). The harvester's xchg of the bitmap word (acquire) then
// guarantees that its rmap walk finds the SPTE and its CAS sees W set.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

#include "mm/epoch.h"
#include "mm/memslot.h"
#include "mm/object_cache.h"
#include "mm/platform.h"
#include "mm/rmap.h"
#include "mm/spte.h"
#include "mm/sync.h"

namespace hv::mm {

// Run-time switches for the baselines (kernel command line in the kernel).
struct MmuSwitches {
  bool eager_split = true;    // eager_split=1|0 (0: a write fault drops the huge SPTE)
  bool rmap_lockless = true;  // rmap_walk=lockless|locked
  bool mmio_gen = true;       // mmio_zap=gen|walk
  // dirty_log=pml|wp: log 4K pages by clearing their EPT D bit (the CPU's
  // page-modification log reports the next write; see log_pml()) instead of
  // clearing W (a write-protection fault reports it). Needs EPT A/D bits.
  bool pml = false;
  // Test-only, deliberately broken: set the dirty bit before the SPTE is
  // writable and in the rmap. The stress test must catch it.
  bool test_dirty_before_spte = false;
};

// How long the broken order above holds the dirty bit set on a read-only
// SPTE (relax() calls), so that a live migration in the emulator catches it.
inline constexpr int kTestBrokenOrderSpins = 4096;

// Points in the MMU's lockless paths where a test may run code of its own
// (Mmu::set_test_hook), to force an interleaving deterministically.
enum class TestPoint : uint8_t {
  kFastFaultBeforeCmpxchg,  // slot looked up and SPTE read, W not yet set
  kFastFaultAfterCmpxchg,   // between making the SPTE writable and its dirty bit
  kMisconfigBetweenReads,   // EPT misconfiguration: between the generation and the SPTE reads
};

enum class Fault : uint8_t {
  kFixed,          // slow path (MMU lock) installed or fixed the mapping
  kFixedFast,      // fast path: one cmpxchg restored W
  kSpurious,       // already allowed (e.g. fixed by another CPU)
  kMmio,           // emulate: gfn has no slot (MMIO SPTE of the current generation)
  kReadOnlySlot,   // write to a read-only slot: exit to the emulator
  kNoMemory,
};

struct MmuStats {
  std::atomic<uint64_t> faults_slow{0}, faults_fast{0}, fast_retries{0};
  std::atomic<uint64_t> wp_cleared{0};      // W bits cleared
  std::atomic<uint64_t> flushes{0};
  std::atomic<uint64_t> splits{0}, split_alloc_fallbacks{0};
  std::atomic<uint64_t> lazy_splits{0};  // eager_split=0: huge SPTEs dropped by a write fault
  std::atomic<uint64_t> mmio_created{0}, mmio_stale{0}, mmio_wrap_zaps{0}, mmio_walk_zaps{0};
  std::atomic<uint64_t> tables_freed{0};
  std::atomic<uint64_t> recovered_huge{0};  // 4K tables zapped so that 2M comes back
  std::atomic<uint64_t> pml_entries{0};     // page-modification log entries taken
  std::atomic<uint64_t> mmio_uncached{0};   // MMIO faults emulated without an SPTE (no memory for a table)
};

class Mmu {
 public:
  struct Config {
    unsigned phys_bits = 46;
    uint64_t initial_generation = 0;  // MMIO tests start near the wrap
    bool manual_protect = false;      // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
    bool initially_set = false;       // ... with KVM_DIRTY_LOG_INITIALLY_SET
  };

  // descs: the type-stable cache of PteListDesc (shared by VMs).
  bool init(const Platform* p, Epoch* e, ObjectCache* descs, MmuSwitches sw, Config cfg);
  bool init(const Platform* p, Epoch* e, ObjectCache* descs, MmuSwitches sw) {
    return init(p, e, descs, sw, Config());
  }
  // Zaps everything and frees all memory (after a grace period). No fault may
  // run concurrently.
  void destroy();

  // 4-level walk, WB, and with PML the A/D enable (SDM 25.6.11).
  uint64_t eptp() const { return root_pa_ | (sw_.pml ? kEptpAccessDirty : 0) | (3 << 3) | 6; }
  static constexpr uint64_t kEptpAccessDirty = uint64_t{1} << 6;
  uint64_t root_pa() const { return root_pa_; }
  MmuSwitches& switches() { return sw_; }
  const MmuStats& stats() const { return stats_; }
  Epoch& epoch() { return *epoch_; }

  // ---- memslots (memslot.cpp) ----
  // KVM_SET_USER_MEMORY_REGION: npages == 0 deletes; otherwise creates, moves
  // (zapping the old range), resizes, or changes flags. 0 or -errno.
  int set_memory_region(uint32_t id, uint64_t base_gfn, uint64_t npages, uint64_t backing_pfn,
                        uint32_t flags);
  // The current slot array; valid inside an epoch read section or while the
  // caller serialises slot changes.
  const MemslotArray* slots() const { return slots_.load(std::memory_order_acquire); }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // ---- faults (page_table.cpp) ----
  // EPT violation on gfn: the fast path first, then the slow path.
  Fault handle_ept_violation(uint64_t gfn, bool write);
  // EPT misconfiguration on gfn (mmio_gen.cpp).
  Fault handle_ept_misconfig(uint64_t gfn);
  // Maps every page of a slot (largest level possible; writable unless logging).
  int populate(uint32_t slot_id);
  // The leaf SPTE value for gfn (0 if none) and its level; lockless.
  uint64_t lookup(uint64_t gfn, int* level = nullptr);
  // Removes every mapping of [gfn, gfn+n) and frees emptied tables (epoch).
  void zap_range(uint64_t gfn, uint64_t n);

  // ---- write-protection (page_table.cpp) ----
  // Clear W on every SPTE mapping gfn / the pages of `mask` at gfn_base (a
  // multiple of 64); with PML, D on 4K SPTEs. Huge SPTEs become read-only,
  // never dropped. Return true if a bit was cleared (the caller owes a TLB
  // flush: a cached translation keeps W, or the D that stops logging). rmap
  // walk per switch.
  bool write_protect_gfn(const Memslot& s, uint64_t gfn);
  bool write_protect_mask(const Memslot& s, uint64_t gfn_base, uint64_t mask);
  bool write_protect_slot(const Memslot& s);
  void flush_tlb();  // outside the lock

  // ---- dirty log (dirty_log.cpp) ----
  // dirty_log=pml: the guest-physical addresses a vCPU's page-modification
  // log holds, as the processor wrote them. Pages of logging slots become
  // dirty; the others are ignored. The caller drains every vCPU's log into
  // this before get_dirty_log() or clear_dirty_log(), so that a write whose
  // D bit was set before the harvest is in its bitmap or reported later.
  void log_pml(const uint64_t* gpas, size_t n);
  // KVM's mark_page_dirty: the hypervisor itself wrote guest page gfn (not
  // through the EPT, so no fault or PML entry saw it). Call after the write:
  // the release of the dirty bit then orders the bytes before a harvester's
  // xchg, hence before its copy. No-op unless gfn's slot logs.
  void mark_page_dirty(uint64_t gfn);
  // KVM_GET_DIRTY_LOG into out[words]. 0 or -errno (-ENOENT: slot not logging,
  // -EINVAL: bad slot, -EFAULT: out too small).
  int get_dirty_log(uint32_t slot_id, uint64_t* out, size_t out_words);
  // KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): the dirty-log mode,
  // changed only while no slot logs (-EBUSY otherwise), as KVM requires.
  int set_dirty_log_mode(bool manual_protect, bool initially_set);
  // KVM_CLEAR_DIRTY_LOG (manual protect only): first_page multiple of 64,
  // num_pages multiple of 64 unless it ends the slot. bitmap holds
  // (num_pages + 63) / 64 words, bit i for page first_page + i.
  int clear_dirty_log(uint32_t slot_id, uint64_t first_page, uint64_t num_pages,
                      const uint64_t* bitmap);

  // ---- split (split.cpp) ----
  // Splits every huge mapping of [gfn, gfn + n) in `slot` down to 4K (eager).
  // Returns the number of huge SPTEs split, or -errno.
  long split_range(uint32_t slot_id, uint64_t gfn, uint64_t n, bool write_protect);

  // ---- huge-page recovery (collapse.cpp) ----
  // After logging stops on `s`: zaps every 4K table under a range that can
  // be mapped 2M, so that the next fault maps it huge. Returns the count.
  long recover_huge_pages(const Memslot& s);

  // ---- MMIO (mmio_gen.cpp) ----
  // Called after every memslot change (generation already bumped), with the
  // MMU lock held.
  void mmio_on_memslot_change();
  // Zap every MMIO SPTE by walking all tables (the baseline; also the wrap zap).
  size_t zap_all_mmio();
  size_t count_mmio_sptes();

  // ---- audit (page_table.cpp) ----
  // KVM's mmu_audit: every present leaf is legal and in its slot's rmap at its
  // level, and every rmap entry is such a leaf (a bijection). Writes a reason
  // into why[why_len] on failure. Takes the MMU lock.
  bool audit(char* why, size_t why_len);
  // Present leaves by level (1: 4K, 2: 2M, 3: 1G), in one walk of the
  // tables under the MMU lock (a walk per level held it three times as long,
  // against the vCPUs' slow faults, for a control guest's counters).
  struct LeafCounts {
    size_t at[ept::kMaxLevel + 1];
  };
  LeafCounts count_leaves();
  size_t count_leaves(int level) { return count_leaves().at[level]; }

  SpinLock& mmu_lock() { return mmu_lock_; }

  // Test hook: called at each TestPoint (with test_dirty_before_spte,
  // kFastFaultAfterCmpxchg comes between the dirty bit and the cmpxchg), so
  // that a test can run a harvest or a memslot change exactly there.
  using TestHook = void (*)(void* ctx, TestPoint where);
  void set_test_hook(TestHook h, void* ctx) { hook_ = h; hook_ctx_ = ctx; }

 private:
  friend struct MmuTestAccess;
  // tables and their reservation (table_reserve.cpp)
  Spte* table(uint64_t pa) const { return p_->va<Spte>(pa); }
  // A zeroed table page: reserved ones from the pool (then kNoWait), others
  // (MMIO) kNoWait only. 0 if none.
  uint64_t alloc_table_locked(int level, bool reserved);
  bool topup_locked(size_t n);                 // pool >= n; may drop and retake mmu_lock_
  void free_table_deferred(uint64_t pa);       // after a grace period
  static void free_table_cb(EpochCallback* cb);
  void release_table(uint64_t pa);             // a reserved table back: to the pool or the platform
  static size_t tables_for(uint64_t base_gfn, uint64_t npages);
  int reserve_tables(size_t n);                // 0 or -kENOMEM (nothing kept)
  void unreserve_tables(size_t n);
  void trim_pool();
  void drop_reservations();                    // destroy(): the pool goes back
  uint64_t alloc_array(bool teardown);         // a MemslotArray's pages; teardown may take the spare
  void retire_array(uint64_t pa);              // an unpublished array, no lock held
  // Descend to the entry for gfn at `level`, creating tables if `create`.
  // Entry for gfn at level *level (descending through present tables), or the
  // present huge leaf met on the way (*level updated). nullptr if a table
  // could not be allocated or is absent and !create.
  Spte* entry_locked(uint64_t gfn, int* level, bool create, bool reserved = true);
  bool wp_mask_walk(const Memslot& s, uint64_t gfn_base, uint64_t mask, bool lockless);
  template <uint64_t bit4k>
  bool wp_mask_walk(const Memslot& s, uint64_t gfn_base, uint64_t mask, bool lockless);
  bool wp_slot_walk(const Memslot& s, bool lockless);
  Fault install_mmio_locked(uint64_t gfn, uint64_t gen);
  bool need_barrier_ = false;
  bool deferred_ = false;  // free_deferred() since the last settle_frees() (memslot updates serialise)
  Spte* walk_lockless(uint64_t gfn, int* level, uint64_t* value);
  void zap_table_locked(uint64_t table_pa, int level, uint64_t gfn_base, uint64_t lo, uint64_t hi,
                        const MemslotArray* a, bool* flush);
  void zap_leaf_locked(Spte* s, uint64_t v, int level, uint64_t gfn, const MemslotArray* a);
  bool only_mmio_locked(uint64_t table_pa, int level) const;  // every entry 0 or (level 1) MMIO
  bool wp_head(const RmapHead* h, int level, bool lockless);
  template <uint64_t bit>
  bool wp_head(const RmapHead* h, int level, bool lockless);
  bool fast_page_fault(uint64_t gfn, Fault* out);
  Fault slow_page_fault(uint64_t gfn, bool write);
  int max_level(const Memslot& s, uint64_t gfn) const;
  void mark_dirty(const Memslot& s, uint64_t gfn);
  int map_leaf_locked(const Memslot& s, uint64_t gfn, int level, bool writable);
  // split
  int split_huge_locked(const Memslot& s, Spte* sp, int level, uint64_t gfn, bool write_protect);
  // memslots
  bool alloc_slot_storage(Memslot& s, bool bitmap);
  void free_slot_storage_deferred(const Memslot& s, bool rmaps, bool bitmap);
  void free_deferred(uint64_t pa, size_t pages);
  void settle_frees();  // end of a memslot update: wait until what it freed is free
  static void free_pages_cb(EpochCallback* cb);
  void publish(MemslotArray* next);
  // mmio
  size_t zap_mmio_table_locked(uint64_t table_pa, int level);
  size_t count_mmio_table_locked(uint64_t table_pa, int level);
  bool audit_table_locked(uint64_t table_pa, int level, uint64_t gfn_base, const MemslotArray* a,
                          size_t* leaves, char* why, size_t why_len);

  const Platform* p_ = nullptr;
  Epoch* epoch_ = nullptr;
  ObjectCache* descs_ = nullptr;
  Rmap rmap_;
  MmuSwitches sw_;
  Config cfg_;
  SpinLock mmu_lock_;
  uint64_t root_pa_ = 0;
  std::atomic<const MemslotArray*> slots_{nullptr};
  uint64_t slots_pa_ = 0;
  std::atomic<uint64_t> generation_{0};
  // Table pages (table_reserve.cpp). pool_lock_ because tables come back
  // from epoch callbacks, outside mmu_lock_.
  SpinLock pool_lock_;
  PageMeta* pool_ = nullptr;  // free pages kept for this MMU's tables (PageMeta::next)
  size_t pool_n_ = 0;
  size_t reserved_ = 0;       // worst-case tables of every slot, and the root
  size_t tables_ = 0;         // reserved-kind tables allocated (live or awaiting a grace period)
  uint64_t spare_array_pa_ = 0;  // a MemslotArray kept for teardown (delete, logging off)
  MmuStats stats_;
  void test_point(TestPoint where) {
    if (hook_) hook_(hook_ctx_, where);
  }
  TestHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
};

}  // namespace hv::mm
