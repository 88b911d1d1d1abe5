// The reverse map (rmap): from a guest frame to the leaf SPTEs that map it,
// in KVM's pte_list encoding as redesigned in seed 001, walked without the MMU
// lock as in seed 000.
//
// A head (RmapHead) is
//   0                  empty
//   spte pointer       exactly one SPTE (pointers are 8-aligned: bit 0 clear)
//   desc pointer | 1   a chain of PteListDesc
// New SPTEs always go into the *first* descriptor (the one the head points
// at); a full first descriptor gets a new one pushed in front of it, so every
// descriptor after the first is full. The last descriptor's `more` is not 0
// but a *nulls* value, (head address | 1), naming the head the chain belongs
// to (seed 000, after the kernel's hlist_nulls).
//
// Writers (add, remove) run under the MMU lock. Walkers come in two kinds:
// walk_locked() under the lock (the baseline, rmap_walk=locked) and
// walk_lockless() inside an epoch read section with no lock. Descriptors come
// from a type-stable ObjectCache: a descriptor freed and reused at once (for
// this head or another) is still a descriptor, and a walker that followed it
// into another head's chain notices at the end, where it meets that head's
// nulls, and starts again.
//
// The invariant: a lockless walk visits every SPTE that is in the rmap for the
// whole walk (it may visit some twice, or visit SPTEs added or removed during
// the walk; callers' operations are idempotent). Two rules give it:
//  * Walk order: the first descriptor first, then the chain; inside each
//    descriptor from the highest index down to 0 (the v2 fix of seed 000,
//    "bottom-up walking the desc").
//  * Forward-move removal: the hole left by a removed SPTE is filled with the
//    first descriptor's last used entry. In walk order that entry always moves
//    to a later position: into a later descriptor, or, when the hole is in the
//    first descriptor itself (desc == first_desc, i < last_used, reviewer bug
//    2 of seed 001), to a lower index, which a top-down walker reaches later.
//    The copy is stored before the source is cleared (both release), so a
//    walker that sees the cleared source (acquire) also sees the copy.
// `add` returns the number of SPTEs *before* the add (reviewer bug 1).
//
// Same-head reuse (found by the Spin model, models/rmap_nulls.pml): nulls
// alone cannot tell a walker that the descriptor it is in was freed and
// reused *for the same head*. E.g. the walker scans the first descriptor D1
// of a chain D1 -> D0; removals empty D1 (freed), then collapse D0 to a
// single-SPTE head (D0 freed), then an add turns the head back into a chain
// by reusing D1, copying the remaining SPTE into D1[0], which the walker has
// already passed; it reads D1's new `more`, our own nulls, and stops having
// missed that SPTE. Hence the per-descriptor generation: the walker re-checks
// it after reading `more` and restarts if the descriptor was freed or reused
// meanwhile. Reuse is a seqcount write section (odd while rewriting): a
// walker may *enter* a descriptor that is already free, through a stale
// pointer, and then see only part of the reuse. Spin found both steps.
//
// Test hooks (off in production): Options selects the two buggy variants the
// reviewer found, and a walk hook lets a test act between two entries of a
// walk, deterministically.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

#include "mm/object_cache.h"

namespace hv::mm {

using Spte = std::atomic<uint64_t>;
static_assert(sizeof(Spte) == 8 && std::atomic<uint64_t>::is_always_lock_free,
              "SPTEs are updated in place by the CPU's atomics");

struct RmapHead {
  std::atomic<uintptr_t> v{0};
};

struct PteListDesc {
  static constexpr int kExt = 6;  // 6 pointers + more + gen = one 64-byte line
  std::atomic<Spte*> sptes[kExt];
  std::atomic<uintptr_t> more;
  // A seqcount: +2 when freed to the cache; on reuse odd while the
  // descriptor is rewritten and even again before it is published. A walker
  // reads it before scanning (odd: restart) and again after reading `more`
  // (changed: restart). See "same-head reuse" above.
  std::atomic<uint64_t> gen;
};
static_assert(sizeof(PteListDesc) == 64);

class Rmap {
 public:
  struct Options {
    // Reviewer bug 1: add() returns the count after the add (patch 07 as posted).
    bool bug_count_after_add = false;
    // Reviewer bug 2: walkers scan a descriptor upwards (patch 07 as posted), so
    // the move of first_desc[last_used] into a hole i < last_used of the first
    // descriptor is a *backward* move that a walker past i misses.
    bool bug_backward_move = false;
    // Our own bug, found by Spin: no descriptor generation check (nulls only).
    bool bug_no_desc_gen = false;
  };
  // Called by walkers after reading each entry: (ctx, desc or nullptr for a
  // single-SPTE head, index, spte read). Used only by tests.
  using WalkHook = void (*)(void* ctx, const PteListDesc* d, int idx, Spte* s);

  struct Stats {
    std::atomic<uint64_t> restarts{0};     // lockless walks started again
    std::atomic<uint64_t> gen_restarts{0}; // ... because a descriptor was freed under them
    std::atomic<uint64_t> alloc_fail{0};
  };

  void init(ObjectCache* descs) { init(descs, Options()); }
  void init(ObjectCache* descs, Options o) { descs_ = descs; opt_ = o; update_test_walk(); }
  void set_walk_hook(WalkHook h, void* ctx) { hook_ = h; hook_ctx_ = ctx; update_test_walk(); }
  const Options& options() const { return opt_; }

  static constexpr uintptr_t nulls(const RmapHead* h) { return reinterpret_cast<uintptr_t>(h) | 1; }
  static constexpr bool is_nulls(uintptr_t m) { return (m & 1) != 0; }
  static PteListDesc* desc_of(uintptr_t v) { return reinterpret_cast<PteListDesc*>(v & ~uintptr_t{1}); }

  // ---- writers: MMU lock held ----
  // Count of SPTEs in the rmap before the add, or -1 (nothing changed) when no
  // descriptor could be allocated with `mode`, or -2 for a null/unaligned spte.
  int add(RmapHead* h, Spte* s, AllocMode mode);
  // false, changing nothing, if `s` is not in the rmap (double remove, absent).
  bool remove(RmapHead* h, Spte* s);
  size_t count(const RmapHead* h) const;

  template <typename Fn>
  void walk_locked(const RmapHead* h, Fn&& fn) const {
    const uintptr_t v = h->v.load(std::memory_order_relaxed);
    if (v == 0) return;
    if (!(v & 1)) { fn(reinterpret_cast<Spte*>(v)); return; }
    for (const PteListDesc* d = desc_of(v);;) {
      for (int j = 0; j < PteListDesc::kExt; ++j)
        if (Spte* s = d->sptes[j].load(std::memory_order_relaxed)) fn(s);
      const uintptr_t m = d->more.load(std::memory_order_relaxed);
      if (is_nulls(m)) return;
      d = reinterpret_cast<const PteListDesc*>(m);
    }
  }

  // ---- lockless walker: caller is inside an epoch read section ----
  // Calls fn(spte) for every SPTE (see the invariant above). Returns the
  // number of restarts.
  //
  // Orderings (x86-64: every load below is a plain mov; what they cost is
  // only what they forbid the compiler, see "Cost" below):
  //  (W1) head:     acquire. Pairs with the writer's release store of the head
  //                 (add, remove): a walker that sees a descriptor pointer sees
  //                 the descriptor as it was when published: entries, `more`,
  //                 an even `gen` (desc_ready() is release, before the head).
  //  (W2) gen, read first in each descriptor: acquire. The seqcount read side:
  //                 the entries and `more` are read after it, so if it is
  //                 even and (W5) reads the same value, nothing a reuse wrote
  //                 was read in between. Odd: a reuse is rewriting it, restart.
  //  (W3) entries:  acquire, each. (a) Forward move: remove() stores the copy
  //                 into the hole, then clears the source (both release); the
  //                 source comes earlier in walk order, so a walker that reads
  //                 the cleared source reads the hole afterwards and sees the
  //                 copy. This needs the later entry loads ordered after the
  //                 earlier ones in *this* descriptor too (the hole may be a
  //                 lower index of the first descriptor), so a fence once per
  //                 descriptor would not do. (b) An entry written by a reuse
  //                 (new_desc(): gen odd, then `more`, then the entries, all
  //                 release) brings the odd gen and the new `more` with it.
  //  (W4) more:     acquire. The next descriptor's contents, as for (W1); a
  //                 `more` written by a reuse brings that reuse's gen
  //                 increment (new_desc() stores gen first), which (W5) then
  //                 sees; and it keeps (W5) after every load of this descriptor.
  //  (W5) gen, re-read after `more`: acquire (only needs to be after (W4),
  //                 which (W4)'s acquire already gives; acquire costs nothing
  //                 more on x86). Changed: freed (+2) or reused under us, restart.
  //  (W6) nulls:    the last `more` must be this head's nulls; another head's
  //                 (the descriptor was freed and reused there) or 0 (caught
  //                 mid-initialisation from a fresh page): restart.
  // None of these is seq_cst: no store->load ordering is needed on the read
  // side (the walker stores nothing shared but its statistics, relaxed).
  //
  // Cost: the production walk is walk_lockless_impl<false>, with no test hook
  // and no buggy variant in it. The test instantiation (<true>) reads the
  // options and calls the hook through a pointer after every entry; that
  // call, inside the loop, made the compiler keep the caller's state (the
  // accumulator fn updates, opt_, hook_) in memory and reload it at every
  // entry: 5x the locked walk per entry. One flag, read once per walk, picks
  // the instantiation.
  template <typename Fn>
  unsigned walk_lockless(const RmapHead* h, Fn&& fn) const {
    // An empty head or a single SPTE (nearly every head a harvest walks) is
    // done here, before any descriptor: nothing to check, no restart.
    const uintptr_t v = h->v.load(std::memory_order_acquire);  // (W1)
    if (v == 0) return 0;
    if (!(v & 1)) {
      Spte* s = reinterpret_cast<Spte*>(v);
      fn(s);
      if (test_walk_ && hook_) [[unlikely]] hook_(hook_ctx_, nullptr, 0, s);
      return 0;
    }
    if (test_walk_) [[unlikely]] return walk_lockless_impl<true>(h, v, fn);
    return walk_lockless_impl<false>(h, v, fn);
  }

  const Stats& stats() const { return stats_; }

 private:
  // v: the head's value, read with (W1), a descriptor chain.
  template <bool kTest, typename Fn>
  unsigned walk_lockless_impl(const RmapHead* h, uintptr_t v, Fn& fn) const {
    const bool backward = kTest && opt_.bug_backward_move;
    const bool gen_check = !(kTest && opt_.bug_no_desc_gen);
    unsigned restarts = 0;
    goto walk;
  restart:
    ++restarts;
    v = h->v.load(std::memory_order_acquire);  // (W1)
    if (v == 0) return restarts;
  walk:
    if (!(v & 1)) {
      Spte* s = reinterpret_cast<Spte*>(v);
      fn(s);
      if (kTest && hook_) hook_(hook_ctx_, nullptr, 0, s);
      return restarts;
    }
    for (const PteListDesc* d = desc_of(v);;) {
      const uint64_t gen = d->gen.load(std::memory_order_acquire);  // (W2)
      if (gen_check && (gen & 1)) {  // being rewritten for a reuse
        count_restart(true);
        goto restart;
      }
      for (int k = 0; k < PteListDesc::kExt; ++k) {
        const int j = backward ? k : PteListDesc::kExt - 1 - k;
        Spte* s = d->sptes[j].load(std::memory_order_acquire);  // (W3)
        if (s) fn(s);
        if (kTest && hook_) hook_(hook_ctx_, d, j, s);
      }
      const uintptr_t m = d->more.load(std::memory_order_acquire);  // (W4)
      if (gen_check && d->gen.load(std::memory_order_acquire) != gen) {  // (W5)
        count_restart(true);
        goto restart;
      }
      if (is_nulls(m)) {  // (W6)
        if (m == nulls(h)) return restarts;
        // Wandered into another head's chain (our descriptor was freed and
        // reused there): start again.
        count_restart(false);
        goto restart;
      }
      if (m == 0) {  // a descriptor caught mid-initialisation from a fresh page
        count_restart(false);
        goto restart;
      }
      d = reinterpret_cast<const PteListDesc*>(m);
    }
  }

  // Restarts are rare; the statistics are relaxed (lock-prefixed) RMWs.
  void count_restart(bool gen) const {
    stats_.restarts.fetch_add(1, std::memory_order_relaxed);
    if (gen) stats_.gen_restarts.fetch_add(1, std::memory_order_relaxed);
  }

  PteListDesc* new_desc(AllocMode mode, uintptr_t more);
  void free_desc(PteListDesc* d);

  ObjectCache* descs_ = nullptr;
  Options opt_;
  WalkHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  // A walk hook or a buggy walk variant is set: walks take the test
  // instantiation. Set only while no walk runs (tests set hooks between walks).
  bool test_walk_ = false;
  mutable Stats stats_;

  void update_test_walk() {
    test_walk_ = hook_ != nullptr || opt_.bug_backward_move || opt_.bug_no_desc_gen;
  }
};

}  // namespace hv::mm
