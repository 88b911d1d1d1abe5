#include "arch/x86/paging.h"

#include "arch/x86/cpu.h"
#include "kernel/console.h"
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

constexpr uint64_t k4K = 1ull << 12, k2M = 1ull << 21, k1G = 1ull << 30;

// The boot tables (boot/entry.asm) identity-map this much: before the switch,
// page-table frames must lie below it to be written at all.
constexpr uint64_t kBootIdentityMap = 4ull << 30;

// Bytes one entry of a level maps: 4 KiB at level 1 (PTE), 2 MiB at 2 (PDE),
// 1 GiB at 3 (PDPTE).
constexpr uint64_t level_size(int level) { return k4K << (9 * (level - 1)); }

// CPUID.80000001H:EDX.Page1GB[bit 26]: PDPTEs may map 1 GiB pages (Intel SDM
// Vol. 3A, 4.1.4).
bool has_1g_pages() {
    if (cpuid(0x80000000).eax < 0x80000001) return false;
    return (cpuid(0x80000001).edx >> 26) & 1;
}

class TableBuilder {
public:
    explicit TableBuilder(mm::FrameAllocator& frames) : frames_(frames) {}
    // Edits the live tables at root after boot, reaching them through the direct map.
    TableBuilder(mm::FrameAllocator& frames, uint64_t root) : frames_(frames), root_(root), live_(true) {}

    bool init() { return (root_ = new_table()) != 0; }
    uint64_t root() const { return root_; }

    // The entry for va at `level` (1 = PTE, 2 = PDE, 3 = PDPTE), creating the
    // tables above it; nullptr when out of frames. A larger page in the way is
    // split first into 512 entries of the next size with the same frames and
    // flags, so that the rest of it keeps its translation.
    uint64_t* entry(uint64_t va, int level) {
        uint64_t table = root_;
        for (int l = 4; l > level; --l) {
            uint64_t* e = &table_at(table)[index(va, l)];
            if ((*e & pte::P) && (*e & pte::PS)) {
                if (!split(e, l, va)) return nullptr;
            } else if (!(*e & pte::P)) {
                uint64_t t = new_table();
                if (!t) return nullptr;
                *e = t | pte::P | pte::RW;  // RW/NX stay with the leaves
            }
            table = *e & pte::kAddrMask;
        }
        return &table_at(table)[index(va, level)];
    }

    // The present large-page leaf (PDPTE or PDE with PS) that maps va, and
    // its size; nullptr if va is unmapped or mapped by a 4 KiB page.
    // Creates nothing.
    uint64_t* large_leaf(uint64_t va, uint64_t* size) const {
        uint64_t table = root_;
        for (int l = 4; l > 1; --l) {
            uint64_t* e = &table_at(table)[index(va, l)];
            if (!(*e & pte::P)) return nullptr;
            if (*e & pte::PS) {
                *size = level_size(l);
                return e;
            }
            table = *e & pte::kAddrMask;
        }
        return nullptr;
    }

    static void invlpg(uint64_t va) { asm volatile("invlpg (%0)" ::"r"(va) : "memory"); }

    // Maps [va, va+size) to [pa, pa+size) with the largest pages both sides'
    // alignment and the size allow: 1 GiB ones only when gb_pages.
    bool map(uint64_t va, uint64_t pa, uint64_t size, uint64_t flags, bool gb_pages) {
        while (size) {
            int level = 1;
            for (int l = gb_pages ? 3 : 2; l > 1; --l) {
                uint64_t s = level_size(l);
                if (va % s == 0 && pa % s == 0 && size >= s) {
                    level = l;
                    break;
                }
            }
            uint64_t* e = entry(va, level);
            if (!e) return false;
            *e = pa | flags | pte::P | (level > 1 ? pte::PS : 0);
            ++pages_[level - 1];
            uint64_t step = level_size(level);
            va += step, pa += step, size -= step;
        }
        return true;
    }

    // What map() made: leaves of 4 KiB, 2 MiB, 1 GiB; and table frames.
    uint64_t pages(int level) const { return pages_[level - 1]; }
    uint64_t tables() const { return tables_; }

private:
    static unsigned index(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }

    // Before the switch the new tables are written through the boot tables'
    // identity map, which is why their frames come from below 4 GiB. After
    // it, low memory is no longer identity-mapped: the live tables are
    // reached through the direct map, where every frame the allocator hands
    // out is mapped.
    uint64_t* table_at(uint64_t pa) const {
        return live_ ? phys_to_virt<uint64_t>(pa) : reinterpret_cast<uint64_t*>(pa);
    }

    uint64_t new_table() {
        uint64_t pa = live_ ? frames_.alloc() : frames_.alloc_contiguous(1, 1, {0, kBootIdentityMap});
        if (!pa) return 0;
        uint64_t* t = table_at(pa);
        for (int i = 0; i < 512; ++i) t[i] = 0;
        ++tables_;
        return pa;
    }

    // Replaces the large page at *e (level 3 or 2) by a table of 512 entries
    // of the next size down that map the same frames with the same flags.
    bool split(uint64_t* e, int level, uint64_t va) {
        uint64_t t = new_table();
        if (!t) return false;
        uint64_t size = level_size(level), child = level_size(level - 1);
        uint64_t base = *e & pte::kAddrMask & ~(size - 1);
        // Bit 12 of a large page is PAT, never set here; bit 7 of a PTE would
        // be PAT too, so a 4 KiB child drops PS.
        uint64_t flags = *e & ~pte::kAddrMask & ~pte::PS;
        if (level - 1 > 1) flags |= pte::PS;
        uint64_t* children = table_at(t);
        for (uint64_t i = 0; i < 512; ++i) children[i] = (base + i * child) | flags;
        *e = t | pte::P | pte::RW;
        // The split changes no translation, but the large TLB entry must go
        // before the children are edited (Intel SDM Vol. 3A, 4.10.4.1).
        invlpg(va);
        return true;
    }

    mm::FrameAllocator& frames_;
    uint64_t root_ = 0;
    bool live_ = false;
    uint64_t pages_[3] = {};
    uint64_t tables_ = 0;
};

// What map_physical() and the identity-page calls need after boot. The lock
// serialises edits of the shared tables (every CPU runs on them).
mm::FrameAllocator* live_frames;
uint64_t live_root;
SpinLock live_lock;

}  // namespace

bool build_kernel_address_space(const mm::PhysRange* ram, size_t n, mm::FrameAllocator& frames) {
    TableBuilder tb(frames);
    if (!tb.init()) {
        print("paging: no frame below 4 GiB for the PML4\n");
        return false;
    }
    bool gb = has_1g_pages();
    uint64_t kstart = uint64_t(__kernel_start) & ~(k4K - 1);
    uint64_t kend = (uint64_t(__kernel_end) + k4K - 1) & ~(k4K - 1);
    if (!tb.map(kstart, kstart, kend - kstart, pte::RW, false)) {
        print("paging: no frame below 4 GiB for the tables of the kernel image\n");
        return false;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; ++i) {
        const mm::PhysRange& r = ram[i];
        if (r.end > kDirectMapSpan) {
            print("paging: RAM [0x%lx, 0x%lx) lies beyond the direct map's reach (0x%lx)\n", r.base, r.end,
                  kDirectMapSpan);
            return false;
        }
        if (!tb.map(kDirectMapBase + r.base, r.base, r.end - r.base, pte::RW | pte::NX, gb)) {
            print("paging: out of frames below 4 GiB for page tables while mapping RAM [0x%lx, 0x%lx) "
                  "(%lu table frames so far)\n",
                  r.base, r.end, tb.tables());
            return false;
        }
        bytes += r.end - r.base;
    }
    wrmsr(Msr::IA32_EFER, rdmsr(Msr::IA32_EFER) | efer::NXE);
    write_cr3(tb.root());
    live_frames = &frames;
    live_root = tb.root();
    print("hv: direct map: %lu MiB of RAM in %zu ranges: %lu 1 GiB pages%s, %lu 2 MiB, %lu 4 KiB; "
          "%lu page-table frames\n",
          bytes >> 20, n, tb.pages(3), gb ? "" : " (CPU has none)", tb.pages(2), tb.pages(1), tb.tables());
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
        // A large page of the boot-time direct map already maps this frame
        // write-back (the direct map is linear): keep it whole when that is
        // what is asked for, split it (in tb.entry) otherwise.
        uint64_t big;
        if (const uint64_t* l = tb.large_leaf(va, &big);
            l && cache == Cache::WriteBack && !(*l & (pte::PCD | pte::PWT))) {
            p = (p | (big - 1)) + 1;
            continue;
        }
        uint64_t* e = tb.entry(va, 1);
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
    uint64_t* e = tb.entry(pa, 1);
    if (!e) return false;
    *e = pa | pte::P | pte::RW;  // executable: real-mode code runs here
    TableBuilder::invlpg(pa);
    return true;
}

void unmap_identity_page(uint64_t pa) {
    if (!live_frames) return;
    LockGuard g(live_lock);
    TableBuilder tb(*live_frames, live_root);
    if (uint64_t* e = tb.entry(pa, 1)) {
        *e = 0;
        TableBuilder::invlpg(pa);
    }
}

}  // namespace hv::x86
