#include "arch/x86/paging.h"

#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "kernel/multiboot2.h"
#include "kernel/spinlock.h"
#include "mm/frame_allocator.h"

extern "C" char __kernel_start[], __kernel_end[];

namespace hv::x86 {
namespace {

// 4-level paging entry bits (Intel SDM Vol. 3A, 4.5).
namespace pte {
constexpr uint64_t P = 1ull << 0, RW = 1ull << 1, PWT = 1ull << 3, PCD = 1ull << 4, PS = 1ull << 7,
                   NX = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace pte

constexpr uint64_t k4K = 1ull << 12, k2M = 1ull << 21;

class TableBuilder {
public:
    explicit TableBuilder(mm::FrameAllocator& frames) : frames_(frames) {}
    // Edits the live tables at root after boot, reaching them through the direct map.
    TableBuilder(mm::FrameAllocator& frames, uint64_t root) : frames_(frames), root_(root), live_(true) {}

    bool init() { return (root_ = new_table()) != 0; }
    uint64_t root() const { return root_; }

    // The level-2 entry (PDE) for va, creating the tables above it; nullptr
    // when out of frames.
    uint64_t* pde(uint64_t va) { return entry(va, 2); }

    // The level-1 entry (PTE) for va. A 2 MiB page in the way is split first
    // into 512 4 KiB entries with the same frames and flags, so that the rest
    // of that 2 MiB keeps its translation.
    uint64_t* pte(uint64_t va) {
        uint64_t* d = entry(va, 2);
        if (!d) return nullptr;
        if ((*d & pte::P) && (*d & pte::PS)) {
            uint64_t t = new_table();
            if (!t) return nullptr;
            uint64_t base = *d & pte::kAddrMask & ~(k2M - 1);
            uint64_t flags = *d & ~pte::kAddrMask & ~pte::PS;  // PAT (bit 12 of a PDE) is never set here
            uint64_t* children = table_at(t);
            for (uint64_t i = 0; i < 512; ++i) children[i] = (base + i * k4K) | flags;
            *d = t | pte::P | pte::RW;  // RW/NX stay with the leaves
            // The split changes no translation, but the 2 MiB TLB entry must
            // go before the leaves are edited (Intel SDM Vol. 3A, 4.10.4.1).
            invlpg(va);
        }
        return entry(va, 1);
    }

    static void invlpg(uint64_t va) { asm volatile("invlpg (%0)" ::"r"(va) : "memory"); }

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
    // After the switch, low memory is no longer identity-mapped: the live
    // tables are reached through the direct map, where every frame the
    // allocator hands out is mapped.
    uint64_t* table_at(uint64_t pa) const {
        return live_ ? phys_to_virt<uint64_t>(pa) : reinterpret_cast<uint64_t*>(pa);
    }

    uint64_t new_table() {
        uint64_t pa = frames_.alloc();
        if (!pa) return 0;
        if (!live_ && pa >= (4ull << 30)) {
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
            if ((*e & pte::P) && (*e & pte::PS)) return nullptr;  // a 1 GiB page: never made here
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
    bool live_ = false;
};

// What map_physical() and the identity-page calls need after boot. The lock
// serialises edits of the shared tables (every CPU runs on them).
mm::FrameAllocator* live_frames;
uint64_t live_root;
SpinLock live_lock;

// The direct map lives in the upper half, PML4 slots 256..511: 128 TiB, so a
// physical address must stay below this to have a direct-map address at all.
constexpr uint64_t kDirectMapSpan = 1ull << 46;

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
    live_frames = &frames;
    live_root = tb.root();
    return true;
}

uint64_t kernel_cr3() { return live_root; }

bool map_physical(uint64_t pa, uint64_t size, Cache cache) {
    if (!live_frames || size == 0) return false;
    uint64_t start = pa & ~(k4K - 1);
    if (pa + size < pa || pa + size > kDirectMapSpan) return false;
    uint64_t end = (pa + size + k4K - 1) & ~(k4K - 1);
    uint64_t flags = pte::P | pte::RW | pte::NX | (cache == Cache::Uncached ? pte::PCD | pte::PWT : 0);
    LockGuard g(live_lock);
    TableBuilder tb(*live_frames, live_root);
    for (uint64_t p = start; p < end;) {
        uint64_t va = kDirectMapBase + p;
        uint64_t* d = tb.pde(va);
        if (!d) return false;
        // A 2 MiB page of the boot-time direct map already maps this frame
        // write-back (the direct map is linear): keep it whole when that is
        // what is asked for, split it otherwise.
        if ((*d & pte::P) && (*d & pte::PS) && cache == Cache::WriteBack && !(*d & (pte::PCD | pte::PWT))) {
            p = (p | (k2M - 1)) + 1;
            continue;
        }
        uint64_t* e = tb.pte(va);
        if (!e) return false;
        uint64_t want = p | flags;
        if (*e != want) {
            *e = want;
            TableBuilder::invlpg(va);  // a changed memory type must not linger in this CPU's TLB
        }
        p += k4K;
    }
    return true;
}

bool map_identity_page(uint64_t pa) {
    if (!live_frames || pa % k4K || pa == 0 || pa >= (1ull << 32)) return false;
    LockGuard g(live_lock);
    TableBuilder tb(*live_frames, live_root);
    uint64_t* e = tb.pte(pa);
    if (!e) return false;
    *e = pa | pte::P | pte::RW;  // executable: real-mode code runs here
    TableBuilder::invlpg(pa);
    return true;
}

void unmap_identity_page(uint64_t pa) {
    if (!live_frames) return;
    LockGuard g(live_lock);
    TableBuilder tb(*live_frames, live_root);
    if (uint64_t* e = tb.pte(pa)) {
        *e = 0;
        TableBuilder::invlpg(pa);
    }
}

}  // namespace hv::x86
