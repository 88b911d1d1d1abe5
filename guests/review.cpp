// review: the outside review's reproducers in one image, kept as regression tests
// (t= selects the test; one image, since a boot takes few modules).
//   t=create_race | gp_stall | sleep | winrace | winlog | states | hostmap | cr0compat (see each part).
#include "guests/runtime/guest.h"
#include "guests/runtime/trap.h"

using namespace hv::guest;

// breaker_create_race: two control guests. role a: creates a big guest (its
// memory takes long to zero). role b: polls a privileged call on the id the
// new guest will get, while it is being created.
//   args: part=a|b, id=N (the id the created guest gets), call=stats|dirty|region|cap
//         mib=N (size of the created guest)


namespace create_race_ns {
hv_guest_stats st;
uint64_t bitmap[4096];
hv_memory_region reg;
char spec[128];
}  // namespace
using namespace create_race_ns;

int main_create_race(const Args& args) {
    uint64_t id = args.u64("id", 2);
    if (args.is("part", "a")) {
        // wait a little so that b is already polling
        for (int i = 0; i < 200000; ++i) asm volatile("pause");
        const char* s = args.is("mib", "512") ? "big:image=none,mem=512,start=paused,cpu=0,expect=stopped"
                                               : "big:image=none,mem=256,start=paused,cpu=0,expect=stopped";
        uint64_t n = 0;
        while (s[n]) spec[n] = s[n], ++n;
        uint64_t t0 = rdtsc();
        int64_t r = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
        print("breaker-a: create_guest -> %ld after %lu cycles\n", r, rdtsc() - t0);
        if (r >= 0) hypercall(HV_HC_STOP_GUEST, uint64_t(r));
        return 0;
    }
    uint64_t calls = 0;
    int64_t r = -HV_ENOENT;
    for (uint64_t t0 = rdtsc(); rdtsc() - t0 < (1ull << 34);) {
        ++calls;
        if (args.is("call", "dirty"))
            r = hypercall(HV_HC_GET_DIRTY_LOG, id, 0, reinterpret_cast<uint64_t>(bitmap), sizeof bitmap);
        else if (args.is("call", "region")) {
            reg = {1, 0, 1ull << 32, 2ull << 20};
            r = hypercall(HV_HC_SET_MEMORY_REGION, id, reinterpret_cast<uint64_t>(&reg));
        } else if (args.is("call", "cap"))
            r = hypercall(HV_HC_ENABLE_CAP, id, HV_CAP_MANUAL_DIRTY_LOG_PROTECT2, 1);
        else
            r = hypercall(HV_HC_GUEST_STATS, id, reinterpret_cast<uint64_t>(&st), sizeof st);
        if (r != -HV_ENOENT) break;
    }
    print("breaker-b: after %lu calls the call on id %lu returned %ld\n", calls, id, r);
    return 0;
}

// breaker_gp_stall: two control guests on two CPUs.
// part=a creates a guest of mib= MiB (the hypervisor zeroes its memory in
//   the hypercall: flushes are served meanwhile, quiescent states are not).
// part=b turns dirty logging of guest target= on and off for a while: each
//   "on" waits for a grace period, which needs part a's CPU.


namespace gp_stall_ns {
char gspec[160];
hv_memory_region greg;
}  // namespace
using namespace gp_stall_ns;

int main_gp_stall(const Args& args) {
    if (args.is("part", "a")) {
        uint64_t mib = args.u64("mib", 256);
        const char* pre = "big:image=none,start=paused,cpu=0,expect=stopped,mem=";
        uint64_t n = 0;
        while (pre[n]) gspec[n] = pre[n], ++n;
        char digits[8];
        int d = 0;
        do digits[d++] = char('0' + mib % 10), mib /= 10; while (mib);
        while (d) gspec[n++] = digits[--d];
        uint64_t t0 = rdtsc();
        int64_t r = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(gspec), n);
        print("breaker-a: create_guest -> %ld after %lu TSC cycles\n", r, rdtsc() - t0);
        if (r >= 0) hypercall(HV_HC_STOP_GUEST, uint64_t(r));
        return 0;
    }
    uint64_t target = args.u64("target", 2), mib = args.u64("tmib", 2);
    uint64_t toggles = 0;
    // Let part a get into its hypercall first.
    for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 20000000;) asm volatile("pause");
    for (uint64_t t0 = rdtsc(); rdtsc() - t0 < (1ull << 29); ++toggles) {
        greg = {0, uint32_t(toggles % 2 ? 0 : HV_MEM_LOG_DIRTY_PAGES), 0, mib << 20};
        int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&greg));
        if (r) {
            print("breaker-b: toggle %lu -> %ld\n", toggles, r);
            break;
        }
    }
    print("breaker-b: %lu logging toggles done\n", toggles);
    hypercall(HV_HC_STOP_GUEST, target);
    return 0;
}

// breaker_sleep: a guest that tries to take its CPU out of the hypervisor's
// reach without HLT: mode=mwait (CLI; MONITOR; MWAIT with ECX=0 in a loop),
// mode=mwait_if (same, interrupts on), mode=cli (CLI; endless loop),
// mode=pause_ctl: a control guest that pauses guest target= N times and
// reports the longest pause, then stops target and bystander= .


namespace sleep_ns {
volatile uint64_t monitored[8];
}
using namespace sleep_ns;

int main_sleep(const Args& args) {
    if (args.is("mode", "pause_ctl")) {
        uint64_t target = args.u64("target", 0), n = args.u64("n", 4), worst = 0;
        for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 50000000;) asm volatile("pause");
        for (uint64_t i = 0; i < n; ++i) {
            uint64_t t0 = rdtsc();
            int64_t r = pause_guest(target);
            uint64_t dt = rdtsc() - t0;
            if (dt > worst) worst = dt;
            print("breaker-ctl: pause #%lu -> %ld in %lu cycles\n", i, r, dt);
            hypercall(HV_HC_RESUME, target);
            for (uint64_t t1 = rdtsc(); rdtsc() - t1 < 5000000;) asm volatile("pause");
        }
        print("breaker-ctl: longest pause %lu cycles\n", worst);
        hypercall(HV_HC_STOP_GUEST, target);
        return 0;
    }
    print("breaker-sleep: going to sleep\n");
    if (args.is("mode", "cli")) {
        asm volatile("cli");
        for (;;) asm volatile("" ::: "memory");
    }
    bool if_on = args.is("mode", "mwait_if");
    if (if_on) asm volatile("sti"); else asm volatile("cli");
    for (;;) {
        asm volatile("monitor" ::"a"(&monitored[0]), "c"(0), "d"(0));
        asm volatile("mwait" ::"a"(0), "c"(0));
    }
}


// t=winrace: HV_HC_MAP_GUEST changes the caller's own memslots
// (Vm::add_window -> Mmu::set_memory_region) without the caller's slots
// lock, while another control guest may change the caller's slots through
// HV_HC_SET_MEMORY_REGION under that lock. part=a (the caller) maps guest
// target= 4 times; part=b toggles dirty logging of part a's slot 0 (mib=)
// until part a says it is done (read through a window of b's own).
namespace winrace_ns {
volatile uint64_t a_done;
hv_memory_region wreg;
}  // namespace winrace_ns

int main_winrace(const Args& args) {
    using namespace winrace_ns;
    if (args.is("part", "a")) {
        uint64_t target = args.u64("target", 2);
        for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 30000000;) asm volatile("pause");
        int64_t sz = 0;
        for (uint64_t i = 0; i < HV_MAP_MAX && !args.is("nomap", "1"); ++i) {
            int64_t r = hypercall(HV_HC_MAP_GUEST, target, (1ull << 30) + (i << 28), 0);
            print("breaker-a: map_guest #%lu -> %ld\n", i, r);
            if (r > 0) sz = r;
        }
        // Touch every window: a window slot lost from the array is an access outside every slot.
        uint64_t sum = 0;
        if (args.is("nomap", "1")) for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 60000000;) asm volatile("pause");
        for (uint64_t i = 0; i < HV_MAP_MAX && !args.is("nomap", "1"); ++i)
            for (uint64_t off = 0; off < uint64_t(sz); off += 2ull << 20)
                sum += *reinterpret_cast<volatile uint64_t*>((1ull << 30) + (i << 28) + off);
        a_done = 1;
        print("breaker-a: every window readable (sum %lu)\n", sum);
        for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 200000000;) asm volatile("pause");
        hypercall(HV_HC_STOP_GUEST, target);
        return 0;
    }
    uint64_t a = args.u64("a", 0), mib = args.u64("mib", 16);
    bool idle = args.is("idle", "1");
    if (hypercall(HV_HC_MAP_GUEST, a, 1ull << 30, 0) <= 0) return 2;
    volatile uint64_t* done = reinterpret_cast<volatile uint64_t*>((1ull << 30) + reinterpret_cast<uint64_t>(&a_done));
    uint64_t n = 0;
    int64_t r = 0;
    for (; !*done && n < 100000; ++n) {
        if (idle) { asm volatile("pause"); continue; }
        wreg = {0, uint32_t(n % 2 ? 0 : HV_MEM_LOG_DIRTY_PAGES), 0, mib << 20};
        r = hypercall(HV_HC_SET_MEMORY_REGION, a, reinterpret_cast<uint64_t>(&wreg));
        if (r) break;
    }
    wreg = {0, 0, 0, mib << 20};
    int64_t off = hypercall(HV_HC_SET_MEMORY_REGION, a, reinterpret_cast<uint64_t>(&wreg));
    print("breaker-b: %lu toggles of guest %lu's logging (last %ld, final off %ld)\n", n, a, r, off);
    return 0;
}

// t=winlog: a control guest writes into guest target= through a writable
// HV_HC_MAP_GUEST window while the target's slot 0 logs dirty pages, then
// harvests: is the page it wrote reported?
namespace winlog_ns {
hv_memory_region lreg;
uint64_t lbitmap[64];
}  // namespace winlog_ns

int main_winlog(const Args& args) {
    using namespace winlog_ns;
    uint64_t target = args.u64("target", 1), mib = args.u64("mib", 2);
    if (hypercall(HV_HC_MAP_GUEST, target, 1ull << 30, HV_MAP_WRITABLE) <= 0) return 2;
    lreg = {0, HV_MEM_LOG_DIRTY_PAGES, 0, mib << 20};
    int64_t on = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&lreg));
    print("breaker: logging on -> %ld\n", on);
    if (on == -HV_EBUSY) {
        // The contract now: writes through a writable window would bypass
        // the target's log, so logging is refused while one exists.
        print("breaker: logging refused while a writable window exists (-EBUSY)\n");
        hypercall(HV_HC_STOP_GUEST, target);
        return 0;
    }
    print("breaker: harvest 1 -> %ld\n", hypercall(HV_HC_GET_DIRTY_LOG, target, 0, reinterpret_cast<uint64_t>(lbitmap), sizeof lbitmap));
    *reinterpret_cast<volatile uint64_t*>((1ull << 30) + 0x5000) = 0x1234;  // page 5 of the target
    int64_t r = hypercall(HV_HC_GET_DIRTY_LOG, target, 0, reinterpret_cast<uint64_t>(lbitmap), sizeof lbitmap);
    print("breaker: wrote target page 5 through the window; harvest 2 -> %ld, bit 5 = %lu (word 0 = 0x%lx)\n", r,
          (lbitmap[0] >> 5) & 1, lbitmap[0]);
    hypercall(HV_HC_STOP_GUEST, target);
    return (lbitmap[0] >> 5) & 1 ? 0 : 1;
}

// t=states: a control guest creates paused victims (memtest) on cpu=, sets
// one odd vCPU state on each (HV_HC_SET_STATE), resumes it and waits
// until it stops: HV_HC_SET_STATE or VM entry must refuse what they refuse, and only the
// victim may stop. which=LIST of letters picks the states.
namespace states_ns {
hv_guest_state vs;
hv_guest_stats gst;
char vspec[96];
}  // namespace states_ns

int main_states(const Args& args) {
    using namespace states_ns;
    const char* which = "afkpxyz";
    for (const char* a = args.boot->args; *a; ++a)
        if (a[0] == 'w' && a[1] == '=') { which = a + 2; break; }
    uint64_t cpu = args.u64("vcpu", 1);
    for (const char* w = which; *w && *w != ','; ++w) {
        const char* base = "v:image=memtest,mem=2,start=paused,expect=entry_failed,cpu=";
        uint64_t n = 0;
        while (base[n]) vspec[n] = base[n], ++n;
        vspec[n++] = char('0' + cpu);
        int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(vspec), n);
        if (id < 0) { print("states: create -> %ld\n", id); return 2; }
        pause_guest(uint64_t(id));
        int64_t r = hypercall(HV_HC_GET_STATE, id, reinterpret_cast<uint64_t>(&vs), sizeof vs);
        if (r < 0) { print("states: get -> %ld\n", r); return 3; }
        switch (*w) {
        case 'a': vs.vcpu.cr4 |= 1ull << 17; break;                         // PCIDE in a 32-bit guest
        case 'c': vs.vcpu.cr4 |= 1ull << 23; vs.vcpu.cr0 &= ~(1ull << 16); break;  // CET without WP
        case 'f': vs.vcpu.cr4 |= 1ull << 5; vs.vcpu.efer = (1ull << 8) | (1ull << 10); break;  // IA-32e with PG=0
        case 'g': vs.vcpu.cr4 |= 1ull << 5; vs.vcpu.efer = (1ull << 8) | (1ull << 10); vs.vcpu.cr0 |= 1ull << 31;
                  vs.vcpu.cs.access_rights |= 1u << 13; vs.vcpu.cs.access_rights &= ~(1u << 14); break;  // 64-bit, CR3=0
        case 'k': vs.vcpu.cs.access_rights = (vs.vcpu.cs.access_rights & ~0xfu) | 3; break;  // CS a data segment (UG)
        case 'p': vs.vcpu.cr0 &= ~1ull; vs.vcpu.cs.base = 0xf0000; vs.vcpu.cs.selector = 0xf000; vs.vcpu.cs.limit = 0xffff;
                  vs.vcpu.cs.access_rights = 0x9b; vs.vcpu.rip = 0xfff0; break;  // real mode, ROM-like CS
        case 'x': vs.vcpu.rflags |= 1ull << 17; break;                      // virtual-8086
        case 'y': vs.vcpu.cr3 = 1ull << 51; break;                          // CR3 beyond MAXPHYADDR
        case 'z': vs.vcpu.pat = 0x0202020202020202ull; break;               // reserved memory type
        case 'd': vs.vcpu.dr7 = 1ull << 32; break;
        case 'n': vs.vcpu.interruptibility = 8; break;                      // blocking by NMI
        case 's': vs.vcpu.cr4 |= 1ull << 12; break;                         // LA57 outside IA-32e
        }
        r = hypercall(HV_HC_SET_STATE, id, reinterpret_cast<uint64_t>(&vs), sizeof vs);
        int64_t res = hypercall(HV_HC_RESUME, id);
        uint64_t t0 = rdtsc();
        while (hypercall(HV_HC_GUEST_STATS, id, reinterpret_cast<uint64_t>(&gst), sizeof gst) > 0 && rdtsc() - t0 < 400000000)
            for (uint64_t t1 = rdtsc(); rdtsc() - t1 < 2000000;) asm volatile("pause");
        bool stopped = hypercall(HV_HC_GUEST_STATS, id, reinterpret_cast<uint64_t>(&gst), sizeof gst) < 0;
        print("states: %c: set -> %ld, resume -> %ld, victim %ld %s after %lu cycles\n", *w, r, res, id,
              stopped ? "stopped" : "still running", rdtsc() - t0);
        if (!stopped) hypercall(HV_HC_STOP_GUEST, id);
    }
    return 0;
}

// t=hostmap: part=a keeps asking for a guest that cannot be created (mem=
// more than the host has); while each attempt's VM object is in the table,
// part=b asks for a window onto it (HV_HC_MAP_GUEST): its backing is 0
// until the allocation succeeds, so the window maps host-physical 0.
namespace hostmap_ns {
char hspec[96];
volatile uint64_t* const kWin = reinterpret_cast<volatile uint64_t*>(1ull << 30);
}  // namespace hostmap_ns

int main_hostmap(const Args& args) {
    using namespace hostmap_ns;
    uint64_t id = args.u64("id", 2);
    if (args.is("part", "a")) {
        const char* s = "x:image=none,mem=1024,start=paused,cpu=0,expect=stopped";
        uint64_t n = 0;
        while (s[n]) hspec[n] = s[n], ++n;
        uint64_t tries = 0;
        int64_t r = 0;
        for (uint64_t t0 = rdtsc(); rdtsc() - t0 < args.u64("cycles", 1ull << 30); ++tries) {
            r = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(hspec), n);
            if (r >= 0) break;
        }
        print("breaker-a: %lu failed creations (last %ld)\n", tries, r);
        return 0;
    }
    uint64_t calls = 0;
    int64_t r = -HV_ENOENT;
    for (uint64_t t0 = rdtsc(); rdtsc() - t0 < args.u64("cycles", 1ull << 30); ++calls) {
        r = hypercall(HV_HC_MAP_GUEST, id, 1ull << 30, HV_MAP_WRITABLE);
        if (r > 0) break;
    }
    print("breaker-b: map_guest(%lu) -> %ld after %lu calls\n", id, r, calls);
    if (r <= 0) return 0;
    // Look for the hypervisor's own banner in what the window shows.
    const char* needle = "microhypervisor";
    const volatile char* c = reinterpret_cast<const volatile char*>(kWin);
    for (uint64_t off = 0; off < (16ull << 20); ++off) {
        uint64_t k = 0;
        while (needle[k] && c[off + k] == needle[k]) ++k;
        if (!needle[k]) {
            print("breaker-b: host-physical 0x%lx holds \"microhypervisor\": the window maps host memory\n", off);
            // And it is writable: patch the hypervisor's own "all guests stopped" message (its .rodata).
            const char* msg = "all guests stopped after";
            volatile char* w = reinterpret_cast<volatile char*>(kWin);
            for (uint64_t o = 0x100000; o < (8ull << 20); ++o) {
                uint64_t j = 0;
                while (msg[j] && w[o + j] == msg[j]) ++j;
                if (!msg[j]) {
                    w[o] = 'A'; w[o + 1] = 'L'; w[o + 2] = 'L';
                    print("breaker-b: wrote 'ALL' over the hypervisor's string at host-physical 0x%lx\n", o);
                    break;
                }
            }
            return 0;
        }
    }
    print("breaker-b: window mapped but banner not found; first qword at 1 MiB 0x%lx\n", kWin[0x100000 / 8]);
    return 0;
}

// t=cr0compat: MOV to CR0 from EAX in compatibility mode, with RAX[63:32]
// not zero (what 64-bit code left there). Outside 64-bit mode the operand is
// 32 bits: no #GP is due. Setting CD makes the write exit (host-owned bit).
// t=mapcycle: a control guest maps guest `target` (alternately read-only
// and writable), touches it and unmaps it, n times, while every CPU is busy
// (no idle loop runs the epoch's callbacks); then turns on logging of the
// target's memory. Each unmap's freed bookkeeping must be free again before
// the next map needs memory: the review ran the host out of it after 1936
// cycles (map -> -ENOSPC, logging on -> -ENOMEM).
namespace mapcycle_ns {
hv_memory_region region;
}

int main_mapcycle(const Args& args) {
    using namespace mapcycle_ns;
    const uint64_t target = args.u64("target", 0), n = args.u64("n", 2500);
    constexpr uint64_t kWindow = 1ull << 30;
    uint64_t failed = 0, bytes = 0;
    for (uint64_t i = 0; i < n; ++i) {
        int64_t m = hypercall(HV_HC_MAP_GUEST, target, kWindow, i & 1 ? HV_MAP_WRITABLE : 0);
        if (m <= 0) {
            if (failed++ < 3) print("mapcycle: cycle %lu: map -> %ld\n", i, m);
            continue;
        }
        bytes = uint64_t(m);
        (void)*reinterpret_cast<volatile uint64_t*>(kWindow + 0x2000);
        if (int64_t u = hypercall(HV_HC_UNMAP_GUEST, kWindow); u) {
            print("mapcycle: cycle %lu: unmap -> %ld\n", i, u);
            return 1;
        }
    }
    region = hv_memory_region{0, HV_MEM_LOG_DIRTY_PAGES, 0, bytes};
    int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&region));
    print("mapcycle: %lu map/unmap cycles, %lu maps failed; logging on afterwards -> %ld\n", n, failed, r);
    hypercall(HV_HC_STOP_GUEST, target);
    return failed || r ? 1 : 0;
}

// t=mmioslot: once guest `target` (the mmio guest) uses its MMIO region at
// `base`, the control guest asks for a memory slot of the target over it.
// Refused (-EEXIST): memory there would hide the device, whose accesses
// would go to RAM (the target's checks fail) - an outside review's finding.
namespace mmioslot_ns {
hv_memory_region region;
hv_guest_stats gst;
}

int main_mmioslot(const Args& args) {
    using namespace mmioslot_ns;
    const uint64_t target = args.u64("target", 0), base = args.u64("base", 3ull << 30);
    for (uint64_t t0 = rdtsc();;) {
        if (hypercall(HV_HC_GUEST_STATS, target, reinterpret_cast<uint64_t>(&gst), sizeof gst) < 0) {
            print("mmioslot: the target ended before it used its MMIO region\n");
            return 1;
        }
        if (gst.mmio_emulated) break;
        if (rdtsc() - t0 > (1ull << 34)) return 1;
        asm volatile("pause");
    }
    region = hv_memory_region{1, 0, base, 2ull << 20};
    int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&region));
    print("mmioslot: a slot over the target's MMIO region -> %ld\n", r);
    return r == -HV_EEXIST ? 0 : 1;
}

namespace cr0compat_ns {
uint64_t cgdt[4] = {0, 0x00af9a000000ffffull, 0x00cf92000000ffffull, 0x00cf9a000000ffffull};
struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
} cgdt_desc;
}  // namespace cr0compat_ns

int main_cr0compat(const Args&) {
    using namespace cr0compat_ns;
    install_traps();
    cgdt_desc = {sizeof cgdt - 1, reinterpret_cast<uint64_t>(cgdt)};
    asm volatile("lgdt %0" ::"m"(cgdt_desc));
    const uint64_t cd = 1ull << 30;
    uint64_t results[2];
    for (int hi = 0; hi < 2; ++hi) {
        uint64_t v = (hi ? 0xdead000000000000ull : 0) | (read_cr0() | cd);
        hv_trap_vector = -1;
        asm volatile(
            "leaq 2f(%%rip), %%r11\n\t"
            "movq %%r11, hv_trap_fixup(%%rip)\n\t"
            "pushq $0x18\n\t"
            "leaq 1f(%%rip), %%r11\n\t"
            "pushq %%r11\n\t"
            "lretq\n"
            ".code32\n"
            "1:\tmovl %%eax, %%cr0\n"
            "2:\tpushl $0x08\n\t"
            "pushl $3f\n\t"
            "lretl\n"
            ".code64\n"
            "3:\tmovq $0, hv_trap_fixup(%%rip)\n" ::"a"(v)
            : "r11", "memory");
        results[hi] = uint64_t(hv_trap_vector);
        bool cd_set = read_cr0() & cd;
        print("breaker: compat-mode MOV CR0, EAX (RAX[63:32]=0x%lx): vector %ld, CR0.CD now %d\n", v >> 32,
              int64_t(results[hi]), cd_set);
        try_write_cr0(read_cr0() & ~cd);
    }
    return results[1] == uint64_t(-1) ? 0 : 1;
}

int guest_main(const Args& args) {
    if (args.is("t", "spin")) {
        // A CPU hog: interrupts off, no exit of its own, for cycles= TSC
        // cycles; only the preemption timer takes its CPU away.
        const uint64_t t0 = rdtsc(), n = args.u64("cycles", 450000000);
        asm volatile("cli");
        while (rdtsc() - t0 < n) asm volatile("pause");
        asm volatile("sti");
        print("breaker: spun %lu cycles\n", n);
        return 0;
    }
    if (args.is("t", "mapcycle")) return main_mapcycle(args);
    if (args.is("t", "mmioslot")) return main_mmioslot(args);
    if (args.is("t", "create_race")) return main_create_race(args);
    if (args.is("t", "gp_stall")) return main_gp_stall(args);
    if (args.is("t", "sleep")) return main_sleep(args);
    if (args.is("t", "winrace")) return main_winrace(args);
    if (args.is("t", "winlog")) return main_winlog(args);
    if (args.is("t", "states")) return main_states(args);
    if (args.is("t", "hostmap")) return main_hostmap(args);
    if (args.is("t", "cr0compat")) return main_cr0compat(args);
    print("breaker: unknown t=\n");
    return 9;
}
