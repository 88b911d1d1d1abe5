// breaker_smp3: the second outside review of multi-vCPU guests (after
// 3ed4607), by mode (args mode=...):
//   ticker   a target with 2+ vCPUs: vCPU 0 starts the others; each counts in
//            counters[i]; vCPU 0 prints them every ~0.25 s of guest TSC.
//   lateset  the control guest (one vCPU): creates a ticker on its own CPU,
//            pauses it, RESUMEs it, then SET_STATEs one vCPU's record while
//            the ticker's CPU has not yet come round (it is the control's
//            own). Then it pauses and resumes it again, plainly.
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

uint64_t tsc_hz;
unsigned failures;

void check(const char* what, int64_t got, int64_t want) {
    print("breaker_smp3: %s: got %ld, want %ld%s\n", what, got, want, got == want ? "" : "  <-- FAILED");
    if (got != want) __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
}

void spin(uint64_t ticks) {
    const uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < ticks) asm volatile("pause");
}

// ---- ticker ----
volatile uint64_t counters[4];

[[noreturn]] void count(unsigned index, void*) {
    for (;;) counters[index] = counters[index] + 1;
}

int ticker(const Args& args) {
    const uint64_t lines = args.u64("lines", 1000000);
    for (unsigned i = 1; i < vcpu_count(); ++i)
        if (start_vcpu(i, count, nullptr)) return 2;
    uint64_t next = rdtsc() + tsc_hz / 4;
    for (uint64_t line = 0; line < lines;) {
        counters[0] = counters[0] + 1;
        if (rdtsc() < next) continue;
        next = rdtsc() + tsc_hz / 4;
        print("ticker: line %lu counters %lu %lu %lu %lu\n", line, counters[0], counters[1], counters[2], counters[3]);
        ++line;
    }
    return 0;
}

// ---- lateset ----
alignas(4096) hv_guest_state rec[4];

int64_t create(const char* spec) {
    size_t n = 0;
    while (spec[n]) ++n;
    int64_t r = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    print("breaker_smp3: create '%s': %ld\n", spec, r);
    return r;
}

int lateset(const Args& args) {
    static char spec[160];
    static char tcpus[16] = "0-0";
    args.str("tcpus", tcpus, sizeof tcpus);
    const uint64_t tv = args.u64("tv", 2);
    hv::format(spec, sizeof spec, "tick:image=breaker_smp3,mode=ticker,vcpus=%lu,cpus=%s,mem=16,expect=stopped", tv,
               tcpus);
    const int64_t t = create(spec);
    if (t < 0) return 2;
    spin(tsc_hz);  // the ticker runs, both vCPUs counting
    check("pause", pause_guest(uint64_t(t)), 0);
    for (unsigned i = 0; i < tv; ++i)
        check("get_state", hypercall(HV_HC_GET_STATE, uint64_t(t), reinterpret_cast<uint64_t>(&rec[i]), sizeof rec[i], i),
              sizeof rec[i]);
    // A plain resume (no records): the guest is no longer paused...
    check("resume", hypercall(HV_HC_RESUME, uint64_t(t)), 0);
    // ...but its vCPUs share this CPU, so none has unparked yet: the SET of
    // one vCPU's record, which the docs refuse (-EBUSY) once not paused, and
    // RESUME would refuse as "records for some vCPUs only".
    hv_guest_state& r1 = rec[tv - 1];
    r1.vcpu.activity = HV_ACTIVITY_WAIT_START;  // vCPU 1 back to "not started"
    check("set_state of one vCPU after the resume", hypercall(HV_HC_SET_STATE, uint64_t(t), reinterpret_cast<uint64_t>(&r1), sizeof r1),
          -HV_EBUSY);
    spin(tsc_hz);  // the ticker's vCPUs get the CPU, unpark and import
    print("breaker_smp3: the ticker ran on for 1 s: does vCPU %lu still count?\n", tv - 1);
    // A plain pause and resume, as a liveness probe does.
    check("pause again", pause_guest(uint64_t(t)), 0);
    int64_t r = 0;
    for (unsigned k = 0; k < 5; ++k) {
        r = hypercall(HV_HC_RESUME, uint64_t(t));
        if (r == 0) break;
        spin(tsc_hz / 10);
    }
    check("plain resume after a plain pause (5 tries)", r, 0);
    spin(tsc_hz / 2);
    check("stop ticker", hypercall(HV_HC_STOP_GUEST, uint64_t(t)), 0);
    print("breaker_smp3: lateset: %u failures\n", failures);
    return failures ? 1 : 0;
}

// ---- latescribble ----
// vCPU 0 scribbles its 2 MiB at 4 MiB; vCPU i (1..) is started `stagger`
// TSC ticks after vCPU i-1 and scribbles 4 MiB + i * 2 MiB, so that vCPUs
// start while a control guest harvests the dirty log (breaker_smp2 live).
uint64_t stagger;
[[noreturn]] void scribble_on(unsigned index, void*) {
    volatile uint64_t* p = reinterpret_cast<volatile uint64_t*>((4ull << 20) + index * (2ull << 20));
    const uint64_t t0 = rdtsc();
    unsigned next = index + 1;
    for (uint64_t n = 1;; ++n) {
        for (uint64_t w = 0; w < (2ull << 20) / 8; w += 61) p[w] = n * 8 + index;
        if (index == 0 && next < vcpu_count() && rdtsc() - t0 > stagger * next) {
            start_vcpu(next, scribble_on, nullptr);
            ++next;
        }
    }
}

int latescribble(const Args& args) {
    stagger = args.u64("stagger", tsc_hz / 4);
    scribble_on(0, nullptr);
}

}  // namespace

int guest_main(const Args& args) {
    tsc_hz = args.boot->tsc_hz;
    if (args.is("mode", "ticker")) return ticker(args);
    if (args.is("mode", "lateset")) return lateset(args);
    if (args.is("mode", "latescribble")) return latescribble(args);
    print("breaker_smp3: unknown mode\n");
    return 2;
}
