// The boot's proof that all RAM is the kernel's: frames allocated across the
// whole memory map, those above 4 GiB included, written and read back through
// the direct map. It runs before VMX is asked for, so an emulator without VMX
// (QEMU's TCG) still checks the direct map and the frame allocator of a
// machine with many GiB.
#pragma once

#include <stddef.h>

namespace hv::mm {
class FrameAllocator;
struct PhysRange;
}  // namespace hv::mm

namespace hv::memory_check {

// `ram` is the usable RAM the allocator and the direct map were built from
// (sorted, disjoint). Prints what it checked; false, with `why` filled, if a
// frame reads back other than it was written, or RAM above 4 GiB gave no
// frame. Frees what it allocated.
bool run(mm::FrameAllocator& frames, const mm::PhysRange* ram, size_t n, char* why, size_t why_size);

}  // namespace hv::memory_check
