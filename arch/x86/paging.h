// The hypervisor's own address space: its image identity-mapped (page 0 left
// unmapped so that null pointers fault), and all usable RAM, wherever it lies,
// mapped at kDirectMapBase + physical address: with 1 GiB pages where the CPU
// has them and the RAM fills whole aligned GiBs, else 2 MiB, else 4 KiB pages.
// Only RAM is mapped: a large page never reaches into a hole (MMIO, firmware).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mm {
class FrameAllocator;
struct PhysRange;
}

namespace hv::x86 {

inline constexpr uint64_t kDirectMapBase = 0xffff800000000000ull;

// The direct map lives in the upper half, from PML4 slot 256: a physical
// address must stay below this (64 TiB) to have a direct-map address at all.
inline constexpr uint64_t kDirectMapSpan = 1ull << 46;

template <class T = void>
inline T* phys_to_virt(uint64_t pa) {
    return reinterpret_cast<T*>(kDirectMapBase + pa);
}

inline uint64_t direct_map_to_phys(const void* va) { return uint64_t(va) - kDirectMapBase; }

// Builds the tables described above for the RAM ranges `ram` (sorted,
// disjoint, frame-aligned, below kDirectMapSpan) and switches CR3 to them;
// prints what it mapped. Runs on the boot tables, which identity-map only the
// first 4 GiB: the new tables' frames come from there (the APs' trampoline
// also loads CR3 in 32-bit mode). Returns false, with a message printed that
// names what could not be mapped, when such frames run out.
bool build_kernel_address_space(const mm::PhysRange* ram, size_t n, mm::FrameAllocator& frames);

// The physical address of the kernel's PML4 (what CR3 holds on every CPU).
uint64_t kernel_cr3();

// Memory types for map_physical(): write-back for memory (ACPI tables),
// uncached (PCD|PWT, PAT entry 3 = UC) for device registers (Intel SDM Vol. 3A, 12.12.3).
enum class Cache : uint8_t { WriteBack, Uncached };

// Adds [pa, pa + size) to the direct map after boot (phys_to_virt(pa) is then
// usable for it), with page-table frames from the allocator given at boot.
// Parts already mapped by a large page (2 MiB or 1 GiB) stay as they are when
// write-back is asked for, and that page is split when a different type is. Not-present
// entries are never cached in TLBs, so other CPUs need no flush for a new
// mapping; a memory-type change of a mapping other CPUs have used does (call
// this before they use the range). Returns false when out of frames or when
// the range lies beyond the direct map's reach.
bool map_physical(uint64_t pa, uint64_t size, Cache cache);

// Identity-maps (executable) / unmaps one 4 KiB page below 4 GiB in the
// kernel's tables: the AP trampoline turns paging on while running there.
bool map_identity_page(uint64_t pa);
void unmap_identity_page(uint64_t pa);

}  // namespace hv::x86
