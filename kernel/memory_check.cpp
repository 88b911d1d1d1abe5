#include "kernel/memory_check.h"

#include "arch/x86/paging.h"
#include "kernel/console.h"
#include "kernel/format.h"
#include "mm/frame_allocator.h"

namespace hv::memory_check {
namespace {

constexpr uint64_t k4G = 4ull << 30, k1G = 1ull << 30, k2M = 2ull << 20, k4K = 4096;

// One frame per window: a GiB each, fewer and wider windows on a machine
// with more than 64 GiB, so the check costs the same on any machine.
constexpr size_t kMaxProbes = 64;

// A value per physical qword that differs between frames and offsets: a frame
// the direct map aliased to another, or missed, reads back wrong.
uint64_t pattern(uint64_t pa) { return pa * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5a5a5a5a5aull; }

void fill(uint64_t pa, uint64_t bytes) {
    volatile uint64_t* q = x86::phys_to_virt<volatile uint64_t>(pa);
    for (uint64_t i = 0; i < bytes / 8; ++i) q[i] = pattern(pa + i * 8);
}

// The first physical address that reads back wrong, or 0.
uint64_t verify(uint64_t pa, uint64_t bytes) {
    const volatile uint64_t* q = x86::phys_to_virt<const volatile uint64_t>(pa);
    for (uint64_t i = 0; i < bytes / 8; ++i)
        if (q[i] != pattern(pa + i * 8)) return pa + i * 8;
    return 0;
}

}  // namespace

bool run(mm::FrameAllocator& frames, const mm::PhysRange* ram, size_t n, char* why, size_t why_size) {
    if (n == 0) return true;
    const uint64_t top = ram[n - 1].end;
    uint64_t stride = k1G;
    while (top / stride >= kMaxProbes) stride *= 2;

    uint64_t probes[kMaxProbes + 1];
    size_t count = 0, above = 0;
    uint64_t highest = 0;
    auto take = [&](uint64_t pa) {
        if (!pa) return;
        probes[count++] = pa;
        if (pa >= k4G) ++above;
        if (pa > highest) highest = pa;
    };
    for (uint64_t w = 0; w < top && count < kMaxProbes; w += stride)
        take(frames.alloc_contiguous(1, 1, {w, w + stride}));
    // The very last frame of RAM, to show the direct map reaches the end.
    take(frames.alloc_contiguous(1, 1, {top - k4K, top}));  // 0 if a window already took it
    // A 2 MiB-aligned run above 4 GiB: what a guest's memory is backed with.
    uint64_t run = top > k4G ? frames.alloc_contiguous(k2M / k4K, k2M / k4K, {k4G, top}) : 0;

    for (size_t i = 0; i < count; ++i) fill(probes[i], k4K);
    if (run) fill(run, k2M);
    uint64_t bad = 0;
    for (size_t i = 0; i < count && !bad; ++i) bad = verify(probes[i], k4K);
    if (!bad && run) bad = verify(run, k2M);
    for (size_t i = 0; i < count; ++i) frames.free(probes[i]);
    if (run) frames.free_contiguous(run, k2M / k4K);

    if (bad) {
        format(why, why_size, "memory check: physical 0x%lx read back 0x%lx through the direct map, not 0x%lx", bad,
               *x86::phys_to_virt<const volatile uint64_t>(bad), pattern(bad));
        return false;
    }
    if (top > k4G && (above == 0 || run == 0)) {
        format(why, why_size, "memory check: RAM reaches 0x%lx but the allocator gave %s above 4 GiB", top,
               above == 0 ? "no frame" : "no 2 MiB-aligned run");
        return false;
    }
    print("hv: memory check: %zu frames across RAM (%zu above 4 GiB, the highest 0x%lx)", count, above, highest);
    if (run) print(" and 2 MiB at 0x%lx", run);
    print(" written and read back through the direct map\n");
    return true;
}

}  // namespace hv::memory_check
