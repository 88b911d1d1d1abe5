// Memslots: ranges of guest-physical memory with their backing, flags, dirty
// bitmap and rmap heads.
//
// The set of slots is an immutable MemslotArray (sorted by base gfn, with a
// generation number) published through an atomic pointer and replaced
// copy-on-write, KVM's memslots-under-SRCU scheme with our epochs: lockless
// readers (the fast page fault, lockless harvest) load it inside an epoch read
// section; the old array, and the rmap and bitmap storage of a deleted slot,
// are freed after a grace period.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

#include "mm/rmap.h"
#include "mm/spte.h"

namespace hv::mm {

// Negative errno values returned by the MMU API (Linux numbering, as KVM).
inline constexpr int kENOENT = 2, kEFAULT = 14, kEBUSY = 16, kEEXIST = 17, kEINVAL = 22,
                     kENOMEM = 12, kEAGAIN = 11;

enum MemslotFlags : uint32_t {
  kLogDirtyPages = 1u << 0,  // KVM_MEM_LOG_DIRTY_PAGES
  kReadOnly = 1u << 1,       // KVM_MEM_READONLY
};

struct Memslot {
  uint32_t id = 0;
  uint32_t flags = 0;
  uint64_t base_gfn = 0;
  uint64_t npages = 0;
  uint64_t backing_pfn = 0;  // host frame backing base_gfn; the backing is contiguous
  // Dirty bitmap: one bit per page in 64-bit words, present while logging.
  std::atomic<uint64_t>* dirty_bitmap = nullptr;
  uint64_t bitmap_pa = 0;
  uint64_t bitmap_pages = 0;
  // rmap heads per level (index 0 = 4K, 1 = 2M, 2 = 1G), indexed by
  // (gfn >> 9*(level-1)) - rmap_base[level-1].
  RmapHead* rmap[3] = {nullptr, nullptr, nullptr};
  uint64_t rmap_pa[3] = {0, 0, 0};
  uint64_t rmap_pages[3] = {0, 0, 0};
  uint64_t rmap_base[3] = {0, 0, 0};

  uint64_t end_gfn() const { return base_gfn + npages; }
  bool contains(uint64_t gfn) const { return gfn >= base_gfn && gfn < end_gfn(); }
  size_t bitmap_words() const { return static_cast<size_t>((npages + 63) / 64); }
  bool logging() const { return (flags & kLogDirtyPages) && dirty_bitmap; }
  RmapHead* rmap_head(uint64_t gfn, int level) const {
    return &rmap[level - 1][(gfn >> (9 * (level - 1))) - rmap_base[level - 1]];
  }
  uint64_t pfn_of(uint64_t gfn) const { return backing_pfn + (gfn - base_gfn); }
};

inline constexpr unsigned kMaxMemslots = 32;

struct MemslotArray {
  uint64_t generation = 0;
  uint32_t count = 0;
  Memslot slots[kMaxMemslots];  // [0, count) sorted by base_gfn, disjoint

  // Binary search; nullptr if no slot holds gfn.
  const Memslot* lookup(uint64_t gfn) const {
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (gfn < slots[mid].base_gfn) hi = mid;
      else if (gfn >= slots[mid].end_gfn()) lo = mid + 1;
      else return &slots[mid];
    }
    return nullptr;
  }
  const Memslot* by_id(uint32_t id) const {
    for (uint32_t i = 0; i < count; ++i)
      if (slots[i].id == id) return &slots[i];
    return nullptr;
  }
};

inline constexpr size_t kMemslotArrayPages = (sizeof(MemslotArray) + 4095) / 4096;

}  // namespace hv::mm
