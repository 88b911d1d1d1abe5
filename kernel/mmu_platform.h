// The kernel's binding of the MMU core's platform interface (mm/platform.h):
// the direct map, the frame allocator under a lock, a PageMeta per frame (the
// "mem_map"), EPT TLB flushes on every CPU that runs the guest, the calling
// CPU's index; and the two objects all VMs share: the epoch (our RCU) and the
// type-stable cache of rmap descriptors.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mm/epoch.h"
#include "mm/object_cache.h"
#include "mm/platform.h"

namespace hv::mm {
class FrameAllocator;
}

namespace hv::mmu_platform {

// frames must not be used without frame_lock() from now on by code that can
// run while guests run. max_phys bounds the frames that get a PageMeta.
bool init(mm::FrameAllocator& frames, uint64_t max_phys, char* why, size_t why_size);

const mm::Platform* platform();
mm::Epoch& epoch();
mm::ObjectCache& rmap_descs();

// Frames for guest memory, under the same lock as the MMU's: guests are
// created and slots added while other CPUs run guests. 0 when none is left;
// free refuses (false) what was not allocated.
uint64_t alloc_frames(size_t count, size_t align_frames);
bool free_frames(uint64_t pa, size_t count);
// Zeroes [pa, pa + bytes) in 2 MiB steps, serving this CPU's flush requests
// between them: zeroing 1 GiB takes Bochs some 2^30 TSC ticks (one per byte
// of rep stosb), far past the cross-CPU deadline (kernel/stall.h), and a CPU
// that works must not look like one that hangs.
void zero(uint64_t pa, uint64_t bytes);

// Which CPU runs the guest of an EPTP (for cross-CPU flushes), and the
// guest's name (kept, not copied: it lives as long as the placement); set
// when a VM is created.
void place(uint64_t eptp, unsigned cpu, const char* guest);
void unplace(uint64_t eptp);

}  // namespace hv::mmu_platform
