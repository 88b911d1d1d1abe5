// badctl: the control guest's side of guest input being hostile. Calls every
// privileged hypercall with bad arguments against a paused victim (and with
// ids that name nothing) and checks each errno (docs/hypercalls.md,
// "Errors"); then the good forms, so that the refusals provably changed
// nothing. Stops the victim, checks that a stopped guest is refused too, and
// exits 0 when every check held.
//   args: victim=ID (default 0), self=ID (its own id, default 1)
//         resume=1: after the refused vCPU states, resume the victim (then a
//         dirtier), see it make progress and pause it again: a state the
//         hypervisor accepted must never take the victim's CPU out of its reach
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

unsigned checks, failures;

void expect(const char* what, int64_t got, int64_t want) {
    ++checks;
    if (got == want) return;
    ++failures;
    print("badctl: FAILED %s: got %ld, want %ld\n", what, got, want);
}

template <class T>
uint64_t gpa(const T& x) {
    return reinterpret_cast<uint64_t>(&x);
}

hv_memory_region region;
hv_clear_dirty_log clear;
hv_guest_state state;
hv_guest_stats stats;
uint64_t bitmap[64];

int64_t set_region(uint64_t id, uint32_t slot, uint32_t flags, uint64_t at, uint64_t size) {
    region = hv_memory_region{slot, flags, at, size};
    return hypercall(HV_HC_SET_MEMORY_REGION, id, gpa(region));
}

int64_t create(const char* spec) {
    uint64_t n = 0;
    while (spec[n]) ++n;
    return hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
}

// A bound on waiting for the victim, in TSC cycles: far beyond what a healthy
// CPU needs (Bochs' TSC runs at about 50 MHz), short of the harness watchdog.
constexpr uint64_t kPatience = 1ull << 31;

// HV_HC_PAUSE until it says something other than -EAGAIN, or kPatience.
int64_t pause_bounded(uint64_t id) {
    int64_t r = -HV_EAGAIN;
    for (uint64_t t0 = rdtsc(); r == -HV_EAGAIN && rdtsc() - t0 < kPatience;) r = hypercall(HV_HC_PAUSE, id);
    return r;
}

// Interruptibility state and activity state (Intel SDM Vol. 3C, 25.4.2) and
// the RFLAGS bits that VM entry checks them against (27.3.1.5).
constexpr uint32_t kBlockingBySti = 1u << 0, kBlockingByMovSs = 1u << 1, kBlockingBySmi = 1u << 2,
                   kBlockingByNmi = 1u << 3, kEnclaveInterruption = 1u << 4;
constexpr uint32_t kActive = 0, kHlt = 1, kShutdown = 2, kWaitForSipi = 3;
constexpr uint64_t kRflagsTf = 1ull << 8, kRflagsIf = 1ull << 9;

int64_t set_state(uint64_t id, const hv_guest_state& s) {
    state = s;
    return hypercall(HV_HC_SET_STATE, id, gpa(state), sizeof state);
}

// Only states the hypervisor can always take back are accepted: a vCPU in
// HLT, shutdown or wait-for-SIPI takes neither the preemption timer nor the
// kick, and an interruptibility state that VM entry refuses would stop the
// victim. The refused one last: if it were accepted, the resume applies it.
void state_checks(uint64_t v, const hv_guest_state& good) {
    hv_guest_state s = good;
    expect("set_state: as it was", set_state(v, s), 0);
    s.vcpu.interruptibility = kBlockingByMovSs;
    expect("set_state: blocking by MOV SS", set_state(v, s), 0);
    s.vcpu.interruptibility = kBlockingByNmi;
    expect("set_state: blocking by NMI", set_state(v, s), 0);
    s.vcpu.rflags = good.vcpu.rflags | kRflagsIf, s.vcpu.interruptibility = kBlockingBySti;
    expect("set_state: blocking by STI with IF=1", set_state(v, s), 0);

    s = good, s.vcpu.rflags = good.vcpu.rflags & ~kRflagsIf, s.vcpu.interruptibility = kBlockingBySti;
    expect("set_state: blocking by STI with IF=0", set_state(v, s), -HV_EINVAL);
    s.vcpu.rflags = good.vcpu.rflags | kRflagsIf, s.vcpu.interruptibility = kBlockingBySti | kBlockingByMovSs;
    expect("set_state: blocking by STI and by MOV SS", set_state(v, s), -HV_EINVAL);
    s.vcpu.rflags = good.vcpu.rflags | kRflagsIf | kRflagsTf, s.vcpu.interruptibility = kBlockingBySti;
    expect("set_state: blocking by STI with TF=1", set_state(v, s), -HV_EINVAL);
    s.vcpu.rflags = good.vcpu.rflags | kRflagsTf, s.vcpu.interruptibility = kBlockingByMovSs;
    expect("set_state: blocking by MOV SS with TF=1", set_state(v, s), -HV_EINVAL);
    struct Bad {
        uint32_t value;
        const char* what;
    };
    const Bad bad_bits[] = {{kBlockingBySmi, "set_state: blocking by SMI outside SMM"},
                            {kEnclaveInterruption, "set_state: enclave interruption"},
                            {1u << 5, "set_state: interruptibility bit 5"},
                            {1u << 31, "set_state: interruptibility bit 31"}};
    for (const Bad& b : bad_bits) {
        s = good, s.vcpu.interruptibility = b.value;
        expect(b.what, set_state(v, s), -HV_EINVAL);
    }
    const Bad bad_activities[] = {{kHlt, "set_state: activity HLT"},
                                  {kShutdown, "set_state: activity shutdown"},
                                  {4, "set_state: activity 4"},
                                  {~0u, "set_state: activity ~0"},
                                  {kWaitForSipi, "set_state: activity wait-for-SIPI"}};
    for (const Bad& b : bad_activities) {
        s = good, s.vcpu.activity = b.value;
        expect(b.what, set_state(v, s), -HV_EINVAL);
    }
}

// The record as a whole: its header, the registers the hypervisor loads
// itself (a bad one would be its own #GP), the event in flight and the
// XSAVE area XRSTOR takes. Each is refused, and the victim goes on
// (resume_and_pause, or the end of the run) with the state it had.
void record_checks(uint64_t v, const hv_guest_state& good) {
    struct Case {
        const char* what;
        void (*spoil)(hv_guest_state&);
    };
    static const Case cases[] = {
        {"set_state: magic", [](hv_guest_state& s) { s.magic ^= 1; }},
        {"set_state: version", [](hv_guest_state& s) { s.version = HV_STATE_VERSION + 1; }},
        {"set_state: size field", [](hv_guest_state& s) { s.size -= 8; }},
        {"set_state: unknown flag", [](hv_guest_state& s) { s.flags |= 2; }},
        {"set_state: LSTAR not canonical", [](hv_guest_state& s) { s.vcpu.lstar = 1ull << 62; }},
        {"set_state: KERNEL_GS_BASE not canonical", [](hv_guest_state& s) { s.vcpu.kernel_gs_base = 1ull << 63; }},
        {"set_state: DR6 bits 63:32", [](hv_guest_state& s) { s.vcpu.dr6 |= 1ull << 40; }},
        {"set_state: CR8 above 15", [](hv_guest_state& s) { s.vcpu.cr8 = 16; }},
        {"set_state: PAT memory type 2", [](hv_guest_state& s) { s.vcpu.pat = 2; }},
        {"set_state: XCR0 without x87", [](hv_guest_state& s) { s.vcpu.xcr0 = 2; }},
        {"set_state: XSTATE_BV beyond the CPU", [](hv_guest_state& s) { s.xsave[512 + 7] = 0x80; }},
        {"set_state: XCOMP_BV set", [](hv_guest_state& s) { s.xsave[512 + 15] = 0x80; }},
        {"set_state: MXCSR reserved bit", [](hv_guest_state& s) { s.xsave[24 + 3] = 0x80; }},
        {"set_state: xsave_bytes", [](hv_guest_state& s) { s.xsave_bytes = 8; }},
        {"set_state: pending event of a reserved type", [](hv_guest_state& s) { s.vcpu.pending_event = (1u << 31) | (1u << 8); }},
        {"set_state: pending #GP without its error code", [](hv_guest_state& s) { s.vcpu.pending_event = (1u << 31) | (3u << 8) | 13; }},
        {"set_state: pending interrupt with IF clear", [](hv_guest_state& s) {
             s.vcpu.rflags &= ~kRflagsIf, s.vcpu.pending_event = (1u << 31) | 0x30;
         }},
        {"set_state: platform devices without the flag", [](hv_guest_state& s) { reinterpret_cast<uint8_t*>(&s.platform)[0] = 1; }},
        {"set_state: TSC_AUX", [](hv_guest_state& s) { s.vcpu.tsc_aux = 1; }},
    };
    for (const Case& c : cases) {
        state = good;
        c.spoil(state);
        expect(c.what, hypercall(HV_HC_SET_STATE, v, gpa(state), sizeof state), -HV_EINVAL);
    }
    state = good;
    expect("set_state: size argument", hypercall(HV_HC_SET_STATE, v, gpa(state), sizeof state + 8), -HV_EINVAL);
    expect("unmap_guest: no window there", hypercall(HV_HC_UNMAP_GUEST, 3ull << 30), -HV_ENOENT);
}

// Resumes the victim (a dirtier) and sees it make progress through the
// window at `window`, then pauses it again: its CPU answered.
void resume_and_pause(uint64_t v, uint64_t window) {
    auto* progress = reinterpret_cast<volatile hv_dirtier_progress*>(window + HV_DIRTIER_PROGRESS_GPA);
    uint64_t before = progress->passes;
    expect("resume", hypercall(HV_HC_RESUME, v), 0);
    uint64_t t0 = rdtsc();
    while (progress->passes < before + 2 && rdtsc() - t0 < kPatience) asm volatile("pause");
    uint64_t ran = progress->passes - before;
    if (ran < 2) {
        ++checks, ++failures;
        print("badctl: FAILED the victim made %lu passes in %lu TSC cycles after its resume\n", ran, kPatience);
    } else {
        ++checks;
    }
    expect("pause after the resume", pause_bounded(v), 0);
    print("badctl: the victim ran %lu passes after its resume, then paused\n", progress->passes - before);
    expect("get_state after the resume", hypercall(HV_HC_GET_STATE, v, gpa(state), sizeof state),
           sizeof state);
    expect("activity state after the resume", state.vcpu.activity, kActive);
}

}  // namespace

int guest_main(const Args& args) {
    const uint64_t v = args.u64("victim", 0), self = args.u64("self", 1);
    const uint64_t mem = args.boot->mem_bytes, outside = mem + 4096;

    // Ids that name no guest, or the caller.
    const uint64_t bad_ids[] = {self, 99, ~0ull, 1ull << 32};
    for (uint64_t id : bad_ids) {
        expect("pause: bad id", hypercall(HV_HC_PAUSE, id), -HV_ENOENT);
        expect("guest_stats: bad id", hypercall(HV_HC_GUEST_STATS, id, gpa(stats), sizeof stats), -HV_ENOENT);
    }

    expect("get_state: size too small", hypercall(HV_HC_GET_STATE, v, gpa(state), sizeof state - 8),
           -HV_EINVAL);
    expect("get_state: buffer outside", hypercall(HV_HC_GET_STATE, v, outside, sizeof state), -HV_EFAULT);
    expect("get_state", hypercall(HV_HC_GET_STATE, v, gpa(state), sizeof state), sizeof state);
    hv_guest_state good = state;
    state_checks(v, good);
    if (args.u64("resume", 0)) {
        expect("map_guest for the progress", hypercall(HV_HC_MAP_GUEST, v, 1ull << 30, 0), int64_t(16) << 20);
        resume_and_pause(v, 1ull << 30);
        expect("get_state", hypercall(HV_HC_GET_STATE, v, gpa(state), sizeof state), sizeof state);
        good = state;
    }
    expect("set_state: as it was", set_state(v, good), 0);
    state.vcpu.cr4 |= 1ull << 13;  // VMXE: VMX is not offered to guests
    expect("set_state: CR4.VMXE", hypercall(HV_HC_SET_STATE, v, gpa(state), sizeof state),
           -HV_EINVAL);
    state = good, state.vcpu.rflags = 0;
    expect("set_state: RFLAGS bit 1 clear", hypercall(HV_HC_SET_STATE, v, gpa(state), sizeof state),
           -HV_EINVAL);
    state = good, state.vcpu.efer = 1ull << 9;
    expect("set_state: EFER reserved bit", hypercall(HV_HC_SET_STATE, v, gpa(state), sizeof state),
           -HV_EINVAL);
    expect("set_state: buffer outside", hypercall(HV_HC_SET_STATE, v, outside, sizeof state), -HV_EFAULT);
    record_checks(v, good);

    expect("map_guest: unaligned", hypercall(HV_HC_MAP_GUEST, v, (1ull << 30) + 4096, 0), -HV_EINVAL);
    expect("map_guest: inside own memory", hypercall(HV_HC_MAP_GUEST, v, 0, 0), -HV_EINVAL);
    expect("map_guest: beyond 2^39", hypercall(HV_HC_MAP_GUEST, v, 1ull << 39, 0), -HV_EINVAL);
    expect("map_guest: unknown flags", hypercall(HV_HC_MAP_GUEST, v, 1ull << 30, 2), -HV_EINVAL);
    expect("map_guest: bad id", hypercall(HV_HC_MAP_GUEST, 99, 1ull << 30, 0), -HV_ENOENT);
    for (uint64_t i = args.u64("resume", 0) ? 2 : 1; i <= HV_MAP_MAX; ++i)
        expect("map_guest", hypercall(HV_HC_MAP_GUEST, v, i << 30, 0), int64_t(16) << 20);
    expect("map_guest: overlap", hypercall(HV_HC_MAP_GUEST, v, (1ull << 30) + (2ull << 20), 0), -HV_EEXIST);
    expect("map_guest: one too many", hypercall(HV_HC_MAP_GUEST, v, 8ull << 30, 0), -HV_ENOSPC);

    expect("set_memory_region: struct outside", hypercall(HV_HC_SET_MEMORY_REGION, v, outside), -HV_EFAULT);
    expect("set_memory_region: slot 16", set_region(v, HV_MAX_SLOTS, 0, 1ull << 30, 2ull << 20), -HV_EINVAL);
    expect("set_memory_region: unknown flag", set_region(v, 1, 4, 1ull << 30, 2ull << 20), -HV_EINVAL);
    expect("set_memory_region: unaligned", set_region(v, 1, 0, (1ull << 30) + 8, 2ull << 20), -HV_EINVAL);
    expect("set_memory_region: too big", set_region(v, 1, 0, 1ull << 30, HV_MAX_SLOT_BYTES * 2), -HV_EINVAL);
    expect("set_memory_region: move slot 0", set_region(v, 0, 0, 1ull << 30, 16ull << 20), -HV_EINVAL);
    expect("set_memory_region: resize slot 0", set_region(v, 0, 0, 0, 32ull << 20), -HV_EINVAL);
    expect("set_memory_region: overlap slot 0", set_region(v, 1, 0, 8ull << 20, 2ull << 20), -HV_EEXIST);
    expect("set_memory_region: delete absent", set_region(v, 2, 0, 1ull << 30, 0), -HV_EINVAL);
    expect("set_memory_region: create", set_region(v, 1, 0, 1ull << 30, 2ull << 20), 0);
    expect("set_memory_region: resize", set_region(v, 1, 0, 1ull << 30, 4ull << 20), -HV_EINVAL);
    expect("set_memory_region: READONLY change", set_region(v, 1, HV_MEM_READONLY, 1ull << 30, 2ull << 20),
           -HV_EINVAL);
    expect("set_memory_region: delete", set_region(v, 1, 0, 1ull << 30, 0), 0);

    expect("get_dirty_log: not logging", hypercall(HV_HC_GET_DIRTY_LOG, v, 0, gpa(bitmap), sizeof bitmap),
           -HV_ENOENT);
    expect("get_dirty_log: slot 99", hypercall(HV_HC_GET_DIRTY_LOG, v, 99, gpa(bitmap), sizeof bitmap), -HV_EINVAL);
    expect("get_dirty_log: odd size", hypercall(HV_HC_GET_DIRTY_LOG, v, 0, gpa(bitmap), 7), -HV_EINVAL);
    expect("get_dirty_log: bitmap outside", hypercall(HV_HC_GET_DIRTY_LOG, v, 0, outside, sizeof bitmap),
           -HV_EFAULT);
    expect("enable_cap: unknown cap", hypercall(HV_HC_ENABLE_CAP, v, 1, HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE), -HV_EINVAL);
    expect("enable_cap: unknown flags", hypercall(HV_HC_ENABLE_CAP, v, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, 4), -HV_EINVAL);
    expect("enable_cap: initially-set alone",
           hypercall(HV_HC_ENABLE_CAP, v, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, HV_DIRTY_LOG_INITIALLY_SET), -HV_EINVAL);
    expect("set_memory_region: logging on", set_region(v, 0, HV_MEM_LOG_DIRTY_PAGES, 0, 16ull << 20), 0);
    expect("enable_cap: while a slot logs",
           hypercall(HV_HC_ENABLE_CAP, v, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE),
           -HV_EBUSY);
    expect("get_dirty_log: bitmap too small", hypercall(HV_HC_GET_DIRTY_LOG, v, 0, gpa(bitmap), 8), -HV_EFAULT);
    expect("get_dirty_log", hypercall(HV_HC_GET_DIRTY_LOG, v, 0, gpa(bitmap), sizeof bitmap), 0);
    clear = hv_clear_dirty_log{0, 0, 0, 64, gpa(bitmap)};
    expect("clear_dirty_log: not manual", hypercall(HV_HC_CLEAR_DIRTY_LOG, v, gpa(clear)), -HV_EINVAL);
    clear.reserved = 1;
    expect("clear_dirty_log: reserved", hypercall(HV_HC_CLEAR_DIRTY_LOG, v, gpa(clear)), -HV_EINVAL);
    expect("clear_dirty_log: struct outside", hypercall(HV_HC_CLEAR_DIRTY_LOG, v, outside), -HV_EFAULT);

    expect("create_guest: empty", hypercall(HV_HC_CREATE_GUEST, gpa(bitmap), 0), -HV_EINVAL);
    expect("create_guest: too long", hypercall(HV_HC_CREATE_GUEST, gpa(bitmap), HV_CREATE_SPEC_MAX + 1),
           -HV_EINVAL);
    expect("create_guest: outside", hypercall(HV_HC_CREATE_GUEST, outside, 8), -HV_EFAULT);
    expect("create_guest: bad mem", create("x:mem=3"), -HV_EINVAL);
    expect("create_guest: a second control guest", create("x:role=control"), -HV_EPERM);
    expect("create_guest: no such image", create("x:image=nosuch"), -HV_ENOENT);
    expect("create_guest: CPU offline", create("x:image=none,cpu=15"), -HV_EINVAL);
    // Its start line must not appear: no such guest ever started (the test rejects the line).
    expect("create_guest: no memory", create("toobig:image=none,start=paused,mem=1024"), -HV_ENOSPC);

    expect("guest_stats: size too small", hypercall(HV_HC_GUEST_STATS, v, gpa(stats), sizeof stats - 8), -HV_EINVAL);
    expect("guest_stats", hypercall(HV_HC_GUEST_STATS, v, gpa(stats), sizeof stats), sizeof stats);
    expect("stop_guest", hypercall(HV_HC_STOP_GUEST, v), 0);

    // Stopped (its CPU does it at its next round: pause says -ENOENT then),
    // the victim is refused by every call that names it.
    int64_t r = 0;
    for (uint64_t t0 = rdtsc(); (r == 0 || r == -HV_EAGAIN) && rdtsc() - t0 < kPatience;)
        r = hypercall(HV_HC_PAUSE, v);
    expect("pause: stopped", r, -HV_ENOENT);
    expect("map_guest: stopped", hypercall(HV_HC_MAP_GUEST, v, 8ull << 30, 0), -HV_ENOENT);
    expect("guest_stats: stopped", hypercall(HV_HC_GUEST_STATS, v, gpa(stats), sizeof stats), -HV_ENOENT);
    expect("resume: stopped", hypercall(HV_HC_RESUME, v), -HV_ENOENT);
    expect("get_state: stopped", hypercall(HV_HC_GET_STATE, v, gpa(state), sizeof state), -HV_ENOENT);

    print("badctl: %u checks, %u failed\n", checks, failures);
    return failures ? 1 : 0;
}
