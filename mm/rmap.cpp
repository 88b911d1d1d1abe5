#include "mm/rmap.h"

namespace hv::mm {
namespace {

constexpr int kExt = PteListDesc::kExt;

int first_free(const PteListDesc* d) {
  int i = 0;
  while (i < kExt && d->sptes[i].load(std::memory_order_relaxed)) ++i;
  return i;
}

}  // namespace

PteListDesc* Rmap::new_desc(AllocMode mode, uintptr_t more) {
  auto* d = static_cast<PteListDesc*>(descs_->alloc(mode));
  if (!d) {
    stats_.alloc_fail.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  // The descriptor may have been freed a moment ago and a stale lockless
  // walker may still be reading it. `more` is written first and the entries
  // after it with release, so a walker that reads a new entry (acquire) also
  // reads the new `more` and ends on the new head's nulls (and restarts),
  // instead of pairing a new entry with the old chain's nulls and stopping
  // early.
  // Reuse is a seqcount write section: gen odd while the descriptor is
  // rewritten, even again before it is published. A walker that entered it
  // through a stale pointer (even while it was free) and reads anything
  // written here sees the odd or the new even value when it re-checks.
  const uint64_t g = d->gen.load(std::memory_order_relaxed);
  d->gen.store(g + 1, std::memory_order_release);
  d->more.store(more, std::memory_order_release);
  for (int i = 0; i < kExt; ++i) d->sptes[i].store(nullptr, std::memory_order_release);
  return d;
}

// Ends the write section of new_desc() once the caller filled the entries,
// before the descriptor is published through the head.
static void desc_ready(PteListDesc* d) {
  d->gen.store(d->gen.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void Rmap::free_desc(PteListDesc* d) {
  // Before the descriptor can be reused: a walker that later reads anything
  // the reuse writes (all release stores) also sees this increment.
  d->gen.store(d->gen.load(std::memory_order_relaxed) + 2, std::memory_order_release);
  descs_->free(d);  // type-stable: may be reused at once
}

int Rmap::add(RmapHead* h, Spte* s, AllocMode mode) {
  if (!s || (reinterpret_cast<uintptr_t>(s) & 7)) return -2;
  const uintptr_t v = h->v.load(std::memory_order_relaxed);
  if (v == 0) {
    h->v.store(reinterpret_cast<uintptr_t>(s), std::memory_order_release);
    return 0;
  }
  if (!(v & 1)) {  // one -> many
    PteListDesc* d = new_desc(mode, nulls(h));
    if (!d) return -1;
    d->sptes[0].store(reinterpret_cast<Spte*>(v), std::memory_order_release);
    d->sptes[1].store(s, std::memory_order_release);
    desc_ready(d);
    h->v.store(reinterpret_cast<uintptr_t>(d) | 1, std::memory_order_release);
    return 1;
  }
  PteListDesc* first = desc_of(v);
  // Every descriptor after the first is full.
  int before = 0;
  for (uintptr_t m = first->more.load(std::memory_order_relaxed); !is_nulls(m);
       m = reinterpret_cast<PteListDesc*>(m)->more.load(std::memory_order_relaxed))
    before += kExt;
  const int used = first_free(first);
  before += used;
  if (used == kExt) {  // first full: push a new first descriptor
    PteListDesc* d = new_desc(mode, reinterpret_cast<uintptr_t>(first));
    if (!d) return -1;
    d->sptes[0].store(s, std::memory_order_release);
    desc_ready(d);
    h->v.store(reinterpret_cast<uintptr_t>(d) | 1, std::memory_order_release);
  } else {
    first->sptes[used].store(s, std::memory_order_release);
  }
  // Seed 001, reviewer bug 1: the posted patch returned the count after.
  return opt_.bug_count_after_add ? before + 1 : before;
}

bool Rmap::remove(RmapHead* h, Spte* s) {
  const uintptr_t v = h->v.load(std::memory_order_relaxed);
  if (v == 0 || !s) return false;
  if (!(v & 1)) {
    if (reinterpret_cast<Spte*>(v) != s) return false;
    h->v.store(0, std::memory_order_release);
    return true;
  }
  PteListDesc* first = desc_of(v);
  PteListDesc* d = first;
  int i = -1;
  for (;;) {
    for (int j = 0; j < kExt; ++j)
      if (d->sptes[j].load(std::memory_order_relaxed) == s) { i = j; break; }
    if (i >= 0) break;
    const uintptr_t m = d->more.load(std::memory_order_relaxed);
    if (is_nulls(m)) return false;  // not in this rmap: refused, nothing changed
    d = reinterpret_cast<PteListDesc*>(m);
  }
  const int last = first_free(first) - 1;  // first descriptor is never empty
  Spte* moved = first->sptes[last].load(std::memory_order_relaxed);
  // Forward move: copy into the hole first, then clear the source. In walk
  // order (top-down in a descriptor, first descriptor first) the hole is
  // always at or after the source, so no concurrent walker can have passed the
  // destination while it still has the source to visit.
  if (!(d == first && i == last)) d->sptes[i].store(moved, std::memory_order_release);
  first->sptes[last].store(nullptr, std::memory_order_release);

  const uintptr_t more = first->more.load(std::memory_order_relaxed);
  if (last == 0) {
    // First descriptor empty: the next one (full) becomes the first. It
    // exists: a lone descriptor with one entry would have been collapsed.
    h->v.store(more | 1, std::memory_order_release);
    free_desc(first);
  } else if (last == 1 && is_nulls(more)) {
    // One SPTE left in the only descriptor: the head holds it directly. A
    // walker still in the descriptor reads sptes[0] (unchanged) and our nulls.
    h->v.store(reinterpret_cast<uintptr_t>(first->sptes[0].load(std::memory_order_relaxed)),
               std::memory_order_release);
    free_desc(first);
  }
  return true;
}

size_t Rmap::count(const RmapHead* h) const {
  size_t n = 0;
  walk_locked(h, [&n](Spte*) { ++n; });
  return n;
}

}  // namespace hv::mm
