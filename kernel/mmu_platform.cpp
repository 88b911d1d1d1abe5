#include "kernel/mmu_platform.h"

#include <new>

#include "arch/x86/cpu.h"
#include "include/hv/hypercall.h"
#include "arch/x86/paging.h"
#include "kernel/console.h"
#include "kernel/format.h"
#include "kernel/limits.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/tlb.h"
#include "mm/frame_allocator.h"
#include "mm/rmap.h"

extern "C" void* memset(void*, int, size_t);

namespace hv::mmu_platform {
namespace {

mm::FrameAllocator* frames;
SpinLock frame_lock;
mm::PageMeta* mem_map;
uint64_t mem_map_frames;  // frames that have a PageMeta: [0, mem_map_frames)

mm::Epoch the_epoch;
mm::ObjectCache descs;

// Where each VM's EPTP is used, for flush_tlb: one entry per CPU that runs
// one of its vCPUs.
struct Placement {
    uint64_t eptp;
    unsigned cpu;
    const char* guest;  // its name, for the report of a CPU that never serves
};
constexpr size_t kMaxPlacements = kMaxGuests * HV_MAX_VCPUS;
Placement placements[kMaxPlacements];
SpinLock placement_lock;

// Pending callbacks before call() pushes back: descriptors and page-table
// pages of a busy migration stay well below this.
constexpr size_t kMaxPendingCallbacks = 1u << 16;

void* p2v(void*, uint64_t pa) { return x86::phys_to_virt(pa); }
uint64_t v2p(void*, const void* va) { return x86::direct_map_to_phys(va); }

// The allocator never sleeps, so kNoWait and kMayBlock behave alike.
uint64_t alloc(void*, size_t count, mm::AllocMode) {
    LockGuard g(frame_lock);
    return count == 1 ? frames->alloc() : frames->alloc_contiguous(count, 1);
}

void free_pages(void*, uint64_t pa, size_t count) {
    bool ok;
    {
        LockGuard g(frame_lock);
        ok = frames->free_contiguous(pa, count);
    }
    // The MMU gave back something it did not own, or twice: its bug, said
    // loudly (the frames stay out of circulation, which is the safe side).
    if (!ok) print("hv: MMU freed %zu frames at 0x%lx that were not allocated\n", count, pa);
}

mm::PageMeta* meta(void*, uint64_t pa) {
    uint64_t f = pa >> 12;
    return f < mem_map_frames ? &mem_map[f] : nullptr;
}

// Invalidate here, then on every other CPU that runs a guest of this EPTP.
void flush(void*, uint64_t eptp) {
    tlb::flush_local(eptp);
    unsigned self = smp::current_cpu();
    unsigned targets[kMaxPlacements];
    char for_whom[kMaxPlacements][48];
    size_t n = 0;
    {
        LockGuard g(placement_lock);
        for (const Placement& p : placements)
            if (p.eptp == eptp && p.cpu != self)
                format(for_whom[n], sizeof for_whom[n], "guest '%s'", p.guest), targets[n++] = p.cpu;
    }
    for (size_t i = 0; i < n; ++i) tlb::flush_cpu(targets[i], for_whom[i]);
}

unsigned cpu(void*) { return smp::current_cpu(); }
void relax(void*) {
    tlb::serve();
    x86::pause();
}

// A grace period waits for every online CPU's next quiescent state; a CPU in
// a guest passes one at its next VM exit, which a kick brings now rather than
// at the end of its slice (up to 2^22 TSC ticks).
void kick_cpus(void*) {
    unsigned self = smp::current_cpu();
    for (unsigned c = 0; c < smp::cpu_count(); ++c)
        if (c != self) smp::kick(c);
}

uint64_t clock(void*) { return x86::rdtsc(); }
uint64_t wait_limit(void*) { return stall::deadline_tsc(); }
void unresponsive(void*, unsigned cpu, const char* what) { stall::unresponsive("epoch", cpu, "%s", what); }

const mm::Platform the_platform{nullptr, p2v,  v2p,       alloc,      free_pages, meta,        flush,
                                cpu,     relax, kick_cpus, clock,      wait_limit, unresponsive};

}  // namespace

bool init(mm::FrameAllocator& f, uint64_t max_phys, char* why, size_t n) {
    frames = &f;
    mem_map_frames = max_phys >> 12;
    uint64_t bytes = mem_map_frames * sizeof(mm::PageMeta);
    uint64_t pages = (bytes + 4095) / 4096;
    uint64_t pa = f.alloc_contiguous(pages, 1);
    if (!pa) {
        format(why, n, "no %lu KiB of contiguous memory for the page metadata", bytes >> 10);
        return false;
    }
    mem_map = x86::phys_to_virt<mm::PageMeta>(pa);
    for (uint64_t i = 0; i < mem_map_frames; ++i) new (&mem_map[i]) mm::PageMeta();
    the_epoch.init(&the_platform, kMaxPendingCallbacks);
    if (!descs.init(&the_platform, &the_epoch, sizeof(mm::PteListDesc))) {
        format(why, n, "rmap descriptor cache: init failed");
        return false;
    }
    return true;
}

const mm::Platform* platform() { return &the_platform; }

uint64_t alloc_frames(size_t count, size_t align_frames) {
    LockGuard g(frame_lock);
    return frames->alloc_contiguous(count, align_frames);
}

bool free_frames(uint64_t pa, size_t count) {
    LockGuard g(frame_lock);
    return frames->free_contiguous(pa, count);
}

void zero(uint64_t pa, uint64_t bytes) {
    constexpr uint64_t kStep = 2ull << 20;
    for (uint64_t done = 0; done < bytes; done += kStep) {
        memset(x86::phys_to_virt<char>(pa + done), 0, bytes - done < kStep ? bytes - done : kStep);
        tlb::serve();
        // And a quiescent state (refused in a read section; callers are
        // hypercall handlers, in none): else a grace period another CPU
        // waits for overruns its deadline while 256 MiB are zeroed here.
        if (the_epoch.online() && !the_epoch.in_read_section()) the_epoch.quiescent_state();
    }
}
mm::Epoch& epoch() { return the_epoch; }
mm::ObjectCache& rmap_descs() { return descs; }

void place(uint64_t eptp, unsigned cpu, const char* guest) {
    LockGuard g(placement_lock);
    for (const Placement& p : placements)
        if (p.eptp == eptp && p.cpu == cpu) return;  // another vCPU of the guest there
    for (Placement& p : placements)
        if (!p.eptp) {
            p = {eptp, cpu, guest};
            return;
        }
}

void unplace(uint64_t eptp) {
    LockGuard g(placement_lock);
    for (Placement& p : placements)
        if (p.eptp == eptp) p = {0, 0, nullptr};
}

}  // namespace hv::mmu_platform
