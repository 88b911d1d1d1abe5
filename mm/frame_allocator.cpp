#include "mm/frame_allocator.h"

namespace hv::mm {
namespace {

constexpr uint64_t kFrameMask = kFrameSize - 1;
constexpr uint64_t kAllOnes = ~uint64_t{0};
constexpr size_t kBits = FrameAllocator::kBitsPerWord;

constexpr uint64_t min(uint64_t a, uint64_t b) { return a < b ? a : b; }
constexpr uint64_t max(uint64_t a, uint64_t b) { return a > b ? a : b; }

// __builtin_popcountll becomes a libgcc call without -mpopcnt, and the kernel
// does not link libgcc; this SWAR version compiles to a handful of ALU ops.
constexpr size_t popcount(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<size_t>((x * 0x0101010101010101ull) >> 56);
}

constexpr unsigned ctz(uint64_t x) {  // x != 0; inlined as bsf/tzcnt
  return static_cast<unsigned>(__builtin_ctzll(x));
}

// Calls fn(word_index, mask) for every bitmap word overlapping frames
// [first, last), with `mask` selecting the frames of the range in that word.
// Working a word at a time keeps add_free()/reserve() over gigabytes cheap.
template <typename Fn>
void for_each_word(uint64_t first, uint64_t last, Fn&& fn) {
  while (first < last) {
    const unsigned bit = static_cast<unsigned>(first % kBits);
    const uint64_t n = min(last - first, kBits - bit);
    const uint64_t mask = n == kBits ? kAllOnes : ((uint64_t{1} << n) - 1) << bit;
    fn(static_cast<size_t>(first / kBits), mask);
    first += n;
  }
}

}  // namespace

bool FrameAllocator::init(uint64_t* storage, size_t words, uint64_t max_phys) {
  *this = FrameAllocator{};
  const size_t need = storage_words_for(max_phys);
  if (need == 0) return true;  // max_phys below one frame: nothing to track
  if (storage == nullptr || words < need) return false;

  for (size_t i = 0; i < need; ++i) storage[i] = 0;
  words_ = need / 2;
  usable_ = storage;
  free_ = storage + words_;
  frame_count_ = max_phys >> kFrameShift;
  // Frame 0 is reserved so that 0 can signal failure from alloc().
  free_[0] = 1;
  return true;
}

void FrameAllocator::add_free(PhysRange r) {
  if (r.end <= r.base) return;
  // Inward rounding; a base in the last partial frame of the address space
  // would wrap to 0 when rounded up and contains no whole frame anyway.
  if (r.base > kAllOnes - kFrameMask) return;
  const uint64_t base = (r.base + kFrameMask) & ~kFrameMask;
  uint64_t end = r.end & ~kFrameMask;
  if (base >= end) return;

  const uint64_t limit = frame_count_ << kFrameShift;
  if (end > limit) {
    ignored_bytes_ += end - max(base, limit);
    end = limit;
  }
  if (base >= end) return;

  for_each_word(base >> kFrameShift, end >> kFrameShift, [this](size_t w, uint64_t mask) {
    // Only (0,0) "never added" frames become free; usable, allocated and
    // reserved frames keep their state so overlapping ranges are harmless.
    const uint64_t fresh = mask & ~usable_[w] & ~free_[w];
    usable_[w] |= fresh;
    free_[w] |= fresh;
    const size_t n = popcount(fresh);
    usable_count_ += n;
    free_count_ += n;
  });
}

void FrameAllocator::reserve(PhysRange r) {
  const uint64_t limit = frame_count_ << kFrameShift;
  if (r.end <= r.base || r.base >= limit) return;
  // Outward rounding. Clamping first means the round-up cannot wrap: limit is
  // itself frame-aligned.
  const uint64_t base = r.base & ~kFrameMask;
  const uint64_t end = (min(r.end, limit) + kFrameMask) & ~kFrameMask;

  for_each_word(base >> kFrameShift, end >> kFrameShift, [this](size_t w, uint64_t mask) {
    const uint64_t was_usable = mask & usable_[w];
    const uint64_t was_free = was_usable & free_[w];
    usable_[w] &= ~mask;
    free_[w] |= mask;  // (0,1): reserved
    usable_count_ -= popcount(was_usable);
    free_count_ -= popcount(was_free);
  });
}

bool FrameAllocator::is_allocated(uint64_t frame) const {
  const size_t w = static_cast<size_t>(frame / kBits);
  return ((usable_[w] & ~free_[w]) >> (frame % kBits)) & 1;
}

uint64_t FrameAllocator::alloc() {
  // Without this, an exhausted allocator would scan the whole bitmap on
  // every call.
  if (free_count_ == 0) return 0;
  size_t w = hint_;
  for (size_t n = 0; n < words_; ++n) {
    const uint64_t bits = available_word(w);
    if (bits != 0) {
      const unsigned bit = ctz(bits);
      free_[w] &= ~(uint64_t{1} << bit);
      --free_count_;
      hint_ = w;
      return (static_cast<uint64_t>(w) * kBits + bit) << kFrameShift;
    }
    w = w + 1 == words_ ? 0 : w + 1;
  }
  return 0;  // unreachable while free_count_ is consistent with the bitmaps
}

uint64_t FrameAllocator::next_available(uint64_t from) const {
  if (from >= frame_count_) return frame_count_;
  size_t w = static_cast<size_t>(from / kBits);
  uint64_t bits = available_word(w) & (kAllOnes << (from % kBits));
  while (bits == 0) {
    if (++w == words_) return frame_count_;
    bits = available_word(w);
  }
  // Bits at or above frame_count_ are never set, so this is in range.
  return static_cast<uint64_t>(w) * kBits + ctz(bits);
}

uint64_t FrameAllocator::first_unavailable(uint64_t from, uint64_t to) const {
  while (from < to) {
    const size_t w = static_cast<size_t>(from / kBits);
    const unsigned bit = static_cast<unsigned>(from % kBits);
    const uint64_t n = min(to - from, kBits - bit);
    const uint64_t mask = n == kBits ? kAllOnes : ((uint64_t{1} << n) - 1) << bit;
    const uint64_t missing = ~available_word(w) & mask;
    if (missing != 0) return static_cast<uint64_t>(w) * kBits + ctz(missing);
    from += n;
  }
  return to;
}

void FrameAllocator::mark_allocated(uint64_t first, uint64_t count) {
  for_each_word(first, first + count, [this](size_t w, uint64_t mask) { free_[w] &= ~mask; });
  free_count_ -= static_cast<size_t>(count);
}

void FrameAllocator::mark_free(uint64_t first, uint64_t count) {
  for_each_word(first, first + count, [this](size_t w, uint64_t mask) { free_[w] |= mask; });
  free_count_ += static_cast<size_t>(count);
}

void FrameAllocator::rebase(uint64_t* storage) {
  if (words_ == 0) return;  // tracks nothing: keeps no pointer to use
  usable_ = storage;
  free_ = storage + words_;
}

uint64_t FrameAllocator::alloc_contiguous(size_t frames, size_t align_frames) {
  return alloc_contiguous(frames, align_frames, PhysRange{0, kAllOnes});
}

uint64_t FrameAllocator::alloc_contiguous(size_t frames, size_t align_frames, PhysRange window) {
  if (frames == 0 || frames > free_count_) return 0;
  const uint64_t align = align_frames == 0 ? 1 : align_frames;
  // Frames wholly inside the window: [from, limit). A base in the last
  // partial frame of the address space holds no whole frame.
  if (window.end <= window.base || window.base > kAllOnes - kFrameMask) return 0;
  uint64_t from = (window.base + kFrameMask) >> kFrameShift;
  const uint64_t limit = min(frame_count_, window.end >> kFrameShift);
  if (from >= limit) return 0;

  for (;;) {
    // A run can only start at an available frame, and at an aligned one.
    const uint64_t first = next_available(from);
    if (first >= limit) return 0;
    const uint64_t rem = first % align;
    const uint64_t skip = rem == 0 ? 0 : align - rem;
    // Compared by subtraction: first + skip + frames may not fit in 64 bits.
    if (skip >= limit - first) return 0;
    const uint64_t start = first + skip;
    if (frames > limit - start) return 0;

    const uint64_t bad = first_unavailable(start, start + frames);
    if (bad == start + frames) {
      mark_allocated(start, frames);
      return start << kFrameShift;
    }
    // Every start at or before `bad` would include it.
    from = bad + 1;
  }
}

bool FrameAllocator::free(uint64_t pa) {
  if ((pa & kFrameMask) != 0) return false;
  const uint64_t frame = pa >> kFrameShift;
  if (frame >= frame_count_ || !is_allocated(frame)) return false;
  mark_free(frame, 1);
  return true;
}

bool FrameAllocator::free_contiguous(uint64_t pa, size_t frames) {
  if (frames == 0 || (pa & kFrameMask) != 0) return false;
  const uint64_t first = pa >> kFrameShift;
  if (first >= frame_count_ || frames > frame_count_ - first) return false;

  // Validate everything before touching anything: all-or-nothing.
  bool all_allocated = true;
  for_each_word(first, first + frames, [&](size_t w, uint64_t mask) {
    if ((usable_[w] & ~free_[w] & mask) != mask) all_allocated = false;
  });
  if (!all_allocated) return false;
  mark_free(first, frames);
  return true;
}

}  // namespace hv::mm
