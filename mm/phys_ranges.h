// Arithmetic over lists of physical address ranges, for the boot path: the
// usable RAM of a firmware memory map (whose entries may come in any order,
// overlap, or call part of an "available" entry reserved), and a place in it
// for something the kernel needs before it has a frame allocator.
//
// Freestanding: <stdint.h> and <stddef.h> only, so host tests run the same code.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mm {

struct PhysRange {
  uint64_t base;  // inclusive
  uint64_t end;   // exclusive; a range with end <= base is empty
};

// Returned by usable_ranges() when the answer has more than `cap` ranges.
inline constexpr size_t kTooManyRanges = ~size_t{0};

// The RAM that is usable: the `ram` ranges rounded inward to whole 4 KiB
// frames, sorted by address and merged where they touch or overlap, with every
// `hole` (rounded outward) cut out, so that memory a firmware calls both
// available and reserved counts as reserved. Writes the disjoint, sorted,
// non-empty result to out[0..count) and returns count; kTooManyRanges (out
// then unspecified) if it has more than `cap` ranges. Cutting holes splits a
// range at most once per hole, so cap >= n_ram + n_holes always suffices.
size_t usable_ranges(const PhysRange* ram, size_t n_ram, const PhysRange* holes, size_t n_holes, PhysRange* out,
                     size_t cap);

// The lowest address `a`, a multiple of `align` (a power of two), such that
// [a, a + size) lies inside one range of `ram` (sorted and disjoint, as
// usable_ranges() gives), ends at or below `limit`, and overlaps no range of
// `taken` (any order). False if there is none or size == 0.
bool lowest_fit(const PhysRange* ram, size_t n_ram, const PhysRange* taken, size_t n_taken, uint64_t size,
                uint64_t align, uint64_t limit, uint64_t* at);

}  // namespace hv::mm
