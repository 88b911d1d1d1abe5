// slotter: a control guest that changes another guest's memory slots while
// it runs (a slot at 2 GiB created and deleted `count` times), waiting after
// each change until the target has emulated another MMIO access. Every change
// bumps the target's memslot generation, so its MMIO SPTEs go stale: with
// mmio_zap=gen they are found stale on the next access, without any walk;
// with mmio_zap=walk each change walks the tables to zap them.
//   args: target=ID, count=N (default 8), kib=N (the slot's size, default
//         2048; tools/hv perf uses 4, so that allocating and zeroing the slot
//         does not hide the MMIO invalidation in the cost of a change)
// With toggle=N it instead turns dirty logging of the target's slot 0 (mib=
// its size, default 16) on and off N times while the target runs, then stops
// the target if stop=1; toggle=forever goes on until the target is stopped.
// Each "on" waits for a grace period and flushes the target's CPU under the
// target's slots lock: two slotters on two CPUs contend for that lock.
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

hv_guest_stats stats(uint64_t target) {
    hv_guest_stats s{};
    hypercall(HV_HC_GUEST_STATS, target, reinterpret_cast<uint64_t>(&s), sizeof s);
    return s;
}

// True once the target has emulated more than `seen` MMIO accesses; false if
// it stopped first (or is gone).
bool wait_for_mmio(uint64_t target, uint64_t seen) {
    for (unsigned spins = 0; spins < 1000000; ++spins) {
        hv_guest_stats s = stats(target);
        if (s.mmio_emulated > seen) return true;
        asm volatile("pause");
    }
    return false;
}

}  // namespace

namespace {

int toggle_logging(uint64_t target, uint64_t times, uint64_t mib, bool stop) {
    // Once the target has mappings, every "on" has SPTEs to split and
    // write-protect, and a flush to send to the target's CPU.
    while (stats(target).leaves_2m + stats(target).leaves_4k == 0) asm volatile("pause");
    static hv_memory_region slot{};
    slot = {0, 0, 0, mib << 20};
    uint64_t done = 0;
    for (; times == 0 || done < 2 * times; ++done) {
        slot.flags = done % 2 ? 0 : HV_MEM_LOG_DIRTY_PAGES;
        int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot));
        if (r == -HV_ENOENT && times == 0) break;  // the other slotter stopped it
        if (r) {
            print("slotter: change #%lu -> %ld\n", done, r);
            return 3;
        }
    }
    if (stop) hypercall(HV_HC_STOP_GUEST, target);
    print("slotter: guest %lu: logging turned on and off %lu times%s\n", target, done / 2,
          times ? "" : " until it stopped");
    return 0;
}

}  // namespace

int guest_main(const Args& args) {
    if (args.u64("toggle", 0) || args.is("toggle", "forever"))
        return toggle_logging(args.u64("target", 0), args.u64("toggle", 0), args.u64("mib", 16), args.is("stop", "1"));
    uint64_t target = args.u64("target", 0), count = args.u64("count", 8), kib = args.u64("kib", 2048);
    hv_guest_stats s0 = stats(target);
    if (!wait_for_mmio(target, 0)) {
        print("slotter: guest %lu never touched its MMIO region\n", target);
        return 2;
    }
    static hv_memory_region slot{1, 0, 2ull << 30, 2ull << 20};
    uint64_t change_cycles = 0, changes = 0;
    for (uint64_t i = 0; i < count; ++i) {
        slot.memory_size = i % 2 ? 0 : kib << 10;  // create, delete, ...
        uint64_t t0 = rdtsc();
        int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot));
        change_cycles += rdtsc() - t0, ++changes;
        if (r) {
            print("slotter: set_memory_region #%lu -> %ld\n", i, r);
            return 3;
        }
        if (!wait_for_mmio(target, stats(target).mmio_emulated)) break;
    }
    hv_guest_stats s = stats(target);
    print("slotter: guest %lu: memslot generation %lu -> %lu, MMIO SPTEs created %lu, stale %lu, walk zaps %lu, "
          "wrap zaps %lu, %lu accesses emulated\n",
          target, s0.memslot_generation, s.memslot_generation, s.mmio_created, s.mmio_stale, s.mmio_walk_zaps,
          s.mmio_wrap_zaps, s.mmio_emulated);
    print("slotter: %lu cycles per slot change (the MMIO invalidation included)\n", changes ? change_cycles / changes : 0);
    return 0;
}
