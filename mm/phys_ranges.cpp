#include "mm/phys_ranges.h"

namespace hv::mm {
namespace {

constexpr uint64_t kFrameMask = 4095;
constexpr uint64_t kAllOnes = ~uint64_t{0};

constexpr uint64_t min(uint64_t a, uint64_t b) { return a < b ? a : b; }
constexpr uint64_t max(uint64_t a, uint64_t b) { return a > b ? a : b; }

// Cuts [hb, he) out of the sorted, disjoint out[0..n); false if a split needs
// more than cap ranges.
bool cut(PhysRange* out, size_t& n, size_t cap, uint64_t hb, uint64_t he) {
  for (size_t i = 0; i < n;) {
    if (he <= out[i].base || hb >= out[i].end) {
      ++i;
    } else if (hb <= out[i].base && he >= out[i].end) {  // swallowed whole
      for (size_t j = i + 1; j < n; ++j) out[j - 1] = out[j];
      --n;
    } else if (hb > out[i].base && he < out[i].end) {  // inside: two pieces remain
      if (n == cap) return false;
      for (size_t j = n; j > i + 1; --j) out[j] = out[j - 1];
      ++n;
      out[i + 1] = PhysRange{he, out[i].end};
      out[i].end = hb;
      i += 2;
    } else {  // one end trimmed
      if (hb <= out[i].base)
        out[i].base = he;
      else
        out[i].end = hb;
      ++i;
    }
  }
  return true;
}

}  // namespace

size_t usable_ranges(const PhysRange* ram, size_t n_ram, const PhysRange* holes, size_t n_holes, PhysRange* out,
                     size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < n_ram; ++i) {
    const PhysRange r = ram[i];
    // Inward: a partial frame is not a frame the kernel may hand out or map.
    // A base in the last partial frame would wrap when rounded up.
    if (r.end <= r.base || r.base > kAllOnes - kFrameMask) continue;
    const uint64_t base = (r.base + kFrameMask) & ~kFrameMask;
    const uint64_t end = r.end & ~kFrameMask;
    if (base >= end) continue;
    if (n == cap) return kTooManyRanges;
    out[n++] = PhysRange{base, end};
  }

  // Insertion sort: a memory map has tens of entries, and the kernel has no
  // library sort.
  for (size_t i = 1; i < n; ++i) {
    const PhysRange x = out[i];
    size_t j = i;
    for (; j > 0 && out[j - 1].base > x.base; --j) out[j] = out[j - 1];
    out[j] = x;
  }

  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    if (m > 0 && out[i].base <= out[m - 1].end)
      out[m - 1].end = max(out[m - 1].end, out[i].end);
    else
      out[m++] = out[i];
  }
  n = m;

  for (size_t i = 0; i < n_holes; ++i) {
    const PhysRange h = holes[i];
    if (h.end <= h.base) continue;
    // Outward: a frame partly reserved is not usable. An end in the last
    // partial frame cannot be rounded up, but no usable range reaches it.
    const uint64_t hb = h.base & ~kFrameMask;
    const uint64_t he = h.end > kAllOnes - kFrameMask ? kAllOnes & ~kFrameMask : (h.end + kFrameMask) & ~kFrameMask;
    if (!cut(out, n, cap, hb, he)) return kTooManyRanges;
  }
  return n;
}

bool lowest_fit(const PhysRange* ram, size_t n_ram, const PhysRange* taken, size_t n_taken, uint64_t size,
                uint64_t align, uint64_t limit, uint64_t* at) {
  if (size == 0 || align == 0 || (align & (align - 1)) != 0) return false;
  for (size_t i = 0; i < n_ram; ++i) {
    const uint64_t end = min(ram[i].end, limit);
    uint64_t a = ram[i].base;
    for (;;) {
      if (a > kAllOnes - (align - 1)) break;
      a = (a + align - 1) & ~(align - 1);
      // By subtraction: a + size may not fit in 64 bits.
      if (a >= end || size > end - a) break;
      bool moved = false;
      for (size_t t = 0; t < n_taken; ++t) {
        const PhysRange& r = taken[t];
        if (r.end > r.base && r.base < a + size && r.end > a) {
          a = r.end;  // every start at or before it would overlap it
          moved = true;
          break;
        }
      }
      if (!moved) {
        *at = a;
        return true;
      }
    }
  }
  return false;
}

}  // namespace hv::mm
