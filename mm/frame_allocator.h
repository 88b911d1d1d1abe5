// Physical 4 KiB frame allocator over caller-provided bitmap storage.
//
// The allocator owns no memory: the kernel carves the bitmap out of RAM it
// has already reserved and hands it to init(). It keeps two bitmaps so that it
// can tell a frame it handed out from one it never owned, which is what lets
// free() refuse double frees and frees of reserved memory instead of quietly
// corrupting the pool.
//
// NOT thread-safe: callers must serialise all calls (the kernel wraps the
// allocator in a lock). Every method is a plain function of the bitmaps, so a
// single lock around each call suffices.
//
// Freestanding: uses only <stdint.h> and <stddef.h>; no constructors run for a
// FrameAllocator with static storage duration (it is constant-initialised).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mm/phys_ranges.h"

namespace hv::mm {

inline constexpr uint64_t kFrameSize = 4096;
inline constexpr unsigned kFrameShift = 12;
static_assert(kFrameSize == uint64_t{1} << kFrameShift);

class FrameAllocator {
 public:
  static constexpr size_t kBitsPerWord = 64;

  // Number of uint64_t words init() needs to track every whole frame below
  // max_phys: two bitmaps of one bit per frame, each rounded up to a word.
  // E.g. 4 GiB -> 2 * 16384 words = 256 KiB of storage; 1 TiB -> 64 MiB.
  static constexpr size_t storage_words_for(uint64_t max_phys) {
    return 2 * words_per_map(max_phys >> kFrameShift);
  }

  // Starts tracking the frames wholly below max_phys, all of them unusable
  // until add_free(). Returns false, leaving an allocator that tracks nothing
  // (so every add_free() byte is ignored), if `storage` is null or shorter
  // than storage_words_for(max_phys) words. Overwrites all of that storage.
  [[nodiscard]] bool init(uint64_t* storage, size_t words, uint64_t max_phys);

  // The storage given to init(), now reached at another address (the kernel
  // carves it out of RAM while the boot tables identity-map it, then reaches
  // it through the direct map). The caller copies nothing: it is the same memory.
  void rebase(uint64_t* storage);

  // Declares usable RAM. Rounded inward to whole frames, so a partial frame is
  // never handed out. Frames that are already usable or reserved are left
  // alone, so overlapping or repeated ranges are harmless. The part at or above
  // max_phys is added to ignored_bytes().
  void add_free(PhysRange r);

  // Withdraws frames permanently (kernel image, modules, boot information, low
  // memory). Rounded outward, so a partially covered frame is withdrawn. This
  // is sticky regardless of order: a later add_free() does not bring a
  // reserved frame back, and a frame that is currently allocated is never
  // accepted by free() again. Frame 0 is always reserved, which is why 0 can
  // mean "no frame".
  void reserve(PhysRange r);

  // Physical address of a free frame, or 0 when none is left.
  uint64_t alloc();

  // Physical address of `frames` contiguous free frames whose first frame
  // number is a multiple of `align_frames` (e.g. 512 and 512 for a 2 MiB
  // page); 0 if frames == 0 or no such run exists. align_frames == 0 means 1;
  // it need not be a power of two.
  uint64_t alloc_contiguous(size_t frames, size_t align_frames);

  // The same, with the run wholly inside `window` (rounded inward to whole
  // frames): the lowest such run. E.g. page-table frames that must lie in the
  // boot tables' identity map, or frames above 4 GiB for the boot check.
  uint64_t alloc_contiguous(size_t frames, size_t align_frames, PhysRange window);

  // Returns a frame obtained from alloc*(). Returns false and changes nothing
  // if `pa` is unaligned, out of range, not usable RAM (never added or
  // reserved), or already free.
  bool free(uint64_t pa);

  // Frees `frames` frames starting at `pa`: either all of them (true) or, if
  // any one would be refused by free() or frames == 0, none (false).
  bool free_contiguous(uint64_t pa, size_t frames);

  size_t free_frames() const { return free_count_; }
  size_t usable_frames() const { return usable_count_; }   // free + allocated
  uint64_t ignored_bytes() const { return ignored_bytes_; }  // summed over add_free() calls

 private:
  // Per-frame state, as (usable bit, free bit):
  //   (0, 0) never added: not RAM as far as we know
  //   (1, 1) usable and free
  //   (1, 0) usable and allocated
  //   (0, 1) reserved: the free bit doubles as a "do not add" mark, which
  //          keeps reserve() sticky without a third bitmap
  // A frame can be handed out iff both bits are set.
  static constexpr size_t words_per_map(uint64_t frames) {
    return static_cast<size_t>((frames + kBitsPerWord - 1) / kBitsPerWord);
  }

  uint64_t available_word(size_t w) const { return usable_[w] & free_[w]; }
  bool is_allocated(uint64_t frame) const;
  uint64_t next_available(uint64_t from) const;          // frame_count_ if none
  uint64_t first_unavailable(uint64_t from, uint64_t to) const;  // `to` if none
  void mark_allocated(uint64_t first, uint64_t count);
  void mark_free(uint64_t first, uint64_t count);

  uint64_t* usable_ = nullptr;
  uint64_t* free_ = nullptr;
  size_t words_ = 0;           // words per bitmap
  uint64_t frame_count_ = 0;   // frames tracked: [0, frame_count_)
  size_t free_count_ = 0;
  size_t usable_count_ = 0;
  uint64_t ignored_bytes_ = 0;
  size_t hint_ = 0;            // word where the last alloc() succeeded
};

}  // namespace hv::mm
