// migrator: the control guest. A pre-copy live migration of a running guest
// (the source) into an empty, paused one (the destination):
//   1. map the source's memory read-only and the destination's writable
//   2. turn on dirty logging for the source (eager split happens here) and
//      copy all of its memory while it runs
//   3. rounds: get the dirty log, copy the pages it names, until a stop
//      condition holds: a round dirtied at most `threshold` pages, or the
//      downtime estimated from the measured copy rate is within `downtime`,
//      or `rounds` rounds have run
//   4. pause the source, copy the last dirty pages and the state record
//      (struct hv_guest_state: registers, XSAVE, MSRs, TSC, devices),
//      compare all memory word for word, resume the destination
//   5. watch the destination go on (two dirtier passes on each of its
//      writing vCPUs, or two console lines of any other guest), stop the
//      source for good
// With hops=N the destination becomes the next hop's source: A -> B -> C.
// A source with several vCPUs: its count is in each vCPU's state record
// (vcpu_count); the migrator carries one record per vCPU (GET_STATE with
// the vCPU's index, SET_STATE on the destination, which must have as many)
// and checks every writing vCPU of a dirtier (struct hv_dirtier_progress,
// one per vCPU) goes on in the destination, the guest's one clock from the
// latest record's TSC.
// One row per round: pages dirtied, harvest and copy cycles, splits,
// write-protection faults, how many of them the fast path fixed, the
// source's average cycles per fault (what dirtying memory costs it), the
// page-modification log entries taken (dirty_log=pml), and the downtime the
// next stop would cost at the copy rate measured so far.
//   args: src=ID, dst=ID (command-line positions; dst=create: create it
//         with HV_HC_CREATE_GUEST, with as many vCPUs as the source (its
//         hv_guest_stats.vcpus), on CPU dst_cpu, default 0, or with dst_cpus=A-B its
//         vCPU i on CPU A + i mod (B-A+1): without dst_cpus= every vCPU of
//         it runs on dst_cpu, time-sliced, which any machine can do but
//         which is slower than a source with a CPU per vCPU; expecting
//         dst_expect, default stopped; dst=none: no migration, for
//         pauses=), after=N dirtier passes on every writing vCPU before
//         starting (default 1), after_lines=N (a source that is not the
//         dirtier, e.g. Linux: start once it has printed N console lines,
//         and judge the destination by its console lines), rounds=N
//         (default 8), threshold=PAGES (default 16), downtime=CYCLES or
//         downtime_us=MICROSECONDS (stop once the estimated downtime is at
//         most this; default 0: off),
//         hops=N (default 1; with dst=create only), mode=precopy|stop
//         (stop: pause first, copy once, no dirty log), manual=1 (the source
//         is in manual protection: each harvest is a get followed by a clear
//         of the same bits), enable_cap=manual|initially_set (turn that mode
//         on first, with HV_HC_ENABLE_CAP; implies manual=1), cancel=N
//         (pre-copy: N attempts are cancelled after their rounds: logging
//         off, the source runs two passes on, its huge pages come back; then
//         a new attempt starts from a full copy), cost=1 (after logging is
//         on, wait for two of the source's passes before the full copy and
//         print what logging cost its vCPU per page: tools/hv perf),
//         timeout_s=S (how long to wait for a guest's progress, default 300),
//         pauses=N (a dirtier source: before the migration, pause and resume
//         it N times; while it is paused, its vCPUs must not move, each
//         vCPU's record must name it and the vCPU count, and every word of
//         its working sets must hold the pass it completed or the one in
//         progress; after each resume every writing vCPU must go on two
//         passes)
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kSrcWindow = 1ull << 30, kDstWindow = 2ull << 30;
// How long the migrator waits for a guest's progress (two passes, a
// console line): timeout_s= seconds, 300 by default, in TSC cycles.
uint64_t progress_timeout = 1ull << 36;
constexpr uint64_t kMaxPages = HV_MAX_SLOT_BYTES >> 12;

uint64_t bitmap[kMaxPages / 64];

// The dirtier's progress record of its vCPU `vcpu`, behind `window`.
volatile hv_dirtier_progress* progress_at(uint64_t window, unsigned vcpu = 0) {
    return reinterpret_cast<volatile hv_dirtier_progress*>(window + HV_DIRTIER_PROGRESS_GPA) + vcpu;
}

uint64_t passes_at(uint64_t window, unsigned vcpu = 0) { return progress_at(window, vcpu)->passes; }

// How many of the dirtier's vCPUs write and publish progress (vCPU 0's
// record says; a writer that predates the field leaves 0: one).
unsigned writers_at(uint64_t window) {
    const uint32_t n = progress_at(window)->vcpus;
    return n == 0 ? 1 : n > HV_MAX_VCPUS ? HV_MAX_VCPUS : n;
}

// Waits until the dirtier behind `window` has completed `pass` passes on
// vCPU `vcpu`; false after progress_timeout TSC cycles without.
bool wait_for_pass(uint64_t window, uint64_t pass, unsigned vcpu = 0) {
    for (uint64_t t0 = rdtsc(); passes_at(window, vcpu) < pass;) {
        if (rdtsc() - t0 > progress_timeout) return false;
        asm volatile("pause");
    }
    return true;
}

// Every writing vCPU's pass count, read once.
struct Passes {
    unsigned n = 0;
    uint64_t v[HV_MAX_VCPUS] = {};
    static Passes at(uint64_t window) {
        Passes p;
        p.n = writers_at(window);
        for (unsigned i = 0; i < p.n; ++i) p.v[i] = passes_at(window, i);
        return p;
    }
    // "12" or "12 11 13": one per vCPU.
    const char* str() const {
        size_t k = 0;
        text[0] = '\0';
        for (unsigned i = 0; i < n; ++i)
            k += hv::format(text + k, sizeof text - k, i ? " %lu" : "%lu", v[i]);
        return text;
    }

private:
    mutable char text[HV_MAX_VCPUS * 21] = {};
};

// Until every writing vCPU behind `window` is `more` passes past `from`;
// the first that is not within progress_timeout, or -1.
int wait_for_all(uint64_t window, const Passes& from, uint64_t more) {
    for (unsigned i = 0; i < from.n; ++i)
        if (!wait_for_pass(window, from.v[i] + more, i)) return int(i);
    return -1;
}

// What dirty logging costs the source's vCPU (dirty_log_perf_test's "dirty
// memory time"): the cycles its passes took from just before logging was
// turned on until two passes after it was on (all write-protection faults of
// the first pass included), less what those passes cost before logging.
// Meaningful when the source has a CPU of its own: on a shared CPU its
// passes also count the other guests' time slices.
struct LoggingCost {
    uint64_t passes, cycles, base;
    // A consistent (passes, total cycles) pair: the count read before and after.
    static void sample(uint64_t* passes, uint64_t* cycles) {
        volatile hv_dirtier_progress* p = progress_at(kSrcWindow);
        do {
            *passes = p->passes;
            *cycles = p->total_cycles;
        } while (*passes != p->passes);
    }
    void start() {
        sample(&passes, &cycles);
        base = progress_at(kSrcWindow)->last_pass_cycles;
    }
    void report() {  // once logging is on
        volatile hv_dirtier_progress* p = progress_at(kSrcWindow);
        const uint64_t pages = p->pages;
        if (!wait_for_pass(kSrcWindow, p->passes + 2)) {
            print("migrator: logging's cost to the source: not measured (stuck at pass %lu)\n", p->passes);
            return;
        }
        uint64_t n, c;
        sample(&n, &c);
        if (p->magic != HV_DIRTIER_MAGIC || !pages || !base) {
            print("migrator: logging's cost to the source: not measured (not a dirtier)\n");
            return;
        }
        const uint64_t spent = c - cycles, expected = (n - passes) * base;
        const uint64_t extra = spent > expected ? spent - expected : 0;
        print("migrator: logging's cost to the source: %lu cycles per page of its first pass (%lu passes took %lu "
              "cycles, %lu each before logging)\n", extra / pages, n - passes, spent, base);
    }
};

// One string instruction: the page is copied in about a tenth of the cycles
// of a loop of 512 loads and stores in Bochs (and no slower on hardware).
void copy_page(uint64_t page) {
    uint64_t from = kSrcWindow + page * 4096, to = kDstWindow + page * 4096, words = 512;
    asm volatile("rep movsq" : "+S"(from), "+D"(to), "+c"(words)::"memory");
}

// The first word at or after `i` (of `n`) where the source and the
// destination differ, or n: one string instruction per run of equal words.
uint64_t first_difference(uint64_t i, uint64_t n) {
    if (i >= n) return n;
    uint64_t a = kSrcWindow + i * 8, b = kDstWindow + i * 8, left = n - i;
    bool equal;
    asm volatile("repe cmpsq" : "+S"(a), "+D"(b), "+c"(left), "=@ccz"(equal)::"memory");
    return equal ? n : (a - kSrcWindow) / 8 - 1;  // RSI is past the word that differed
}

// Copies the pages whose bits are set; returns how many.
uint64_t copy_dirty(uint64_t pages) {
    uint64_t n = 0;
    for (uint64_t w = 0; w < (pages + 63) / 64; ++w)
        for (uint64_t m = bitmap[w]; m; m &= m - 1, ++n) copy_page(w * 64 + uint64_t(__builtin_ctzll(m)));
    return n;
}

// TSC cycles as microseconds, by the frequency the hypervisor measured.
uint64_t tsc_hz = 1;
uint64_t us(uint64_t cycles) {
    const uint64_t mhz = tsc_hz / 1000000;
    return mhz ? cycles / mhz : 0;
}

hv_guest_stats stats(uint64_t id) {
    hv_guest_stats s{};
    hypercall(HV_HC_GUEST_STATS, id, reinterpret_cast<uint64_t>(&s), sizeof s);
    return s;
}

struct Row {
    hv_guest_stats before;
    uint64_t src;
    void start(uint64_t id) {
        src = id;
        before = stats(src);
    }
    void print_row(const char* what, uint64_t dirtied, uint64_t harvest, uint64_t copy, uint64_t est) {
        hv_guest_stats now = stats(src);
        uint64_t fast = now.faults_fast - before.faults_fast, slow = now.faults_slow - before.faults_slow;
        uint64_t faults = now.ept_exits - before.ept_exits, cycles = now.ept_fault_cycles - before.ept_fault_cycles;
        print("migrator: %-8s %8lu %12lu %12lu %7lu %9lu %10lu %10lu %11lu %12lu\n", what, dirtied, harvest, copy,
              now.splits + now.lazy_splits - before.splits - before.lazy_splits, fast + slow, fast,
              faults ? cycles / faults : 0, now.pml_entries - before.pml_entries, est);
        before = now;
    }
};

// When pre-copy stops: what the user set, read once.
struct StopCondition {
    uint64_t rounds, threshold, downtime;
    // The reason the rounds stop after a round that dirtied n pages, or
    // nullptr to go on. est: the downtime a stop now would cost.
    const char* reached(uint64_t round, uint64_t n, uint64_t est) const {
        if (n <= threshold) return "dirty pages at or below the threshold";
        if (downtime && est <= downtime) return "estimated downtime within the target";
        if (round >= rounds) return "round limit";
        return nullptr;
    }
};

// The copy rate measured so far, in TSC cycles per page: what the last
// copy, which happens with the source paused, will cost per dirty page.
struct CopyRate {
    uint64_t pages = 0, cycles = 0;
    void add(uint64_t n, uint64_t c) { pages += n, cycles += c; }
    uint64_t estimate(uint64_t n) const { return pages ? n * (cycles / pages) : 0; }
};

// Pre-copy, one attempt: logging on, everything copied while the source
// runs, then rounds of harvest and copy. 0 or the guest's exit status.
int precopy_rounds(uint64_t src, uint64_t bytes, Row& row, const StopCondition& stop, bool manual,
                   bool cost_report) {
    const uint64_t pages = bytes >> 12, bitmap_bytes = (pages + 63) / 64 * 8;
    LoggingCost cost;
    cost.start();
    uint64_t t0 = rdtsc();
    hv_memory_region log{0, HV_MEM_LOG_DIRTY_PAGES, 0, bytes};
    if (int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, src, reinterpret_cast<uint64_t>(&log)); r) {
        print("migrator: enabling dirty logging -> %ld\n", r);
        return 3;
    }
    uint64_t t1 = rdtsc();
    print("migrator: %-8s %8s %12s %12s %7s %9s %10s %10s %11s %12s\n", "round", "dirtied", "harvest_cyc", "copy_cyc",
          "splits", "wp_faults", "fast_fixes", "cyc/fault", "pml_entries", "est_downtime");
    row.print_row("log-on", 0, t1 - t0, 0, 0);
    hv_guest_stats s = stats(src);
    print("migrator: source mapped by %lu 4K, %lu 2M, %lu 1G leaves after logging started\n", s.leaves_4k,
          s.leaves_2m, s.leaves_1g);
    if (cost_report) cost.report();
    CopyRate rate;
    for (uint64_t p = 0; p < pages; ++p) copy_page(p);
    uint64_t t2 = rdtsc();
    rate.add(pages, t2 - t1);
    row.print_row("full", pages, 0, t2 - t1, 0);
    for (uint64_t round = 1;; ++round) {
        uint64_t h0 = rdtsc();
        int64_t r = hypercall(HV_HC_GET_DIRTY_LOG, src, 0, reinterpret_cast<uint64_t>(bitmap), bitmap_bytes);
        // Manual protection: the get only took a snapshot; re-protect
        // exactly those pages before copying them.
        static hv_clear_dirty_log clear{0, 0, 0, 0, 0};
        clear.num_pages = pages, clear.bitmap_gpa = reinterpret_cast<uint64_t>(bitmap);
        if (!r && manual) r = hypercall(HV_HC_CLEAR_DIRTY_LOG, src, reinterpret_cast<uint64_t>(&clear));
        uint64_t h1 = rdtsc();
        if (r) {
            print("migrator: get dirty log -> %ld\n", r);
            return 3;
        }
        uint64_t n = copy_dirty(pages);
        uint64_t h2 = rdtsc();
        rate.add(n, h2 - h1);
        // What stopping now would cost: about this round's pages again.
        const uint64_t est = rate.estimate(n);
        char name[16] = "round ";
        name[6] = char('0' + round / 10 % 10), name[7] = char('0' + round % 10);
        row.print_row(name, n, h1 - h0, h2 - h1, est);
        if (const char* why = stop.reached(round, n, est)) {
            print("migrator: pre-copy stops after round %lu: %s\n", round, why);
            break;
        }
    }
    return 0;
}

// A cancelled attempt: logging off, and the source goes on as before it,
// on huge pages again (they come back on its next faults).
int cancel(uint64_t src, uint64_t bytes, Row& row) {
    uint64_t t0 = rdtsc();
    hv_memory_region off{0, 0, 0, bytes};
    if (int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, src, reinterpret_cast<uint64_t>(&off)); r) {
        print("migrator: turning dirty logging off -> %ld\n", r);
        return 3;
    }
    uint64_t t1 = rdtsc();
    row.print_row("log-off", 0, t1 - t0, 0, 0);
    const Passes from = Passes::at(kSrcWindow);
    if (int stuck = wait_for_all(kSrcWindow, from, 2); stuck >= 0) {
        print("migrator: source's vCPU %d stuck at pass %lu after logging stopped\n", stuck,
              passes_at(kSrcWindow, unsigned(stuck)));
        return 5;
    }
    hv_guest_stats s = stats(src);
    print("migrator: cancelled: %lu 2M ranges recovered; two passes later the source is mapped by %lu 4K, %lu 2M, "
          "%lu 1G leaves\n", s.recovered_huge, s.leaves_4k, s.leaves_2m, s.leaves_1g);
    return 0;
}

// How the migrator tells a guest makes progress: the dirtier's pass count in
// its memory, or, for any other guest (Linux), the lines its console printed.
struct Progress {
    bool lines;  // after_lines= was given
    uint64_t at(uint64_t id, uint64_t window) const {
        if (!lines) return passes_at(window);
        hv_guest_stats s{};
        return hypercall(HV_HC_GUEST_STATS, id, reinterpret_cast<uint64_t>(&s), sizeof s) > 0 ? s.console_lines
                                                                                                : ~0ull;
    }
    // Until `id` reaches `target`, or has stopped (a guest that ended by
    // itself, e.g. Linux resetting once its workload passed: ~0), or
    // progress_timeout TSC cycles; the last value seen.
    uint64_t wait(uint64_t id, uint64_t window, uint64_t target) const {
        uint64_t v = at(id, window);
        for (uint64_t t0 = rdtsc(); v < target && rdtsc() - t0 <= progress_timeout; v = at(id, window))
            asm volatile("pause");
        return v;
    }
    const char* unit() const { return lines ? "console line" : "pass"; }
};

struct Options {
    StopCondition stop;
    bool precopy, manual, enable_manual, enable_initially_set, cost;
    uint64_t cancels;
    Progress progress;
};

// The dirtier at the destination stamps its passes with its TSC. A guest's
// vCPUs read one clock, which the destination resumes from the latest
// record's (the last vCPU to park; offset when it resumed, after
// `resumed_after` on this CPU's TSC, which is the same clock on this
// machine): each writing vCPU's stamp must lie in [tsc, tsc + now -
// resumed_after], tsc the latest record's, so no vCPU's clock went back and
// none skipped the downtime. Without the offset it would be the CPU's and
// exceed that by the downtime and the verification.
bool tsc_went_on(const hv_guest_state* records, unsigned vcpus, unsigned writers, uint64_t resumed_after) {
    uint64_t end[HV_MAX_VCPUS], tsc = 0;
    unsigned latest = 0;
    for (unsigned i = 0; i < writers; ++i) end[i] = progress_at(kDstWindow, i)->last_pass_end;
    const uint64_t bound = rdtsc() - resumed_after;
    for (unsigned i = 0; i < vcpus; ++i)
        if (records[i].vcpu.tsc > tsc) tsc = records[i].vcpu.tsc, latest = i;
    char since[HV_MAX_VCPUS * 22];
    size_t k = 0;
    for (unsigned i = 0; i < writers; ++i) {
        if (end[i] < tsc || end[i] - tsc > bound) {
            print("migrator: TSC: the destination's did not go on from the record's: %lu, the record %lu, at most %lu "
                  "later (vCPU %u; the record of vCPU %u)\n", end[i], tsc, bound, i, latest);
            return false;
        }
        k += hv::format(since + k, sizeof since - k, i ? " +%lu" : "+%lu", end[i] - tsc);
    }
    if (writers > 1)
        print("migrator: TSC: the destination's went on from the record's on all %u vCPUs (%s cycles since its "
              "resume, from vCPU %u's, the latest)\n", writers, since, latest);
    else
        print("migrator: TSC: the destination's went on from the record's (%s cycles since its resume)\n", since);
    return true;
}

// One record per vCPU of the guest being migrated.
hv_guest_state states[HV_MAX_VCPUS];

// Every vCPU's record of the paused `src` into states[]: vCPU 0's
// vcpu_count says how many there are, and each must name its vCPU and that
// count. Their number, or 0 after saying why not; *got: vCPU 0's GET_STATE.
unsigned get_records(uint64_t src, int64_t* got) {
    *got = hypercall(HV_HC_GET_STATE, src, reinterpret_cast<uint64_t>(&states[0]), sizeof states[0], 0);
    const unsigned n = states[0].vcpu_count;
    if (*got != sizeof states[0] || states[0].vcpu_index != 0 || n < 1 || n > HV_MAX_VCPUS) {
        print("migrator: get_state(vCPU 0) -> %ld: a record of vCPU %u of %u\n", *got, states[0].vcpu_index, n);
        return 0;
    }
    for (unsigned i = 1; i < n; ++i) {
        const int64_t g = hypercall(HV_HC_GET_STATE, src, reinterpret_cast<uint64_t>(&states[i]), sizeof states[i], i);
        if (g != sizeof states[i] || states[i].vcpu_index != i || states[i].vcpu_count != n) {
            print("migrator: get_state(vCPU %u) -> %ld: a record of vCPU %u of %u, vCPU 0's says %u\n", i, g,
                  states[i].vcpu_index, states[i].vcpu_count, n);
            return 0;
        }
    }
    return n;
}

// Every record onto `dst`; 0 or the first refusal.
int64_t set_records(uint64_t dst, unsigned n) {
    for (unsigned i = 0; i < n; ++i)
        if (int64_t s = hypercall(HV_HC_SET_STATE, dst, reinterpret_cast<uint64_t>(&states[i]), sizeof states[i]); s) {
            print("migrator: set_state(vCPU %u of %u) -> %ld\n", i, n, s);
            return s;
        }
    return 0;
}

const char* activity(uint32_t a) {
    return a == HV_ACTIVITY_ACTIVE ? "active" : a == HV_ACTIVITY_HLT ? "hlt" : a == HV_ACTIVITY_WAIT_START ? "not started" : "?";
}

// One migration of src into dst (both mapped: kSrcWindow, kDstWindow), src
// running, dst paused. 0, or the exit status for the run.
int migrate(uint64_t src, uint64_t dst, uint64_t bytes, const Options& o, bool stop_destination) {
    const uint64_t pages = bytes >> 12, bitmap_bytes = (pages + 63) / 64 * 8, t_start = rdtsc();
    print("migrator: %s migration of guest %lu to guest %lu, %lu MiB\n", o.precopy ? "pre-copy" : "stop-and-copy", src,
          dst, bytes >> 20);
    Row row;
    row.start(src);
    if (o.enable_manual || o.enable_initially_set) {
        uint64_t flags = HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE | (o.enable_initially_set ? HV_DIRTY_LOG_INITIALLY_SET : 0);
        if (int64_t r = hypercall(HV_HC_ENABLE_CAP, src, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags); r) {
            print("migrator: enable manual protection -> %ld\n", r);
            return 3;
        }
    }
    for (uint64_t attempt = 0; o.precopy; ++attempt) {
        if (int r = precopy_rounds(src, bytes, row, o.stop, o.manual, o.cost); r) return r;
        if (attempt == o.cancels) break;
        if (int r = cancel(src, bytes, row); r) return r;
    }

    uint64_t t0 = rdtsc();
    if (int64_t r = pause_guest(src); r) {
        print("migrator: pause(source) -> %ld\n", r);
        return 3;
    }
    uint64_t t_paused = rdtsc();
    uint64_t last = pages;
    if (o.precopy) {
        hypercall(HV_HC_GET_DIRTY_LOG, src, 0, reinterpret_cast<uint64_t>(bitmap), bitmap_bytes);
        last = copy_dirty(pages);
    } else {
        for (uint64_t p = 0; p < pages; ++p) copy_page(p);
    }
    uint64_t t_copy = rdtsc();
    int64_t g = 0, s = 0;
    const unsigned vcpus = get_records(src, &g);
    if (vcpus) s = set_records(dst, vcpus);
    uint64_t t_state = rdtsc();
    if (!vcpus || s) {
        // The destination has no state to go on from: it stays paused, and
        // the source goes on as if nothing had happened.
        int64_t r = hypercall(HV_HC_RESUME, src);
        print("migrator: the state records did not pass (get %ld, set %ld): the source is resumed (%ld), the "
              "destination stays paused\n", g, s, r);
        return 4;
    }

    // Verification, while both are paused: every byte, compared a 64-bit word
    // at a time (a word differs iff one of its bytes does).
    uint64_t mismatched_words = 0, first_bad = ~0ull;
    for (uint64_t i = 0, words = bytes / 8; (i = first_difference(i, words)) < words; ++i)
        if (mismatched_words++ == 0) first_bad = i * 8;

    uint64_t t_verify = rdtsc();
    int64_t r = hypercall(HV_HC_RESUME, dst);
    uint64_t t_resume = rdtsc();
    // Outside the downtime: a console line count is a HV_HC_GUEST_STATS,
    // whose leaf counts walk the source's EPT (800k cycles for a 128 MiB
    // Linux in Bochs, four times the last copy). The source is paused: its
    // count is the one it stopped at. The destination's progress starts at
    // the source's pass counts (in the memory just copied), or at its own
    // console's line count, which it has just begun.
    const bool lines = o.progress.lines;
    const Passes paused_at = lines ? Passes{} : Passes::at(kSrcWindow);
    const uint64_t paused_line = lines ? o.progress.at(src, kSrcWindow) : paused_at.v[0];
    const uint64_t base = lines ? o.progress.at(dst, kDstWindow) : paused_line;
    row.print_row("final", last, 0, t_copy - t0, 0);
    print("migrator: paused at %s %lu, rip=0x%lx, tsc=%lu, state record %ld bytes%s, set %ld, resume %ld\n",
          o.progress.unit(), paused_line, states[0].vcpu.rip, states[0].vcpu.tsc, g,
          states[0].flags & HV_STATE_PC_PLATFORM ? " with PC devices" : "", s, r);
    if (vcpus > 1) {
        print("migrator: %u vCPUs, a record each\n", vcpus);
        for (unsigned i = 0; i < vcpus; ++i)
            if (i < paused_at.n)
                print("migrator: vCPU %u: %s at pass %lu, rip=0x%lx, tsc=%lu\n", i, activity(states[i].vcpu.activity),
                      paused_at.v[i], states[i].vcpu.rip, states[i].vcpu.tsc);
            else
                print("migrator: vCPU %u: %s, rip=0x%lx, tsc=%lu\n", i, activity(states[i].vcpu.activity),
                      states[i].vcpu.rip, states[i].vcpu.tsc);
    }
    const uint64_t downtime = (t_state - t0) + (t_resume - t_verify);
    print("migrator: downtime %lu TSC cycles (%lu us): pause %lu, last harvest and copy %lu, state record %lu, "
          "resume %lu (verification %lu not counted)\n", downtime, us(downtime), t_paused - t0, t_copy - t_paused,
          t_state - t_copy, t_resume - t_verify, t_verify - t_state);
    print("migrator: migration took %lu TSC cycles (%lu ms) from its start to the destination's resume\n",
          t_resume - t_start, us(t_resume - t_start) / 1000);
    if (mismatched_words)
        print("migrator: verdict: MISMATCH: %lu of %lu words differ, the first at GPA 0x%lx\n", mismatched_words,
              bytes / 8, first_bad);
    else
        print("migrator: verdict: identical: 0 of %lu words differ\n", bytes / 8);
    if (r) return 4;
    hypercall(HV_HC_STOP_GUEST, src);

    // The workload goes on in the destination, from where the source stopped.
    if (lines) {
        const uint64_t now = o.progress.wait(dst, kDstWindow, base + 2);
        if (now == ~0ull) {
            print("migrator: the destination ended by itself after going on (its outcome is the run's verdict)\n");
        } else if (now < base + 2) {
            print("migrator: destination stuck at %s %lu\n", o.progress.unit(), now);
            return 5;
        } else {
            print("migrator: destination at %s %lu and going on\n", o.progress.unit(), now);
        }
        return mismatched_words ? 1 : 0;
    }
    // Every writing vCPU of it: two passes on from where it was paused.
    if (int stuck = wait_for_all(kDstWindow, paused_at, 2); stuck >= 0) {
        if (paused_at.n > 1)
            print("migrator: destination stuck: its vCPU %d at pass %lu, paused at %lu (every vCPU: %s)\n", stuck,
                  passes_at(kDstWindow, unsigned(stuck)), paused_at.v[stuck], Passes::at(kDstWindow).str());
        else
            print("migrator: destination stuck at pass %lu\n", passes_at(kDstWindow));
        return 5;
    }
    Passes now = paused_at;
    for (unsigned i = 0; i < now.n; ++i) now.v[i] = passes_at(kDstWindow, i);
    if (now.n > 1)
        print("migrator: destination at pass %lu and going on, every one of its %u writing vCPUs: passes %s, paused "
              "at %s\n", now.v[0], now.n, now.str(), paused_at.str());
    else
        print("migrator: destination at pass %lu and going on\n", now.v[0]);
    if (!tsc_went_on(states, vcpus, paused_at.n, t_verify)) return 6;
    if (stop_destination) hypercall(HV_HC_STOP_GUEST, dst);
    return mismatched_words ? 1 : 0;
}

// Words of the paused dirtier behind `window` (`bytes` mapped) that hold
// neither the pass its vCPU completed (`at`) nor the one in progress; the
// pages checked in *checked.
uint64_t wrong_words(uint64_t window, uint64_t bytes, const Passes& at, uint64_t* checked) {
    uint64_t wrong = 0;
    *checked = 0;
    for (unsigned i = 0; i < at.n; ++i) {
        volatile hv_dirtier_progress* p = progress_at(window, i);
        const uint64_t pages = p->pages, base = p->base, step = p->stride * 4096, done = at.v[i];
        if (!pages || !step || base >= bytes || (pages - 1) * step >= bytes - base) continue;
        for (uint64_t k = 0; k < pages; ++k) {
            const uint64_t gpa = base + k * step, w = *reinterpret_cast<volatile uint64_t*>(window + gpa);
            const uint64_t pass = w >> 32;
            const bool ok = (w & 0xffffffffu) == gpa >> 12 ? pass == done || pass == done + 1 : w == 0 && done == 0;
            if (!ok && wrong++ < 4)
                print("migrator: vCPU %u's page at GPA 0x%lx holds 0x%lx, after %lu passes\n", i, gpa, w, done);
        }
        *checked += pages;
    }
    return wrong;
}

// pauses=N: the dirtier source is paused and resumed N times while it
// writes. 0, or the exit status for the run.
int pause_cycles(uint64_t src, uint64_t bytes, uint64_t cycles) {
    for (uint64_t c = 1; c <= cycles; ++c) {
        const uint64_t t0 = rdtsc();
        if (int64_t r = pause_guest(src); r) {
            print("migrator: pause %lu: -> %ld\n", c, r);
            return 3;
        }
        const uint64_t t_paused = rdtsc();
        const Passes at = Passes::at(kSrcWindow);
        int64_t g;
        const unsigned vcpus = get_records(src, &g);
        if (!vcpus) return 4;
        // Still: no vCPU moves for twice the slowest one's last pass, and
        // for two time slices at least (a vCPU that shares its CPU waits one
        // out between its turns; the scheduler's slice is 2^22 TSC cycles).
        uint64_t still = 1ull << 23;
        for (unsigned i = 0; i < at.n; ++i) {
            const uint64_t twice = 2 * progress_at(kSrcWindow, i)->last_pass_cycles;
            still = twice > still ? twice : still;
        }
        if (still > progress_timeout / 8) still = progress_timeout / 8;
        for (uint64_t t1 = rdtsc(); rdtsc() - t1 < still;) asm volatile("pause");
        for (unsigned i = 0; i < at.n; ++i)
            if (passes_at(kSrcWindow, i) != at.v[i]) {
                print("migrator: pause %lu: vCPU %u went from pass %lu to %lu while paused\n", c, i, at.v[i],
                      passes_at(kSrcWindow, i));
                return 7;
            }
        uint64_t checked;
        if (uint64_t wrong = wrong_words(kSrcWindow, bytes, at, &checked); wrong || !checked) {
            print("migrator: pause %lu: %lu of %lu pages hold a wrong word\n", c, wrong, checked);
            return 1;
        }
        if (int64_t r = hypercall(HV_HC_RESUME, src); r) {
            print("migrator: pause %lu: resume -> %ld\n", c, r);
            return 3;
        }
        if (int stuck = wait_for_all(kSrcWindow, at, 2); stuck >= 0) {
            print("migrator: pause %lu: after the resume, vCPU %d stuck at pass %lu (paused at %lu)\n", c, stuck,
                  passes_at(kSrcWindow, unsigned(stuck)), at.v[stuck]);
            return 5;
        }
        // (A console line holds 160 bytes: at most ~130 here.)
        print("migrator: pause %lu of %lu: in %lu cycles, at passes %s, still for %lu cycles, %u records, %lu pages "
              "right; resumed: %s\n", c, cycles, t_paused - t0, at.str(), still, vcpus, checked,
              Passes::at(kSrcWindow).str());
    }
    print("migrator: %lu pauses and resumes: every vCPU stood still while paused and went on after, its memory "
          "checked\n", cycles);
    return 0;
}

// The source's vCPU count, for a destination created with as many (its
// counters say, HV_HC_GUEST_STATS). 0 if not known.
unsigned source_vcpus(uint64_t src) {
    static hv_guest_stats s;
    const int64_t r = hypercall(HV_HC_GUEST_STATS, src, reinterpret_cast<uint64_t>(&s), sizeof s);
    if (r != int64_t(sizeof s) || s.vcpus < 1 || s.vcpus > HV_MAX_VCPUS) {
        print("migrator: the source's vCPU count is not known: guest_stats %ld (vcpus %lu)\n", r, s.vcpus);
        return 0;
    }
    print("migrator: the source has %lu vCPU%s\n", s.vcpus, s.vcpus == 1 ? "" : "s");
    return unsigned(s.vcpus);
}

// A destination of `mib` MiB with `vcpus` vCPUs created for this hop,
// paused, on CPU `cpu` or, with `cpus` ("A-B"), vCPU i on A + i mod
// (B-A+1); its id or < 0.
int64_t create_destination(const char* name, uint64_t mib, unsigned vcpus, uint64_t cpu, const char* cpus,
                           const char* expect) {
    static char spec[HV_CREATE_SPEC_MAX + 1];
    size_t n = hv::format(spec, sizeof spec, "%s:image=none,start=paused,expect=%s,mem=%lu", name, expect, mib);
    if (vcpus > 1) n += hv::format(spec + n, sizeof spec - n, ",vcpus=%u", vcpus);
    if (cpus[0])
        n += hv::format(spec + n, sizeof spec - n, ",cpus=%s", cpus);
    else
        n += hv::format(spec + n, sizeof spec - n, ",cpu=%lu", cpu);
    int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    print("migrator: created the destination '%s' -> %ld\n", spec, id);
    return id;
}

}  // namespace

int guest_main(const Args& args) {
    tsc_hz = args.boot->tsc_hz ? args.boot->tsc_hz : 1;
    if (args.boot->tsc_hz) progress_timeout = args.u64("timeout_s", 300) * args.boot->tsc_hz;
    uint64_t src = args.u64("src", 0), dst = args.u64("dst", 1);
    const uint64_t hops = args.u64("hops", 1), after_lines = args.u64("after_lines", 0);
    const uint64_t pauses = args.u64("pauses", 0);
    const bool create = args.is("dst", "create"), no_dst = args.is("dst", "none");
    Options o{};
    // downtime= in TSC cycles, or downtime_us= in microseconds.
    uint64_t downtime = args.u64("downtime", 0);
    if (const uint64_t u = args.u64("downtime_us", 0)) downtime = u * (tsc_hz / 1000000);
    o.stop = StopCondition{args.u64("rounds", 8), args.u64("threshold", 16), downtime};
    o.precopy = !args.is("mode", "stop");
    o.enable_manual = args.is("enable_cap", "manual"), o.enable_initially_set = args.is("enable_cap", "initially_set");
    o.manual = args.u64("manual", 0) || o.enable_manual || o.enable_initially_set;
    o.cancels = args.u64("cancel", 0);
    o.cost = args.u64("cost", 0);
    o.progress.lines = after_lines > 0;
    static char expect[16] = "stopped";
    // The last destination's outcome; one not `stopped` ends by itself.
    if (args.has("dst_expect") && !args.str("dst_expect", expect, sizeof expect)) {
        print("migrator: dst_expect= is longer than any outcome's name\n");
        return 2;
    }
    static char dst_cpus[16] = "";
    if (args.has("dst_cpus") && (!create || !args.str("dst_cpus", dst_cpus, sizeof dst_cpus))) {
        print("migrator: dst_cpus= is A-B (CPU indexes), with dst=create\n");
        return 2;
    }
    const bool dst_ends_itself = !args.is("dst_expect", "stopped") && args.has("dst_expect");
    if (hops < 1 || hops > 8 || (hops > 1 && !create)) {
        print("migrator: hops=%lu: 1 to 8, and more than 1 only with dst=create\n", hops);
        return 2;
    }
    if ((pauses && o.progress.lines) || (no_dst && !pauses)) {
        print("migrator: pauses= is for a dirtier source (not with after_lines=); dst=none only with pauses=\n");
        return 2;
    }

    int64_t src_bytes = hypercall(HV_HC_MAP_GUEST, src, kSrcWindow, 0);
    if (src_bytes <= 0 || uint64_t(src_bytes) > HV_MAX_SLOT_BYTES) {
        print("migrator: cannot map the source: %ld\n", src_bytes);
        return 2;
    }
    const uint64_t bytes = uint64_t(src_bytes);
    if (o.progress.lines) {
        print("migrator: waiting for guest %lu to print %lu console lines\n", src, after_lines);
        if (o.progress.wait(src, kSrcWindow, after_lines) < after_lines) {
            print("migrator: the source did not print %lu console lines within %lu s (timeout_s=)\n", after_lines,
                  progress_timeout / tsc_hz);
            return 5;
        }
    } else {
        // vCPU 0's record names the others before its first pass ends.
        const uint64_t after = args.u64("after", 1);
        Passes from;
        from.n = 1;
        if (wait_for_pass(kSrcWindow, after)) from = Passes::at(kSrcWindow);
        for (unsigned i = 0; i < from.n; ++i) from.v[i] = 0;
        if (int stuck = wait_for_all(kSrcWindow, from, after); stuck >= 0) {
            print("migrator: the source's vCPU %d did not reach pass %lu within %lu s (timeout_s=)\n", stuck, after,
                  progress_timeout / tsc_hz);
            return 5;
        }
    }
    if (pauses) {
        if (int r = pause_cycles(src, bytes, pauses); r) return r;
        if (no_dst) {
            hypercall(HV_HC_STOP_GUEST, src);
            return 0;
        }
    }

    // A created destination has as many vCPUs as the source.
    const unsigned vcpus = create ? source_vcpus(src) : 1;
    if (!vcpus) return 4;
    for (uint64_t hop = 1; hop <= hops; ++hop) {
        const bool last = hop == hops;
        if (create) {
            // Chained: names b, c, ... after the first source; one hop: dst.
            char name[8] = "dst";
            if (hops > 1) name[0] = char('a' + hop), name[1] = '\0';
            int64_t id = create_destination(name, bytes >> 20, vcpus, args.u64("dst_cpu", 0), dst_cpus,
                                            last ? expect : "stopped");
            if (id < 0) return 2;
            dst = uint64_t(id);
        }
        int64_t dst_bytes = hypercall(HV_HC_MAP_GUEST, dst, kDstWindow, HV_MAP_WRITABLE);
        if (dst_bytes != src_bytes) {
            print("migrator: cannot map the destination: %ld bytes for a source of %ld\n", dst_bytes, src_bytes);
            return 2;
        }
        // The destination goes on as itself only after the last hop; before
        // that it is the next source, stopped when that hop is done.
        // A destination expected to end by itself (a Linux that resets, a
        // guest that exits) is left to do so.
        if (int r = migrate(src, dst, bytes, o, last && !o.progress.lines && !dst_ends_itself); r) return r;
        if (last) break;
        // The next hop's source is this destination: its window becomes
        // read-only (a writable one would keep its memory from logging).
        int64_t u = hypercall(HV_HC_UNMAP_GUEST, kSrcWindow);
        int64_t v = hypercall(HV_HC_UNMAP_GUEST, kDstWindow);
        int64_t m = hypercall(HV_HC_MAP_GUEST, dst, kSrcWindow, 0);
        print("migrator: hop %lu done, guest %lu is the next source (unmap %ld/%ld, map %ld)\n", hop, dst, u, v, m);
        if (u || v || m != src_bytes) return 2;
        src = dst;
    }
    return 0;
}
