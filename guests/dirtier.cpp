// dirtier: the vCPU loop of KVM's dirty_log_perf_test. Pass after pass, it
// writes one 64-bit word in each page of its working set: the pass number
// and the page's address, so that a copy of this memory taken at any moment
// can be checked word for word against the guest's own.
//   args: mib=N        working set (default 4 MiB)
//         base=GPA     where it starts (default 4 MiB)
//         stride=P     touch every P-th page (default 1)
//         order=seq|random   page order in a pass (random: a fresh permutation each pass)
//         passes=N     stop after N passes (default 0: forever)
//         stats=1      after every pass, ask the hypervisor for this guest's
//                      counters (HV_HC_STATS) into a page the guest itself
//                      never writes: a migration must carry that page too
// Progress: struct hv_dirtier_progress at HV_DIRTIER_PROGRESS_GPA, updated
// after every pass with the pass's TSC cycles, so a migrator can see the
// workload go on and what dirty logging costs it.
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

// A page of its own, written only by the hypervisor.
struct alignas(4096) CounterPage {
    hv_stats stats;
};
CounterPage counters;

volatile hv_dirtier_progress* const progress = reinterpret_cast<hv_dirtier_progress*>(HV_DIRTIER_PROGRESS_GPA);

// i -> (i * mult + offset) mod n is a permutation when mult is coprime with n;
// an odd multiplier near n * golden ratio spreads consecutive pages apart.
uint64_t coprime_multiplier(uint64_t n, uint64_t seed) {
    uint64_t m = (n * 0x9e3779b97f4a7c15ull >> 32 ^ seed) | 1;
    auto gcd = [](uint64_t a, uint64_t b) {
        while (b) {
            uint64_t t = a % b;
            a = b, b = t;
        }
        return a;
    };
    while (gcd(m % n ? m % n : 1, n) != 1) m += 2;
    return m % n ? m % n : 1;
}

}  // namespace

int guest_main(const Args& args) {
    uint64_t mib = args.u64("mib", 4), base = args.u64("base", 4ull << 20);
    uint64_t stride = args.u64("stride", 1), passes = args.u64("passes", 0);
    bool random = args.is("order", "random"), want_stats = args.is("stats", "1");
    uint64_t bytes = mib << 20, mem = args.boot->mem_bytes;
    if (mib == 0 || stride == 0 || base % 4096 || base >= mem || bytes > mem - base) {
        print("dirtier: %lu MiB at 0x%lx with stride %lu does not fit in %lu MiB\n", mib, base, stride, mem >> 20);
        return 2;
    }
    uint64_t pages = ((bytes >> 12) + stride - 1) / stride;
    print("dirtier: %lu pages of %lu MiB at 0x%lx, stride %lu, %s order, %lu passes\n", pages, mib, base, stride,
          random ? "random" : "sequential", passes);
    progress->magic = HV_DIRTIER_MAGIC;
    progress->pages = pages;
    for (uint64_t pass = progress->passes + 1; passes == 0 || pass <= passes; ++pass) {
        uint64_t t0 = rdtsc();
        uint64_t mult = random ? coprime_multiplier(pages, pass) : 1, offset = random ? pass * 7919 : 0;
        for (uint64_t i = 0; i < pages; ++i) {
            uint64_t page = (i * mult + offset) % pages;
            uint64_t gpa = base + page * stride * 4096;
            *reinterpret_cast<volatile uint64_t*>(gpa) = pass << 32 | (gpa >> 12);
        }
        // Cycles before the count: stores are not reordered with stores on
        // x86; a reader reads the count before and after the cycles.
        const uint64_t end = rdtsc(), cycles = end - t0;
        progress->last_pass_end = end;
        progress->last_pass_cycles = cycles;
        progress->total_cycles = progress->total_cycles + cycles;
        progress->passes = pass;
        if (want_stats) hypercall(HV_HC_STATS, reinterpret_cast<uint64_t>(&counters), sizeof counters.stats);
    }
    print("dirtier: %lu passes done\n", passes);
    return 0;
}
