// The hypervisor's own address space: its image identity-mapped (page 0 left
// unmapped so that null pointers fault), and every usable RAM region mapped at
// kDirectMapBase + physical address.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mb2 {
struct BootInfo;
}
namespace hv::mm {
class FrameAllocator;
}

namespace hv::x86 {

inline constexpr uint64_t kDirectMapBase = 0xffff800000000000ull;

template <class T = void>
inline T* phys_to_virt(uint64_t pa) {
    return reinterpret_cast<T*>(kDirectMapBase + pa);
}

inline uint64_t direct_map_to_phys(const void* va) { return uint64_t(va) - kDirectMapBase; }

// Builds the tables described above from the memory map and switches CR3 to
// them. Returns false (with a message printed) when page-table frames run out.
bool build_kernel_address_space(const mb2::BootInfo& boot, mm::FrameAllocator& frames);

}  // namespace hv::x86
