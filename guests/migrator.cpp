// migrator: the control guest. A pre-copy live migration of a running guest
// (the source) into an empty, paused one (the destination):
//   1. map the source's memory read-only and the destination's writable
//   2. turn on dirty logging for the source (eager split happens here) and
//      copy all of its memory while it runs
//   3. rounds: get the dirty log, copy the pages it names, until a round
//      dirties at most `threshold` pages or `rounds` rounds have run
//   4. pause the source, copy the last dirty pages and the vCPU state,
//      compare all memory word for word, resume the destination
//   5. watch the destination's progress block move on two passes, stop both
// One row per round: pages dirtied, harvest and copy cycles, splits,
// write-protection faults, how many of them the fast path fixed, the
// source's average cycles per fault (what dirtying memory costs it), and the
// page-modification log entries taken (dirty_log=pml).
//   args: src=ID, dst=ID (command-line positions; dst=create: create it
//         with HV_HC_CREATE_GUEST, on CPU dst_cpu, default 0), after=N passes before
//         starting (default 1), rounds=N (default 8), threshold=PAGES (default 16),
//         mode=precopy|stop (stop: pause first, copy once, no dirty log),
//         manual=1 (the source is in manual protection: each harvest is a get
//         followed by a clear of the same bits), enable_cap=manual|initially_set
//         (turn that mode on first, with HV_HC_ENABLE_CAP; implies manual=1),
//         cancel=N (pre-copy: N attempts are cancelled after their rounds:
//         logging off, the source runs two passes on, its huge pages come
//         back; then a new attempt starts from a full copy), cost=1 (after
//         logging is on, wait for two of the source's passes before the full
//         copy and print what logging cost its vCPU per page: tools/hv perf)
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kSrcWindow = 1ull << 30, kDstWindow = 2ull << 30;
constexpr uint64_t kProgressTimeout = 1ull << 36;  // TSC cycles for two passes
constexpr uint64_t kMaxPages = HV_MAX_SLOT_BYTES >> 12;

uint64_t bitmap[kMaxPages / 64];

volatile hv_dirtier_progress* progress_at(uint64_t window) {
    return reinterpret_cast<volatile hv_dirtier_progress*>(window + HV_DIRTIER_PROGRESS_GPA);
}

uint64_t passes_at(uint64_t window) { return progress_at(window)->passes; }

// Waits until the dirtier behind `window` has completed `pass` passes; false
// after kProgressTimeout TSC cycles without.
bool wait_for_pass(uint64_t window, uint64_t pass) {
    for (uint64_t t0 = rdtsc(); passes_at(window) < pass;) {
        if (rdtsc() - t0 > kProgressTimeout) return false;
        asm volatile("pause");
    }
    return true;
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
    void print_row(const char* what, uint64_t dirtied, uint64_t harvest, uint64_t copy) {
        hv_guest_stats now = stats(src);
        uint64_t fast = now.faults_fast - before.faults_fast, slow = now.faults_slow - before.faults_slow;
        uint64_t faults = now.ept_exits - before.ept_exits, cycles = now.ept_fault_cycles - before.ept_fault_cycles;
        print("migrator: %-8s %8lu %12lu %12lu %7lu %9lu %10lu %10lu %11lu\n", what, dirtied, harvest, copy,
              now.splits + now.lazy_splits - before.splits - before.lazy_splits, fast + slow, fast,
              faults ? cycles / faults : 0, now.pml_entries - before.pml_entries);
        before = now;
    }
};

// Pre-copy, one attempt: logging on, everything copied while the source
// runs, then rounds of harvest and copy. 0 or the guest's exit status.
int precopy_rounds(uint64_t src, uint64_t bytes, Row& row, uint64_t rounds, uint64_t threshold, bool manual,
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
    print("migrator: %-8s %8s %12s %12s %7s %9s %10s %10s %11s\n", "round", "dirtied", "harvest_cyc", "copy_cyc",
          "splits", "wp_faults", "fast_fixes", "cyc/fault", "pml_entries");
    row.print_row("log-on", 0, t1 - t0, 0);
    hv_guest_stats s = stats(src);
    print("migrator: source mapped by %lu 4K, %lu 2M, %lu 1G leaves after logging started\n", s.leaves_4k,
          s.leaves_2m, s.leaves_1g);
    if (cost_report) cost.report();
    for (uint64_t p = 0; p < pages; ++p) copy_page(p);
    row.print_row("full", pages, 0, rdtsc() - t1);
    for (uint64_t round = 1; round <= rounds; ++round) {
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
        char name[16] = "round ";
        name[6] = char('0' + round / 10 % 10), name[7] = char('0' + round % 10);
        row.print_row(name, n, h1 - h0, rdtsc() - h1);
        if (n <= threshold) break;
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
    row.print_row("log-off", 0, t1 - t0, 0);
    if (!wait_for_pass(kSrcWindow, passes_at(kSrcWindow) + 2)) {
        print("migrator: source stuck at pass %lu after logging stopped\n", passes_at(kSrcWindow));
        return 5;
    }
    hv_guest_stats s = stats(src);
    print("migrator: cancelled: %lu 2M ranges recovered; two passes later the source is mapped by %lu 4K, %lu 2M, "
          "%lu 1G leaves\n", s.recovered_huge, s.leaves_4k, s.leaves_2m, s.leaves_1g);
    return 0;
}

}  // namespace

int guest_main(const Args& args) {
    uint64_t src = args.u64("src", 0), dst = args.u64("dst", 1), after = args.u64("after", 1);
    uint64_t rounds = args.u64("rounds", 8), threshold = args.u64("threshold", 16);
    bool precopy = !args.is("mode", "stop");
    bool enable_manual = args.is("enable_cap", "manual"), enable_initially_set = args.is("enable_cap", "initially_set");
    bool manual = args.u64("manual", 0) || enable_manual || enable_initially_set;
    uint64_t cancels = args.u64("cancel", 0);
    int64_t src_bytes = hypercall(HV_HC_MAP_GUEST, src, kSrcWindow, 0);
    if (args.is("dst", "create") && src_bytes > 0) {
        static char spec[HV_CREATE_SPEC_MAX + 1];
        size_t n = hv::format(spec, sizeof spec, "dst:image=none,start=paused,expect=stopped,mem=%ld,cpu=%lu",
                              src_bytes >> 20, args.u64("dst_cpu", 0));
        int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
        print("migrator: created the destination '%s' -> %ld\n", spec, id);
        if (id < 0) return 2;
        dst = uint64_t(id);
    }
    int64_t dst_bytes = hypercall(HV_HC_MAP_GUEST, dst, kDstWindow, HV_MAP_WRITABLE);
    if (src_bytes <= 0 || dst_bytes <= 0 || src_bytes != dst_bytes || uint64_t(src_bytes) > HV_MAX_SLOT_BYTES) {
        print("migrator: cannot map the guests: source %ld, destination %ld\n", src_bytes, dst_bytes);
        return 2;
    }
    const uint64_t bytes = uint64_t(src_bytes), pages = bytes >> 12;
    const uint64_t bitmap_bytes = (pages + 63) / 64 * 8;
    print("migrator: %s migration of guest %lu to guest %lu, %lu MiB\n", precopy ? "pre-copy" : "stop-and-copy", src,
          dst, bytes >> 20);

    while (passes_at(kSrcWindow) < after) asm volatile("pause");

    Row row;
    row.start(src);
    if (enable_manual || enable_initially_set) {
        uint64_t flags = HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE | (enable_initially_set ? HV_DIRTY_LOG_INITIALLY_SET : 0);
        if (int64_t r = hypercall(HV_HC_ENABLE_CAP, src, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags); r) {
            print("migrator: enable manual protection -> %ld\n", r);
            return 3;
        }
    }
    for (uint64_t attempt = 0; precopy; ++attempt) {
        if (int r = precopy_rounds(src, bytes, row, rounds, threshold, manual, args.u64("cost", 0)); r) return r;
        if (attempt == cancels) break;
        if (int r = cancel(src, bytes, row); r) return r;
    }

    uint64_t t0 = rdtsc();
    if (int64_t r = pause_guest(src); r) {
        print("migrator: pause(source) -> %ld\n", r);
        return 3;
    }
    uint64_t paused_at = passes_at(kSrcWindow), last = pages;
    if (precopy) {
        hypercall(HV_HC_GET_DIRTY_LOG, src, 0, reinterpret_cast<uint64_t>(bitmap), bitmap_bytes);
        last = copy_dirty(pages);
    } else {
        for (uint64_t p = 0; p < pages; ++p) copy_page(p);
    }
    uint64_t t_copy = rdtsc();
    static hv_vcpu_state state;
    int64_t g = hypercall(HV_HC_GET_VCPU_STATE, src, reinterpret_cast<uint64_t>(&state), sizeof state);
    int64_t s = hypercall(HV_HC_SET_VCPU_STATE, dst, reinterpret_cast<uint64_t>(&state), sizeof state);
    uint64_t t_state = rdtsc();

    // Verification, while both are paused: every byte, compared a 64-bit word
    // at a time (a word differs iff one of its bytes does).
    uint64_t mismatched_words = 0, first_bad = ~0ull;
    for (uint64_t i = 0, words = bytes / 8; (i = first_difference(i, words)) < words; ++i)
        if (mismatched_words++ == 0) first_bad = i * 8;

    uint64_t t_verify = rdtsc();
    int64_t r = hypercall(HV_HC_RESUME, dst);
    uint64_t t_resume = rdtsc();
    row.print_row("final", last, 0, t_copy - t0);
    print("migrator: paused at pass %lu, rip=0x%lx, state %ld/%ld, resume %ld\n", paused_at, state.rip, g, s, r);
    print("migrator: downtime %lu TSC cycles: last copy %lu, vCPU state %lu, resume %lu (verification %lu not counted)\n",
          (t_state - t0) + (t_resume - t_verify), t_copy - t0, t_state - t_copy, t_resume - t_verify,
          t_verify - t_state);
    if (mismatched_words)
        print("migrator: verdict: MISMATCH: %lu of %lu words differ, the first at GPA 0x%lx\n", mismatched_words,
              bytes / 8, first_bad);
    else
        print("migrator: verdict: identical: 0 of %lu words differ\n", bytes / 8);
    if (g != sizeof state || s || r) return 4;
    hypercall(HV_HC_STOP_GUEST, src);

    // The workload goes on in the destination, from where the source stopped:
    // two more passes, then the destination is stopped too and the run ends.
    if (!wait_for_pass(kDstWindow, paused_at + 2)) {
        print("migrator: destination stuck at pass %lu\n", passes_at(kDstWindow));
        return 5;
    }
    print("migrator: destination at pass %lu and going on\n", passes_at(kDstWindow));
    hypercall(HV_HC_STOP_GUEST, dst);
    return mismatched_words ? 1 : 0;
}
