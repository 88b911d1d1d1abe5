// dirtier: the vCPU loop of KVM's dirty_log_perf_test. Pass after pass, it
// writes one 64-bit word in each page of its working set: the pass number
// and the page's address, so that a copy of this memory taken at any moment
// can be checked word for word against the guest's own.
//   args: mib=N        working set (default 4 MiB)
//         base=GPA     where it starts (default 4 MiB)
//         mib_per_vcpu=M   every vCPU of the guest (its description's
//                      vcpus=) writes a working set of its own: vCPU i the
//                      M MiB at base + i * M MiB (instead of mib=). Without
//                      it vCPU 0 writes mib= and the others are not started
//         stride=P     touch every P-th page (default 1)
//         order=seq|random   page order in a pass (random: a fresh permutation each pass)
//         passes=N     stop after N passes on every vCPU (default 0:
//                      forever); vCPU 0 exits once all are done
//         check=1      before writing a page, check that it holds what the
//                      previous pass wrote there (from pass 2 on): a copy
//                      that lost or mixed up a page is found from inside
//                      (exit status 3)
//         stats=1      after every pass, ask the hypervisor for this guest's
//                      counters (HV_HC_STATS) into a page the guest itself
//                      never writes: a migration must carry that page too
//                      (vCPU 0 only)
// Progress: struct hv_dirtier_progress, one per writing vCPU from
// HV_DIRTIER_PROGRESS_GPA on (vCPU 0's record says how many), updated after
// every pass with the pass's TSC cycles, so a migrator can see the workload
// go on on every vCPU and what dirty logging costs it.
#include "guests/runtime/guest.h"

using namespace hv::guest;

static_assert(sizeof(hv_dirtier_progress) == HV_DIRTIER_PROGRESS_SIZE, "one record per cache line");

namespace {

// A page of its own, written only by the hypervisor.
struct alignas(4096) CounterPage {
    hv_stats stats;
};
CounterPage counters;

volatile hv_dirtier_progress* progress(unsigned vcpu) {
    return reinterpret_cast<hv_dirtier_progress*>(HV_DIRTIER_PROGRESS_GPA) + vcpu;
}

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

// What every writing vCPU does, each on its own working set.
struct Work {
    uint64_t bytes_per_vcpu, base, stride, pages, passes;
    bool random, stats, check;
};
Work work;

[[gnu::noinline, gnu::cold]] void report_bad(unsigned vcpu, uint64_t pass, uint64_t bad, uint64_t first_bad,
                                             uint64_t first_word) {
    print("dirtier: vCPU %u pass %lu: %lu of %lu pages did not hold pass %lu's word, the first at GPA 0x%lx (0x%lx)\n",
          vcpu, pass, bad, work.pages, pass - 1, first_bad, first_word);
}

// One vCPU's passes, until `passes` (forever if 0). False when kCheck found
// a page that did not hold the previous pass's word. Without the check a
// pass writes its pages and its progress record and nothing else (no stack
// in the loop: what a pass dirties is its working set and one record).
template <bool kCheck>
bool write_passes(unsigned vcpu) {
    volatile hv_dirtier_progress* const p = progress(vcpu);
    const uint64_t base = work.base + vcpu * work.bytes_per_vcpu, pages = work.pages, step = work.stride * 4096;
    const uint64_t passes = work.passes;
    const bool random = work.random, stats = work.stats && vcpu == 0;
    for (uint64_t pass = p->passes + 1; passes == 0 || pass <= passes; ++pass) {
        uint64_t t0 = rdtsc();
        uint64_t mult = random ? coprime_multiplier(pages, pass) : 1, offset = random ? pass * 7919 : 0;
        uint64_t bad = 0, first_bad = 0, first_word = 0;
        for (uint64_t i = 0; i < pages; ++i) {
            uint64_t page = (i * mult + offset) % pages;
            uint64_t gpa = base + page * step;
            auto* word = reinterpret_cast<volatile uint64_t*>(gpa);
            if (kCheck && pass > 1) {
                const uint64_t was = *word;
                if (was != ((pass - 1) << 32 | (gpa >> 12)) && bad++ == 0) first_bad = gpa, first_word = was;
            }
            *word = pass << 32 | (gpa >> 12);
        }
        if (kCheck && bad) {
            report_bad(vcpu, pass, bad, first_bad, first_word);
            return false;
        }
        // Cycles before the count: stores are not reordered with stores on
        // x86; a reader reads the count before and after the cycles.
        const uint64_t end = rdtsc(), cycles = end - t0;
        p->last_pass_end = end;
        p->last_pass_cycles = cycles;
        p->total_cycles = p->total_cycles + cycles;
        p->passes = pass;
        if (stats) hypercall(HV_HC_STATS, reinterpret_cast<uint64_t>(&counters), sizeof counters.stats);
    }
    return true;
}

bool write_passes(unsigned vcpu) { return work.check ? write_passes<true>(vcpu) : write_passes<false>(vcpu); }

// vCPUs 1..n-1: their passes, then they wait (a vCPU cannot end alone) for
// vCPU 0 to end the guest; a failed check ends it at once.
void other_vcpu(unsigned vcpu, void*) {
    if (!write_passes(vcpu)) exit(3);
}

}  // namespace

int guest_main(const Args& args) {
    const bool per_vcpu = args.has("mib_per_vcpu");
    if (per_vcpu && args.has("mib")) {
        print("dirtier: mib= and mib_per_vcpu= together: say the working set once\n");
        return 2;
    }
    const unsigned vcpus = per_vcpu ? vcpu_count() : 1;
    uint64_t mib = per_vcpu ? args.u64("mib_per_vcpu", 0) : args.u64("mib", 4), base = args.u64("base", 4ull << 20);
    uint64_t stride = args.u64("stride", 1), mem = args.boot->mem_bytes;
    uint64_t bytes = mib << 20, all = bytes * vcpus;
    if (mib == 0 || stride == 0 || base % 4096 || base >= mem || all > mem - base) {
        print("dirtier: %u x %lu MiB at 0x%lx with stride %lu does not fit in %lu MiB\n", vcpus, mib, base, stride,
              mem >> 20);
        return 2;
    }
    uint64_t pages = ((bytes >> 12) + stride - 1) / stride;
    work = Work{bytes, base, stride, pages, args.u64("passes", 0), args.is("order", "random"), args.is("stats", "1"),
                args.is("check", "1")};
    if (per_vcpu)
        print("dirtier: %u vCPUs, each %lu pages of %lu MiB from 0x%lx on (vCPU i at +i*%lu MiB), stride %lu, %s "
              "order, %lu passes%s\n", vcpus, pages, mib, base, mib, stride, work.random ? "random" : "sequential",
              work.passes, work.check ? ", checked" : "");
    else
        print("dirtier: %lu pages of %lu MiB at 0x%lx, stride %lu, %s order, %lu passes%s\n", pages, mib, base,
              stride, work.random ? "random" : "sequential", work.passes, work.check ? ", checked" : "");
    // Every record is complete before vCPU 0's names how many there are.
    for (unsigned i = vcpus; i-- > 0;) {
        volatile hv_dirtier_progress* p = progress(i);
        p->magic = HV_DIRTIER_MAGIC;
        p->pages = pages;
        p->base = base + i * bytes;
        p->stride = stride;
        p->vcpus = i == 0 ? vcpus : 0;
    }
    for (unsigned i = 1; i < vcpus; ++i)
        if (int64_t r = start_vcpu(i, other_vcpu, nullptr); r) {
            print("dirtier: starting vCPU %u -> %ld\n", i, r);
            return 2;
        }
    if (!write_passes(0)) return 3;
    // passes=N: the guest ends once every vCPU has written its N.
    for (unsigned i = 1; i < vcpus; ++i)
        while (progress(i)->passes < work.passes) asm volatile("pause");
    if (vcpus > 1)
        print("dirtier: %u vCPUs: %lu passes done on each\n", vcpus, work.passes);
    else
        print("dirtier: %lu passes done\n", work.passes);
    return 0;
}
