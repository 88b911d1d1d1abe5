// breaker_smp2: multi-vCPU hostility, by mode (args mode=...):
//   worker  a guest with 4 vCPUs: vCPU 0 starts 1 and 2 at once and 3 after
//           `late` of its counter's progress lines; each counts in counters[i];
//           vCPU 0 prints the four counters every ~0.5 s of guest TSC and exits
//           0 after `lines` lines.
//   storm   the control guest (vcpus=2): both vCPUs pause/resume guest
//           target= and take every vCPU's record, `rounds` times each, and
//           check what they get; then vCPU 0 migrates the target into a new
//           guest with its memory and the records of the first `carry=`
//           vCPUs (default all), after lying in SET_STATE/GET_STATE.
//   fill    the control guest: fills CPU 0's scheduler with vcpus=4 guests
//           until refused, plus refusals of offline CPUs, and concurrent
//           CREATE_GUEST from its two vCPUs.
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

extern "C" void* memcpy(void*, const void*, size_t);
extern "C" void* memset(void*, int, size_t);

namespace {

uint64_t tsc_hz;
unsigned failures;

void check(const char* what, int64_t got, int64_t want) {
    if (got == want) return;
    __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    print("breaker_smp2: FAILED %s: got %ld, want %ld\n", what, got, want);
}

// ---- worker ----
volatile uint64_t counters[4];

[[noreturn]] void counter(unsigned index, void*) {
    for (;;) counters[index] = counters[index] + 1;
}

int worker(const Args& args) {
    const uint64_t lines = args.u64("lines", 16), late = args.u64("late", 4);
    if (start_vcpu(1, counter, nullptr) || start_vcpu(2, counter, nullptr)) return 2;
    uint64_t next = rdtsc() + tsc_hz / 2;
    for (uint64_t line = 0; line < lines;) {
        counters[0] = counters[0] + 1;
        if (rdtsc() < next) continue;
        next = rdtsc() + tsc_hz / 2;
        if (line == late) {
            int64_t r = start_vcpu(3, counter, nullptr);
            print("worker: started vCPU 3: %ld\n", r);
        }
        print("worker: line %lu counters %lu %lu %lu %lu\n", line, counters[0], counters[1], counters[2], counters[3]);
        ++line;
    }
    return 0;
}

// ---- storm ----
alignas(4096) hv_guest_state recs[2][4];   // per control vCPU
alignas(4096) hv_guest_state lie;
uint64_t target, rounds, tv = 4;
volatile unsigned storms_done;
uint64_t pauses[2], busy[2], got_records[2];

void storm_on(unsigned me) {
    for (uint64_t r = 0; r < rounds; ++r) {
        int64_t p = hypercall(HV_HC_PAUSE, target);
        if (p == 0) ++pauses[me];
        for (unsigned i = 0; i < tv; ++i) {
            int64_t g = hypercall(HV_HC_GET_STATE, target, reinterpret_cast<uint64_t>(&recs[me][i]), sizeof(hv_guest_state), i);
            if (g == -HV_EBUSY) {
                ++busy[me];
                continue;
            }
            check("get_state size", g, sizeof(hv_guest_state));
            if (g != sizeof(hv_guest_state)) continue;
            ++got_records[me];
            check("record vcpu_index", recs[me][i].vcpu_index, i);
            check("record vcpu_count", recs[me][i].vcpu_count, int64_t(tv));
        }
        // Resume on every other round: the other vCPU's pause races it.
        if (r & 1) check("resume", hypercall(HV_HC_RESUME, target), 0);
    }
}

void storm_ap(unsigned, void*) {
    storm_on(1);
    __atomic_fetch_add(&storms_done, 1, __ATOMIC_RELEASE);
    for (;;) asm volatile("pause");
}

constexpr uint64_t kSrcWindow = 1ull << 30, kDstWindow = 2ull << 30;

int storm(const Args& args) {
    target = args.u64("target", 0), rounds = args.u64("rounds", 50);
    tv = args.u64("tv", 4);
    const uint64_t carry = args.u64("carry", tv);
    static char dcpus[16] = "0-1";
    args.str("dcpus", dcpus, sizeof dcpus);
    if (vcpu_count() > 1) check("start storm vCPU", start_vcpu(1, storm_ap, nullptr), 0);
    // Let the worker get going (it starts vCPU 3 later).
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < tsc_hz) asm volatile("pause");
    storm_on(0);
    if (vcpu_count() > 1)
        while (__atomic_load_n(&storms_done, __ATOMIC_ACQUIRE) < 1) asm volatile("pause");
    print("breaker_smp2: storm: pauses %lu+%lu, EBUSY records %lu+%lu, records %lu+%lu\n", pauses[0], pauses[1],
          busy[0], busy[1], got_records[0], got_records[1]);

    // Nonsense GET_STATE indexes.
    check("pause", pause_guest(target), 0);
    check("get_state index tv", hypercall(HV_HC_GET_STATE, target, reinterpret_cast<uint64_t>(&lie), sizeof lie, tv), -HV_EINVAL);
    check("get_state index 2^63", hypercall(HV_HC_GET_STATE, target, reinterpret_cast<uint64_t>(&lie), sizeof lie, 1ull << 63), -HV_EINVAL);
    check("get_state index 2^32", hypercall(HV_HC_GET_STATE, target, reinterpret_cast<uint64_t>(&lie), sizeof lie, 1ull << 32), -HV_EINVAL);
    hv_guest_state* rec = recs[0];
    for (unsigned i = 0; i < tv; ++i) {
        check("get_state for migration", hypercall(HV_HC_GET_STATE, target, reinterpret_cast<uint64_t>(&rec[i]), sizeof rec[i], i), sizeof rec[i]);
        print("breaker_smp2: src vCPU %u: activity %u rip 0x%lx tsc %lu\n", i, rec[i].vcpu.activity, rec[i].vcpu.rip, rec[i].vcpu.tsc);
    }
    static char spec[160];
    size_t n = hv::format(spec, sizeof spec, "dst:image=none,start=paused,vcpus=%lu,cpus=%s,mem=%lu,expect=exit",
                          tv, dcpus, args.u64("tmem", 16));
    int64_t dst = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    print("breaker_smp2: created dst %ld\n", dst);
    if (dst < 0) return 3;
    int64_t sbytes = hypercall(HV_HC_MAP_GUEST, target, kSrcWindow, 0);
    int64_t dbytes = hypercall(HV_HC_MAP_GUEST, uint64_t(dst), kDstWindow, HV_MAP_WRITABLE);
    check("map src", sbytes > 0, 1);
    check("map dst", dbytes == sbytes, 1);
    memcpy(reinterpret_cast<void*>(kDstWindow), reinterpret_cast<const void*>(kSrcWindow), uint64_t(sbytes));
    check("unmap src", hypercall(HV_HC_UNMAP_GUEST, kSrcWindow), 0);
    check("unmap dst", hypercall(HV_HC_UNMAP_GUEST, kDstWindow), 0);

    // SET_STATE lies.
    auto set = [&](const hv_guest_state& s) {
        lie = s;
        return hypercall(HV_HC_SET_STATE, uint64_t(dst), reinterpret_cast<uint64_t>(&lie), sizeof lie);
    };
    hv_guest_state s = rec[1];
    s.vcpu_count = uint16_t(tv - 1);
    check("set_state vcpu_count tv-1", set(s), -HV_EINVAL);
    s = rec[1], s.vcpu_count = 0xffff, s.vcpu_index = 7;
    check("set_state count 65535 index 7", set(s), -HV_EINVAL);
    s = rec[1], s.vcpu_index = uint16_t(tv);
    check("set_state index tv", set(s), -HV_EINVAL);
    s = rec[0], s.vcpu.activity = HV_ACTIVITY_WAIT_START;
    check("set_state vCPU 0 WAIT_START", set(s), -HV_EINVAL);
    s = rec[1], s.vcpu.activity = 7;
    check("set_state activity 7", set(s), -HV_EINVAL);

    // wsmash: the record of a vCPU the source never started, given vCPU 0's
    // long-mode registers (still WAIT_START, so accepted): HV_HC_START_VCPU
    // documents the boot state (32-bit flat, paging off) for its start.
    const unsigned last = unsigned(tv - 1);
    if (args.has("wsmash") && rec[last].vcpu.activity == HV_ACTIVITY_WAIT_START) {
        const uint64_t tsc = rec[last].vcpu.tsc;
        rec[last] = rec[0];
        rec[last].vcpu_index = uint16_t(last), rec[last].vcpu.activity = HV_ACTIVITY_WAIT_START;
        rec[last].vcpu.tsc = tsc;
        print("breaker_smp2: vCPU %u's WAIT_START record now holds vCPU 0's long-mode registers\n", last);
    }
    for (unsigned i = 0; i < carry && i < tv; ++i) check("set_state", set(rec[i]), 0);
    print("breaker_smp2: carried %lu of %lu records; resuming dst\n", carry, tv);
    // Records for only some vCPUs: the others would stay as created (not
    // started, or where the destination had them), silently: refused.
    if (carry < tv) {
        check("resume dst with records of only some vCPUs", hypercall(HV_HC_RESUME, uint64_t(dst)), -HV_EINVAL);
        for (unsigned i = unsigned(carry); i < tv; ++i) check("set_state (the rest)", set(rec[i]), 0);
        print("breaker_smp2: the resume was refused; the other %lu records carried too\n", tv - carry);
    }
    check("stop src", hypercall(HV_HC_STOP_GUEST, target), 0);
    check("resume dst", hypercall(HV_HC_RESUME, uint64_t(dst)), 0);
    while (hypercall(HV_HC_RESUME, uint64_t(dst)) == 0) {
        uint64_t t = rdtsc();
        while (rdtsc() - t < tsc_hz / 10) asm volatile("pause");
    }
    print("breaker_smp2: storm: %u failures\n", failures);
    return failures ? 1 : 0;
}

// ---- racer / restore ----
// racer: vCPU 0 starts vCPU 1 at once and waits 3 s of TSC for it to run.
volatile bool racer_ran;

[[noreturn]] void racer_ap(unsigned, void*) {
    racer_ran = true;
    for (;;) asm volatile("pause");
}

int racer(const Args&) {
    int64_t r = start_vcpu(1, racer_ap, nullptr);
    const uint64_t t0 = rdtsc();
    while (!racer_ran && rdtsc() - t0 < 3 * tsc_hz) asm volatile("pause");
    print("racer: start_vcpu(1) returned %ld; vCPU 1 ran within 3 s: %s\n", r, racer_ran ? "yes" : "NO");
    return r == 0 && racer_ran ? 0 : 1;
}

// tscskew: vCPU 1 publishes its TSC; vCPU 0 reads that, then its own, for
// 1 s of TSC: its own must not be behind one read earlier (one clock).
volatile uint64_t published_tsc, ap_up;

[[noreturn]] void skew_ap(unsigned, void*) {
    for (;;) {
        published_tsc = rdtsc();
        ap_up = 1;
    }
}

int tscskew(const Args&) {
    int64_t r = start_vcpu(1, skew_ap, nullptr);
    while (!ap_up) asm volatile("pause");
    uint64_t behind = 0, worst = 0, samples = 0;
    const uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < tsc_hz) {
        const uint64_t theirs = published_tsc;
        const uint64_t mine = rdtsc();
        ++samples;
        if (mine < theirs) {
            ++behind;
            if (theirs - mine > worst) worst = theirs - mine;
        }
    }
    print("tscskew: start %ld; %lu samples, vCPU 0's TSC behind vCPU 1's %lu times, by up to %lu ticks (%lu us)\n", r,
          samples, behind, worst, worst * 1000000 / tsc_hz);
    return behind ? 1 : 0;
}

// restore: creates a paused racer, takes both records and gives them back
// unchanged (a restore of the state it has: vCPU 0 at its entry, vCPU 1
// waiting for its start), resumes it and waits for its end.
int restore(const Args& args) {
    static char spec[128];
    static char cpus[16] = "0-0";
    args.str("rcpus", cpus, sizeof cpus);
    static char rmode[16] = "racer";
    args.str("rmode", rmode, sizeof rmode);
    size_t n = hv::format(spec, sizeof spec, "%s:image=breaker_smp2,mode=%s,vcpus=2,cpus=%s,start=paused,mem=16",
                          rmode, rmode, cpus);
    int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    print("breaker_smp2: restore: created %ld\n", id);
    if (id < 0) return 2;
    check("pause", pause_guest(uint64_t(id)), 0);
    static hv_guest_state r[2];
    for (unsigned i = 0; i < 2; ++i) {
        check("get_state", hypercall(HV_HC_GET_STATE, uint64_t(id), reinterpret_cast<uint64_t>(&r[i]), sizeof r[i], i), sizeof r[i]);
        print("breaker_smp2: restore: vCPU %u activity %u rip 0x%lx\n", i, r[i].vcpu.activity, r[i].vcpu.rip);
    }
    if (!args.has("noset"))
        for (unsigned i = 0; i < 2; ++i)
            check("set_state", hypercall(HV_HC_SET_STATE, uint64_t(id), reinterpret_cast<uint64_t>(&r[i]), sizeof r[i]), 0);
    check("resume", hypercall(HV_HC_RESUME, uint64_t(id)), 0);
    // twice=N: a second RESUME N TSC ticks later (as a liveness poll does).
    if (const uint64_t gap = args.u64("twice", 0)) {
        const uint64_t t = rdtsc();
        while (rdtsc() - t < gap) asm volatile("pause");
        check("resume again", hypercall(HV_HC_RESUME, uint64_t(id)), 0);
    }
    while (hypercall(HV_HC_RESUME, uint64_t(id)) == 0) {
        uint64_t t = rdtsc();
        while (rdtsc() - t < tsc_hz / 10) asm volatile("pause");
    }
    print("breaker_smp2: restore: %u failures\n", failures);
    return failures ? 1 : 0;
}

// ---- placelock ----
// Both vCPUs (on two CPUs) create a guest that CPU 0 has no room for, vCPU 1
// `d` TSC ticks after vCPU 0, d swept over the attempts: a refused launch
// destroys its VM (a grace period) while holding the placement lock, which
// the other CPU may be spinning on.
char pl_spec[] = "x:image=none,start=paused,vcpus=4,cpus=0-0,mem=2";
volatile uint64_t pl_go, pl_done;
volatile int64_t pl_result;
uint64_t pl_step;

[[noreturn]] void pl_ap(unsigned, void*) {
    for (uint64_t k = 1;; ++k) {
        while (pl_go < k) asm volatile("pause");
        const uint64_t t0 = rdtsc(), d = (k - 1) * pl_step;
        while (rdtsc() - t0 < d) asm volatile("pause");
        pl_result = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(pl_spec), sizeof pl_spec - 1);
        pl_done = k;
    }
}

int placelock(const Args& args) {
    const uint64_t attempts = args.u64("attempts", 100);
    pl_step = args.u64("step", 20000);
    static char fill_spec[] = "f:image=none,start=paused,vcpus=4,cpus=0-0,mem=2,expect=abandoned";
    check("fill CPU 0", hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(fill_spec), sizeof fill_spec - 1) >= 0, 1);
    check("start vCPU 1", start_vcpu(1, pl_ap, nullptr), 0);
    for (uint64_t k = 1; k <= attempts; ++k) {
        pl_go = k;
        int64_t mine = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(pl_spec), sizeof pl_spec - 1);
        while (pl_done < k) asm volatile("pause");
        if (k % 10 == 0 || (mine != -HV_ENOSPC && mine != -HV_EEXIST) ||
            (pl_result != -HV_ENOSPC && pl_result != -HV_EEXIST))
            print("breaker_smp2: placelock: attempt %lu (delay %lu): %ld and %ld\n", k, (k - 1) * pl_step, mine,
                  pl_result);
    }
    print("breaker_smp2: placelock: %lu attempts, %u failures\n", attempts, failures);
    return failures ? 1 : 0;
}

// ---- live ----
// scribble: 4 vCPUs, each sweeping its own 2 MiB at 4 MiB + i * 2 MiB with a
// running counter, forever (stopped by the control guest).
[[noreturn]] void scribble_on(unsigned index, void*) {
    volatile uint64_t* p = reinterpret_cast<volatile uint64_t*>((4ull << 20) + index * (2ull << 20));
    for (uint64_t n = 1;; ++n)
        for (uint64_t w = 0; w < (2ull << 20) / 8; w += 61) p[w] = n * 8 + index;  // a stride across pages
}

int scribble(const Args& args) {
    // late=N with one vCPU: vCPU 0 first touches region 1 after N TSC ticks
    // (its page-directory entry's A/D bits set then, while the log is on).
    if (const uint64_t late = args.u64("late", 0)) {
        const uint64_t t0 = rdtsc();
        while (rdtsc() - t0 < late) asm volatile("pause");
        scribble_on(1, nullptr);
    }
    for (unsigned i = 1; i < vcpu_count(); ++i)
        if (start_vcpu(i, scribble_on, nullptr)) return 2;
    scribble_on(0, nullptr);
}

// live: pre-copies guest target= (a scribble) into a new guest while it
// runs, `rounds` of dirty-log harvests, then pauses it, copies the last
// dirty pages and compares the two memories word for word.
uint8_t dirty_bitmap[4096];

int live(const Args& args) {
    target = args.u64("target", 0);
    const uint64_t nrounds = args.u64("rounds", 6), mem = args.u64("tmem", 16) << 20;
    static char spec[128];
    size_t n = hv::format(spec, sizeof spec, "dst:image=none,start=paused,mem=%lu,cpu=0,expect=stopped", mem >> 20);
    int64_t dst = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    if (dst < 0) return 3;
    check("map src", hypercall(HV_HC_MAP_GUEST, target, kSrcWindow, 0), int64_t(mem));
    check("map dst", hypercall(HV_HC_MAP_GUEST, uint64_t(dst), kDstWindow, HV_MAP_WRITABLE), int64_t(mem));
    static hv_memory_region log{0, HV_MEM_LOG_DIRTY_PAGES, 0, 0};
    log.memory_size = mem;
    check("log on", hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&log)), 0);
    memcpy(reinterpret_cast<void*>(kDstWindow), reinterpret_cast<const void*>(kSrcWindow), mem);
    const uint64_t pages = mem >> 12;
    const uint64_t gap = args.u64("gap", 0);
    for (uint64_t r = 0; r <= nrounds; ++r) {
        for (const uint64_t t0 = rdtsc(); rdtsc() - t0 < gap;) asm volatile("pause");
        if (r == nrounds) check("pause", pause_guest(target), 0);
        check("get_dirty_log", hypercall(HV_HC_GET_DIRTY_LOG, target, 0, reinterpret_cast<uint64_t>(dirty_bitmap), (pages + 7) / 8), 0);
        uint64_t copied = 0;
        for (uint64_t pg = 0; pg < pages; ++pg)
            if (dirty_bitmap[pg / 8] >> (pg % 8) & 1) {
                memcpy(reinterpret_cast<void*>(kDstWindow + pg * 4096), reinterpret_cast<const void*>(kSrcWindow + pg * 4096), 4096);
                ++copied;
            }
        print("breaker_smp2: live: round %lu: %lu dirty pages copied\n", r, copied);
    }
    uint64_t diff = 0, first = ~0ull;
    const volatile uint64_t* a = reinterpret_cast<const volatile uint64_t*>(kSrcWindow);
    const volatile uint64_t* b = reinterpret_cast<const volatile uint64_t*>(kDstWindow);
    for (uint64_t w = 0; w < mem / 8; ++w)
        if (a[w] != b[w]) {
            if (!diff) first = w * 8;
            ++diff;
        }
    print("breaker_smp2: live: %lu words differ (first at GPA 0x%lx)\n", diff, first);
    check("words differ", int64_t(diff), 0);
    check("stop src", hypercall(HV_HC_STOP_GUEST, target), 0);
    check("stop dst", hypercall(HV_HC_STOP_GUEST, uint64_t(dst)), 0);
    return failures ? 1 : 0;
}

// ---- fill ----
volatile int64_t racer_id;
volatile bool race_go, race_done;
char race_spec[] = "rb:image=none,start=paused,cpu=1,mem=2,expect=abandoned";

void fill_ap(unsigned, void*) {
    while (!race_go) asm volatile("pause");
    racer_id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(race_spec), sizeof race_spec - 1);
    race_done = true;
    for (;;) asm volatile("pause");
}

int64_t create(const char* spec) {
    size_t n = 0;
    while (spec[n]) ++n;
    int64_t r = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    print("breaker_smp2: create '%s': %ld\n", spec, r);
    return r;
}

int fill(const Args& args) {
    int64_t ids[8];
    unsigned made = 0;
    // Offline CPUs: --smp 2.
    check("vcpus=4 cpus=0-3 (CPUs 2, 3 offline)", create("o1:image=none,start=paused,vcpus=4,cpus=0-3,mem=2"), -HV_EINVAL);
    check("vcpus=2 cpus=1-15", create("o2:image=none,start=paused,vcpus=2,cpus=1-15,mem=2"), 
          -HV_EINVAL);
    check("vcpus=1 cpus=1-15 (vCPU 0 on 1: fine)", create("o3:image=none,start=paused,vcpus=1,cpus=1-15,mem=2,expect=abandoned") >= 0, 1);
    check("cpus=15-14", create("o4:image=none,start=paused,vcpus=2,cpus=15-14,mem=2"), -HV_EINVAL);
    check("vcpus=5", create("o5:image=none,start=paused,vcpus=5,mem=2"), -HV_EINVAL);
    check("vcpus=0", create("o6:image=none,start=paused,vcpus=0,mem=2"), -HV_EINVAL);
    // A Linux guest has one vCPU: the description is refused, as the
    // command line's would be (-EINVAL), not "no memory" (-ENOSPC).
    if (args.has("linux"))
        check("image=linux,vcpus=2", create("lx:image=linux,vcpus=2,cpus=0-1,start=paused,mem=128"), -HV_EINVAL);
    // Concurrent creates from both vCPUs.
    if (vcpu_count() > 1) {
        check("start racer", start_vcpu(1, fill_ap, nullptr), 0);
        race_go = true;
        int64_t mine = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(race_spec), sizeof race_spec - 1);
        while (!race_done) asm volatile("pause");
        print("breaker_smp2: concurrent creates: %ld and %ld\n", mine, racer_id);
        // Both get a guest: one that lost the race for an id takes the next.
        check("concurrent creates both succeed, with different ids", mine >= 0 && racer_id >= 0 && mine != racer_id, 1);
    }
    // Fill CPU 0.
    for (;;) {
        int64_t id = create("f:image=none,start=paused,vcpus=4,cpus=0-0,mem=2,expect=stopped");
        if (id < 0) {
            check("fill refused with ENOSPC", id, -HV_ENOSPC);
            break;
        }
        if (made < 8) ids[made++] = id;
    }
    for (unsigned i = 0; i < made; ++i) check("stop", hypercall(HV_HC_STOP_GUEST, uint64_t(ids[i])), 0);
    print("breaker_smp2: fill: %u failures\n", failures);
    return failures ? 1 : 0;
}

}  // namespace

int guest_main(const Args& args) {
    tsc_hz = args.boot->tsc_hz;
    if (args.is("mode", "worker")) return worker(args);
    if (args.is("mode", "storm")) return storm(args);
    if (args.is("mode", "fill")) return fill(args);
    if (args.is("mode", "racer")) return racer(args);
    if (args.is("mode", "scribble")) return scribble(args);
    if (args.is("mode", "live")) return live(args);
    if (args.is("mode", "tscskew")) return tscskew(args);
    if (args.is("mode", "placelock")) return placelock(args);
    if (args.is("mode", "restore")) return restore(args);
    print("breaker_smp2: mode=worker|storm|fill\n");
    return 2;
}
