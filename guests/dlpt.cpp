// dlpt: KVM's dirty_log_perf_test (tools/testing/selftests/kvm/
// dirty_log_perf_test.c), the host side, as a control guest (role=control)
// driving the memstress guest's vCPUs (guests/memstress.cpp). docs/perf.md.
//
//   1. map the memstress guest's slot 0 writable (HV_HC_MAP_GUEST) to reach
//      its mailbox, and wait until all its vCPUs wait for work
//   2. set its dirty-log mode (HV_HC_ENABLE_CAP, as the KVM test enables
//      KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) and create the test memory: slot 1,
//      vcpus * mib MiB at a GPA above its slot 0 (HV_HC_SET_MEMORY_REGION)
//   3. "Populate memory time": every vCPU touches every page of its part
//   4. "Enabling dirty logging time": HV_MEM_LOG_DIRTY_PAGES on slot 1 only
//   5. iterations 1..I: "Iteration i dirty memory time" (post the iteration,
//      wait until every vCPU has written every page of its part), "Iteration
//      i get dirty log time" (HV_HC_GET_DIRTY_LOG of slot 1), and in manual
//      mode "Iteration i clear dirty log time" (HV_HC_CLEAR_DIRTY_LOG of what
//      the get reported)
//   6. "Disabling dirty logging time", then KVM's totals and averages
// Times are rdtsc differences, printed in microseconds by the boot block's
// tsc_hz and in cycles (under Bochs both are emulated: compare ratios).
//
// Checks: every hypercall's result (a failure is reported by the call's
// name and errno and ends the test); each iteration's dirty log reports
// exactly the pages the vCPUs wrote, per vCPU. With concurrent=1 the get
// (and clear) of iteration i runs while the vCPUs dirty iteration i+1 (the
// pass is posted first; seed 000's measurement), and an extra "iteration 0"
// harvest runs once a quarter of pass 1 is written, while the rest of it
// takes logging's first write faults:
// then every page of pass i must be in the log of harvest i-1 or i, and one
// more untimed harvest after the last pass checks the last; the pages the
// vCPUs wrote and the EPT faults they completed (HV_HC_GUEST_STATS,
// faults_slow + faults_fast) during each get are reported. At the end
// dlpt stops the memstress guest (HV_HC_STOP_GUEST) and exits 0 if every
// check held.
//
//   args: target=ID       the memstress guest (command-line position, default 0)
//         mib=N           test memory per vCPU, MiB (KVM's -b; default 8)
//         iterations=N    KVM's -i (default 2)
//         log=plain|manual|initially_set   the memstress guest's dirty-log
//                         mode, set with HV_HC_ENABLE_CAP (default
//                         initially_set, KVM's default; plain is KVM's -g).
//                         Not dirty_log=: that word is the kernel's, for
//                         dlpt's own memory

//         concurrent=1    harvest while the vCPUs dirty the next iteration
//         random=1        KVM's -a: each pass writes every page once, in a
//                         fresh random order per pass and vCPU (with
//                         concurrent=1 the vCPUs then meet pages the get has
//                         write-protected all through it, not only once it
//                         has overtaken them)
//         gpa=GPA         where slot 1 goes in the memstress guest (default:
//                         its memory rounded up to 1 GiB; below 4 GiB)
//         window=GPA      where its slot 0 appears in dlpt (default 1 GiB)
//         timeout_s=S     how long to wait for the vCPUs (default 300)
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

// The memstress guest's mailbox: the same layout in guests/memstress.cpp
// (its `size` checks it).
constexpr uint64_t kMailboxGpa = 0x3000;
constexpr uint32_t kMailboxMagic = 0x5453454d;  // "MEST"
constexpr uint64_t kNone = ~0ull;

struct alignas(64) VcpuBox {
    uint64_t done, cycles, total_cycles, pages, error, writes;
    uint64_t reserved[2];
};

struct Mailbox {
    uint32_t magic, size, vcpus, started;
    uint64_t test_gpa, bytes_per_vcpu, iteration, random_access;
    uint64_t reserved[2];
    VcpuBox vcpu[HV_MAX_VCPUS];
};

constexpr uint32_t kTestSlot = 1;
constexpr uint64_t kMaxPages = HV_MAX_SLOT_BYTES >> 12;

// The log of this harvest and of the one before (concurrent=1 checks a pass
// against both), and their union.
uint64_t bitmap[kMaxPages / 64], previous[kMaxPages / 64];

uint64_t tsc_hz = 1, timeout_cycles = 0;
uint64_t target = 0;
Mailbox* box = nullptr;
unsigned vcpus = 0;
bool failed = false;

uint64_t us(uint64_t cycles) {
    const uint64_t mhz = tsc_hz / 1000000;
    return mhz ? cycles / mhz : 0;
}

const char* errno_name(int64_t r) {
    switch (-r) {
        case HV_EPERM: return "EPERM";
        case HV_ENOENT: return "ENOENT";
        case HV_EFAULT: return "EFAULT";
        case HV_EAGAIN: return "EAGAIN";
        case HV_ENOMEM: return "ENOMEM";
        case HV_EBUSY: return "EBUSY";
        case HV_EEXIST: return "EEXIST";
        case HV_EINVAL: return "EINVAL";
        case HV_ENOSPC: return "ENOSPC";
        case HV_ENOSYS: return "ENOSYS";
        default: return "?";
    }
}

// A hypercall whose failure ends the test: reported by name. Returns its
// result (>= 0) or -1 after printing why.
int64_t call(const char* name, uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    int64_t r = hypercall(nr, a0, a1, a2, a3);
    if (r < 0) {
        print("dlpt: FAIL: %s -> %ld (%s)\n", name, r, errno_name(r));
        failed = true;
        return -1;
    }
    return r;
}

bool stats(hv_guest_stats& s) {
    return call("HV_HC_GUEST_STATS", HV_HC_GUEST_STATS, target, reinterpret_cast<uint64_t>(&s), sizeof s) >= 0;
}

template <typename T>
T load(const T& x) {
    return __atomic_load_n(&x, __ATOMIC_ACQUIRE);
}

// Posts iteration `it` to every vCPU.
void post(uint64_t it) { __atomic_store_n(&box->iteration, it, __ATOMIC_RELEASE); }

// Pages the vCPUs have written so far.
uint64_t writes() {
    uint64_t w = 0;
    for (unsigned i = 0; i < vcpus; ++i) w += load(box->vcpu[i].writes);
    return w;
}

// Waits until every vCPU has completed iteration `it`; false (reported) on
// a vCPU's error or after the timeout.
bool wait_done(uint64_t it) {
    const uint64_t t0 = rdtsc();
    for (unsigned i = 0; i < vcpus; ++i) {
        while (load(box->vcpu[i].done) != it) {
            if (load(box->vcpu[i].error)) {
                print("dlpt: FAIL: vCPU %u refused the test region\n", i);
                return failed = true, false;
            }
            if (rdtsc() - t0 > timeout_cycles) {
                print("dlpt: FAIL: vCPU %u did not complete iteration %lu in time (its last: %ld)\n", i, it,
                      int64_t(load(box->vcpu[i].done)));
                return failed = true, false;
            }
            asm volatile("pause");
        }
    }
    return true;
}

void print_time(const char* what, uint64_t cycles) { print("dlpt: %s: %lu us (%lu cycles)\n", what, us(cycles), cycles); }

void print_iteration_time(uint64_t it, const char* what, uint64_t cycles) {
    print("dlpt: Iteration %lu %s: %lu us (%lu cycles)\n", it, what, us(cycles), cycles);
}

uint64_t popcount(const uint64_t* b, uint64_t first, uint64_t n) {
    uint64_t c = 0;
    for (uint64_t p = first; p < first + n; ++p) c += b[p / 64] >> (p % 64) & 1;
    return c;
}

struct Test {
    uint64_t pages_per_vcpu, pages, bitmap_bytes;
    bool manual, concurrent;

    // HV_HC_GET_DIRTY_LOG of slot 1 into `bitmap`: its cycles, or 0 after
    // a failed call.
    uint64_t get() {
        const uint64_t t0 = rdtsc();
        if (call("HV_HC_GET_DIRTY_LOG", HV_HC_GET_DIRTY_LOG, target, kTestSlot, reinterpret_cast<uint64_t>(bitmap),
                 bitmap_bytes) < 0)
            return 0;
        return rdtsc() - t0;
    }

    // Manual mode: HV_HC_CLEAR_DIRTY_LOG of what the get reported (KVM's
    // test clears the whole slot with the bitmap it got). Its cycles (0
    // when not manual), or false after a failed call.
    bool clear(uint64_t& cycles) {
        cycles = 0;
        if (!manual) return true;
        static hv_clear_dirty_log c;
        c = hv_clear_dirty_log{kTestSlot, 0, 0, pages, reinterpret_cast<uint64_t>(bitmap)};
        const uint64_t t0 = rdtsc();
        if (call("HV_HC_CLEAR_DIRTY_LOG", HV_HC_CLEAR_DIRTY_LOG, target, reinterpret_cast<uint64_t>(&c)) < 0)
            return false;
        cycles = rdtsc() - t0;
        return true;
    }

    // Every page the vCPUs wrote in pass `it` is in `bitmap` (or, with
    // concurrent=1, in `bitmap` or `previous`): per vCPU, reported.
    bool check(uint64_t it, const char* when) {
        uint64_t reported = popcount(bitmap, 0, pages), covered = 0;
        char per[96];
        size_t n = 0;
        bool ok = true;
        for (unsigned v = 0; v < vcpus; ++v) {
            uint64_t c = 0;
            for (uint64_t p = v * pages_per_vcpu; p < (v + 1) * pages_per_vcpu; ++p) {
                const uint64_t bit = uint64_t(1) << (p % 64);
                c += ((bitmap[p / 64] | (concurrent ? previous[p / 64] : 0)) & bit) != 0;
            }
            covered += c;
            ok &= c == pages_per_vcpu;
            n += hv::format(per + n, sizeof per - n, "%svCPU %u %lu", v ? ", " : "", v, c);
            if (n >= sizeof per) n = sizeof per - 1;
        }
        if (!concurrent) {
            print("dlpt: Iteration %lu dirty pages: %lu of the %lu written (%s)\n", it, reported, pages, per);
        } else {
            print("dlpt: Iteration %lu dirty pages: %lu%s; with the harvest before: %lu of the %lu written in pass "
                  "%lu (%s)\n", it, reported, when, covered, pages, it, per);
        }
        if (!ok || (!concurrent && reported != pages)) {
            print("dlpt: FAIL: iteration %lu: the dirty log does not report exactly the %lu pages written\n", it,
                  pages);
            failed = true;
        }
        return ok;
    }

    void keep_previous() {
        for (uint64_t w = 0; w < (pages + 63) / 64; ++w) previous[w] = bitmap[w];
    }
};

int run(const Args& args) {
    tsc_hz = args.boot->tsc_hz ? args.boot->tsc_hz : 1;
    timeout_cycles = args.u64("timeout_s", 300) * tsc_hz;
    target = args.u64("target", 0);
    const uint64_t mib = args.u64("mib", 8), iterations = args.u64("iterations", 2);
    const uint64_t window = args.u64("window", 1ull << 30);
    Test t{};
    t.concurrent = args.is("concurrent", "1");
    const bool random = args.is("random", "1");
    uint64_t cap_flags = HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE | HV_DIRTY_LOG_INITIALLY_SET;
    const char* mode = "initially_set";
    if (args.is("log", "plain")) {
        cap_flags = 0, mode = "plain";
    } else if (args.is("log", "manual")) {
        cap_flags = HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE, mode = "manual";
    } else if (args.has("log") && !args.is("log", "initially_set")) {
        print("dlpt: FAIL: log= must be plain, manual or initially_set\n");
        return 2;
    }
    t.manual = cap_flags != 0;
    if (mib == 0 || iterations == 0) {
        print("dlpt: FAIL: mib= and iterations= must be at least 1\n");
        return 2;
    }

    // 1. The memstress guest's slot 0, for its mailbox.
    const int64_t mapped = call("HV_HC_MAP_GUEST", HV_HC_MAP_GUEST, target, window, HV_MAP_WRITABLE);
    if (mapped < 0) return 3;
    box = reinterpret_cast<Mailbox*>(window + kMailboxGpa);
    for (uint64_t t0 = rdtsc(); load(box->magic) != kMailboxMagic;) {
        if (rdtsc() - t0 > timeout_cycles) {
            print("dlpt: FAIL: guest %lu has no memstress mailbox at 0x%lx\n", target, kMailboxGpa);
            return 4;
        }
        asm volatile("pause");
    }
    if (box->size != sizeof(Mailbox)) {
        print("dlpt: FAIL: the mailbox is %u bytes, dlpt knows %lu\n", box->size, sizeof(Mailbox));
        return 4;
    }
    vcpus = box->vcpus;
    for (uint64_t t0 = rdtsc(); load(box->started) != vcpus;) {
        if (rdtsc() - t0 > timeout_cycles) {
            print("dlpt: FAIL: %u of the %u vCPUs started\n", load(box->started), vcpus);
            return 4;
        }
        asm volatile("pause");
    }
    const uint64_t gpa = args.u64("gpa", (uint64_t(mapped) + (1ull << 30) - 1) & ~((1ull << 30) - 1));
    const uint64_t bytes = vcpus * (mib << 20);
    if (bytes > HV_MAX_SLOT_BYTES || gpa % (2ull << 20) || gpa < uint64_t(mapped) || gpa + bytes > (4ull << 30)) {
        print("dlpt: FAIL: %u vCPUs x %lu MiB at 0x%lx: not one slot (at most %llu MiB) above slot 0 and below 4 GiB\n",
              vcpus, mib, gpa, HV_MAX_SLOT_BYTES >> 20);
        return 2;
    }
    t.pages_per_vcpu = (mib << 20) >> 12;
    t.pages = vcpus * t.pages_per_vcpu;
    t.bitmap_bytes = (t.pages + 63) / 64 * 8;

    // 2. Its dirty-log mode, then the test memory.
    if (call("HV_HC_ENABLE_CAP", HV_HC_ENABLE_CAP, target, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, cap_flags) < 0) return 3;
    static hv_memory_region region;
    region = hv_memory_region{kTestSlot, 0, gpa, bytes};
    if (call("HV_HC_SET_MEMORY_REGION (create slot 1)", HV_HC_SET_MEMORY_REGION, target,
             reinterpret_cast<uint64_t>(&region)) < 0)
        return 3;
    box->test_gpa = gpa;
    box->bytes_per_vcpu = mib << 20;
    box->random_access = random;
    print("dlpt: guest %lu: %u vCPUs, %lu MiB each, guest physical test memory [0x%lx, 0x%lx) in slot %u, "
          "log=%s%s%s, %lu iterations\n", target, vcpus, mib, gpa, gpa + bytes, kTestSlot, mode,
          random ? ", random access" : "", t.concurrent ? ", concurrent harvest" : "", iterations);

    // 3. Populate: KVM's iteration 0.
    uint64_t t0 = rdtsc();
    post(0);
    if (!wait_done(0)) return 5;
    print_time("Populate memory time", rdtsc() - t0);

    // 4. Logging on, on slot 1 only.
    hv_guest_stats s0{}, s1{};
    if (!stats(s0)) return 3;
    t0 = rdtsc();
    region.flags = HV_MEM_LOG_DIRTY_PAGES;
    if (call("HV_HC_SET_MEMORY_REGION (log slot 1)", HV_HC_SET_MEMORY_REGION, target,
             reinterpret_cast<uint64_t>(&region)) < 0)
        return 3;
    print_time("Enabling dirty logging time", rdtsc() - t0);
    if (!stats(s1)) return 3;
    print("dlpt: after enabling: %lu splits, slot mapped by %lu 4K, %lu 2M leaves\n", s1.splits - s0.splits,
          s1.leaves_4k, s1.leaves_2m);

    // 5. The iterations.
    uint64_t dirty_total = 0, get_total = 0, clear_total = 0, faults_total = 0, writes_total = 0;
    uint64_t start = 0;
    // concurrent=1: post pass `next`, then harvest while it runs. What the
    // vCPUs did during the get: the pages they wrote (their own counters,
    // read just before and after it) and the EPT faults they completed
    // (HV_HC_GUEST_STATS just before the pass starts, when they are idle,
    // and just after the get: the call reads the counters before it walks
    // the leaves). With `wait_writes`, the get waits until the vCPUs have
    // written that many pages of the pass; the first stats call is then
    // made after the wait, while they run, and its own leaf walk is in the
    // fault count (its length is printed). Times into get/clear; false
    // after a failed call.
    auto harvest_during = [&](uint64_t it, uint64_t next, uint64_t wait_writes, uint64_t& get, uint64_t& clear) {
        if (!wait_writes && !stats(s0)) return false;
        const uint64_t base = writes();
        start = rdtsc();
        post(next);
        uint64_t stats_cycles = 0;
        if (wait_writes) {
            while (writes() - base < wait_writes) {
                if (rdtsc() - start > timeout_cycles) {
                    print("dlpt: FAIL: the vCPUs wrote %lu of %lu pages in time\n", writes() - base, wait_writes);
                    return failed = true, false;
                }
                asm volatile("pause");
            }
            const uint64_t t0 = rdtsc();
            if (!stats(s0)) return false;
            stats_cycles = rdtsc() - t0;
        }
        const uint64_t w0 = writes();
        if (!(get = t.get())) return false;
        const uint64_t w1 = writes();
        if (!stats(s1) || !t.clear(clear)) return false;
        const uint64_t faults = s1.faults_slow + s1.faults_fast - s0.faults_slow - s0.faults_fast;
        if (it) faults_total += faults, writes_total += w1 - w0;
        print_iteration_time(it, "get dirty log time", get);
        if (t.manual) print_iteration_time(it, "clear dirty log time", clear);
        if (!wait_writes)
            print("dlpt: Iteration %lu during get dirty log: %lu pages written, %lu vCPU faults completed (%lu slow)\n",
                  it, w1 - w0, faults, s1.faults_slow - s0.faults_slow);
        else
            print("dlpt: Iteration %lu during get dirty log: %lu pages written, %lu vCPU faults completed (%lu slow), "
                  "with a stats call of %lu us before it\n", it, w1 - w0, faults, s1.faults_slow - s0.faults_slow,
                  us(stats_cycles));
        return true;
    };
    if (t.concurrent) {
        // One more harvest, not in KVM's totals: "iteration 0's", once the
        // vCPUs have written a quarter of pass 1, while they take logging's
        // first write faults in the rest of it (with eager_split=0 those are
        // slow faults, under the MMU lock, and so is a locked rmap walk).
        uint64_t get, clear;
        if (!harvest_during(0, 1, t.pages / 4, get, clear)) return 3;
        print("dlpt: Iteration 0 dirty pages: %lu, in the middle of pass 1 (not in the totals)\n",
              popcount(bitmap, 0, t.pages));
        t.keep_previous();
    }
    for (uint64_t it = 1; it <= iterations; ++it) {
        if (!t.concurrent) {
            if (!stats(s0)) return 3;
            start = rdtsc();
            post(it);
        }
        // With concurrent=1 pass `it` was posted before the last harvest.
        if (!wait_done(it)) return 5;
        const uint64_t dirty = rdtsc() - start;
        dirty_total += dirty;
        print_iteration_time(it, "dirty memory time", dirty);
        uint64_t get, clear;
        if (!t.concurrent) {
            if (!stats(s1) || !(get = t.get()) || !t.clear(clear)) return 3;
            print_iteration_time(it, "get dirty log time", get);
            if (t.manual) print_iteration_time(it, "clear dirty log time", clear);
            print("dlpt: Iteration %lu vCPU faults: %lu slow, %lu fast, %lu splits, %lu lazy splits, %lu PML "
                  "entries\n", it, s1.faults_slow - s0.faults_slow, s1.faults_fast - s0.faults_fast,
                  s1.splits - s0.splits, s1.lazy_splits - s0.lazy_splits, s1.pml_entries - s0.pml_entries);
            t.check(it, "");
        } else {
            if (!harvest_during(it, it + 1, 0, get, clear)) return 3;
            t.check(it, ", during the next pass");
            t.keep_previous();
        }
        get_total += get, clear_total += clear;
        if (failed) break;
    }
    if (t.concurrent && !failed) {
        // The last pass, then an untimed harvest to check it.
        if (!wait_done(iterations + 1)) return 5;
        uint64_t clear;
        if (!t.get() || !t.clear(clear)) return 3;
        t.check(iterations + 1, ", the final harvest after the last pass");
    }

    // 6. Logging off, the totals.
    t0 = rdtsc();
    region.flags = 0;
    if (call("HV_HC_SET_MEMORY_REGION (stop logging slot 1)", HV_HC_SET_MEMORY_REGION, target,
             reinterpret_cast<uint64_t>(&region)) < 0)
        return 3;
    print_time("Disabling dirty logging time", rdtsc() - t0);
    print("dlpt: Dirty memory over %lu iterations took %lu us. (Avg %lu us/iteration)\n", iterations, us(dirty_total),
          us(dirty_total / iterations));
    print("dlpt: Get dirty log over %lu iterations took %lu us. (Avg %lu us/iteration)\n", iterations, us(get_total),
          us(get_total / iterations));
    if (t.manual)
        print("dlpt: Clear dirty log over %lu iterations took %lu us. (Avg %lu us/iteration)\n", iterations,
              us(clear_total), us(clear_total / iterations));
    if (t.concurrent)
        print("dlpt: During get dirty log over %lu iterations: %lu pages written, %lu vCPU faults completed (Avg %lu "
              "pages, %lu faults/iteration)\n", iterations, writes_total, faults_total, writes_total / iterations,
              faults_total / iterations);
    const uint64_t passes = t.concurrent ? iterations + 1 : iterations;
    for (unsigned v = 0; v < vcpus; ++v)
        print("dlpt: vCPU %u dirtied memory at %lu us/iteration (avg over %lu, its own TSC; last %lu us)\n", v,
              us(box->vcpu[v].total_cycles / passes), passes, us(box->vcpu[v].cycles));
    return failed ? 6 : 0;
}

}  // namespace

int guest_main(const Args& args) {
    // The memstress guest spins until stopped, whatever happened here.
    int r = run(args);
    if (call("HV_HC_STOP_GUEST", HV_HC_STOP_GUEST, target) < 0 && !r) r = 3;
    if (r)
        print("dlpt: FAIL (status %d)\n", r);
    else
        print("dlpt: PASS\n");
    return r;
}
