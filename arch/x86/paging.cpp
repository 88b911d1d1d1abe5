#include "arch/x86/paging.h"

#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "kernel/multiboot2.h"
#include "mm/frame_allocator.h"

extern "C" char __kernel_start[], __kernel_end[];

namespace hv::x86 {
namespace {

// 4-level paging entry bits (Intel SDM Vol. 3A, 4.5).
namespace pte {
constexpr uint64_t P = 1ull << 0, RW = 1ull << 1, PS = 1ull << 7, NX = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace pte

constexpr uint64_t k4K = 1ull << 12, k2M = 1ull << 21;

class TableBuilder {
public:
    explicit TableBuilder(mm::FrameAllocator& frames) : frames_(frames) {}

    bool init() { return (root_ = new_table()) != 0; }
    uint64_t root() const { return root_; }

    // Maps [va, va+size) to [pa, pa+size), 2 MiB pages where both sides allow.
    bool map(uint64_t va, uint64_t pa, uint64_t size, uint64_t flags) {
        while (size) {
            bool big = (va % k2M) == 0 && (pa % k2M) == 0 && size >= k2M;
            uint64_t* e = entry(va, big ? 2 : 1);
            if (!e) return false;
            *e = pa | flags | pte::P | (big ? pte::PS : 0);
            uint64_t step = big ? k2M : k4K;
            va += step, pa += step, size -= step;
        }
        return true;
    }

private:
    // The boot tables identity-map the first 4 GiB, where the frame allocator
    // hands out page-table frames, so they can be written before the switch.
    static uint64_t* table_at(uint64_t pa) { return reinterpret_cast<uint64_t*>(pa); }

    uint64_t new_table() {
        uint64_t pa = frames_.alloc();
        if (!pa) return 0;
        if (pa >= (4ull << 30)) {
            print("paging: page-table frame %lx lies above the boot map's 4 GiB\n", pa);
            return 0;
        }
        uint64_t* t = table_at(pa);
        for (int i = 0; i < 512; ++i) t[i] = 0;
        return pa;
    }

    // The entry for va at level (1 = PTE, 2 = PDE), creating tables above it.
    uint64_t* entry(uint64_t va, int level) {
        uint64_t table = root_;
        for (int l = 4; l > level; --l) {
            uint64_t* e = &table_at(table)[(va >> (12 + 9 * (l - 1))) & 511];
            if (!(*e & pte::P)) {
                uint64_t t = new_table();
                if (!t) return nullptr;
                *e = t | pte::P | pte::RW;
            }
            table = *e & pte::kAddrMask;
        }
        return &table_at(table)[(va >> (12 + 9 * (level - 1))) & 511];
    }

    mm::FrameAllocator& frames_;
    uint64_t root_ = 0;
};

}  // namespace

bool build_kernel_address_space(const mb2::BootInfo& boot, mm::FrameAllocator& frames) {
    TableBuilder tb(frames);
    if (!tb.init()) return false;
    uint64_t kstart = uint64_t(__kernel_start) & ~(k4K - 1);
    uint64_t kend = (uint64_t(__kernel_end) + k4K - 1) & ~(k4K - 1);
    bool ok = tb.map(kstart, kstart, kend - kstart, pte::RW);
    for (size_t i = 0; ok && i < boot.region_count; ++i) {
        const mb2::MemoryRegion& r = boot.regions[i];
        if (r.type != mb2::MemoryType::Available) continue;
        uint64_t base = r.base & ~(k4K - 1);
        uint64_t end = (r.base + r.length + k4K - 1) & ~(k4K - 1);
        ok = tb.map(kDirectMapBase + base, base, end - base, pte::RW | pte::NX);
    }
    if (!ok) {
        print("paging: out of frames while building the direct map\n");
        return false;
    }
    wrmsr(Msr::IA32_EFER, rdmsr(Msr::IA32_EFER) | efer::NXE);
    write_cr3(tb.root());
    return true;
}

}  // namespace hv::x86
