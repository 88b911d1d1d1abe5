// isolation: the registers that VM entry and exit do not switch are still a
// guest's own. Two of these guests on one CPU (time-sliced) each check that
// those registers hold their reset values at start, set them to values of
// their own (from mark=), wait until the other guest has run, and check that
// theirs are intact: the x87 control word, MXCSR, XMM0-15 (and YMM0-15's
// upper halves when the CPU offers AVX), DR0-3, DR6, DR7, CR2, CR8, CR0.CD/NW,
// KERNEL_GS_BASE (read with RDMSR and through SWAPGS), STAR, LSTAR, CSTAR
// and SFMASK.
//
// With migrate=N it is a migration's source instead (the state record
// carries every one of those registers): after setting them it runs N
// passes of `wait` cycles each, publishing them as the dirtier does
// (struct hv_dirtier_progress), so that the migrator moves it in the middle,
// and the copy that finishes the passes (the destination) checks them.
//
// With kick=1 this is the control guest, on another CPU: it shows that
// a guest's MOV to CR8 leaves the host's interrupt priority alone. It waits
// until guest `target` has written CR8 (cr8=15 there blocks every interrupt
// if it reaches the local APIC's TPR) and guest `other` has finished, then
// pauses and resumes `target` `pauses` times; each request kicks target's
// CPU, so each pause must take effect well within a time slice (`limit`).
// Then it releases `target` (hold=1), which checks its registers and ends.
//   args: mark=N (1-15), cr8=N (write N to CR8; default: leave it),
//         hold=1 (wait for the kicker's release), avx=0 (skip YMM), wait=CYCLES,
//         migrate=N (N passes of wait cycles, default 2^20, for the migrator)
//         kick=1 (the kicker; role=control): target=ID, other=ID, pauses=N (default 8),
//         limit=CYCLES (default 2^20)
#include "guests/runtime/guest.h"
#include "guests/runtime/trap.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

// Where each probe publishes its progress, in its own memory, for the
// kicker to read through a window (HV_HC_MAP_GUEST).
constexpr uint64_t kStatusGpa = 0x3000;
constexpr uint64_t kStatusMagic = 0x4e4f4954414c4f53ull;  // "SOLATION"
enum Phase : uint64_t { kSet = 1, kReleased = 2, kDone = 3 };
struct Status {
    uint64_t magic, phase;
};
volatile Status* status_at(uint64_t base) { return reinterpret_cast<volatile Status*>(base + kStatusGpa); }

constexpr uint32_t kIa32GsBase = 0xc0000101, kIa32KernelGsBase = 0xc0000102;
constexpr uint32_t kIa32Star = 0xc0000081, kIa32Lstar = 0xc0000082, kIa32Cstar = 0xc0000083,
                   kIa32Fmask = 0xc0000084;
constexpr uint64_t kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10, kCr4Fsgsbase = 1ull << 16,
                   kCr4Osxsave = 1ull << 18;
constexpr uint64_t kXcr0X87 = 1, kXcr0Sse = 2, kXcr0Avx = 4;
constexpr uint64_t kCr0Nw = 1ull << 29, kCr0Cd = 1ull << 30;
// A time slice is 2^22 TSC ticks (kernel/scheduler.h): a pause this long in
// a spin loop means another guest had the CPU.
constexpr uint64_t kGap = 1ull << 20;

// Every register checked, as 64-bit values.
enum Reg : unsigned {
    FCW, MXCSR, DR0, DR1, DR2, DR3, DR6, DR7, CR2, CR8, CR0_CACHE,
    KGS, KGS_SWAPGS, STAR, LSTAR, CSTAR, SFMASK,
    XMM,                // XMM0 low, XMM0 high, XMM1 low, ...
    YMM_HI = XMM + 32,  // YMM0[255:128] low, high, ...
    kRegs = YMM_HI + 32,
};
constexpr unsigned kLegacyRegs = YMM_HI;

const char* const kNames[] = {"x87 FCW", "MXCSR", "DR0", "DR1", "DR2", "DR3", "DR6", "DR7", "CR2", "CR8", "CR0.CD|NW",
                              "KERNEL_GS_BASE", "KERNEL_GS_BASE (SWAPGS)", "STAR", "LSTAR", "CSTAR", "SFMASK"};

struct Regs {
    uint64_t v[kRegs];
    bool faulted[kRegs];
};

bool fsgsbase;  // read GS base with RDGSBASE, else with RDMSR

struct Cpuid {
    uint32_t eax, ebx, ecx, edx;
};
Cpuid cpuid(uint32_t leaf) {
    Cpuid r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(0));
    return r;
}

uint64_t xmm_value(uint64_t mark, unsigned i) { return mark << 56 | uint64_t(i) << 48 | 0xa5a5a5a50000ull | i; }

// The reset values (mark 0) or mark's own.
void expected(uint64_t mark, uint64_t cr8, Regs& r) {
    r = Regs{};
    r.v[FCW] = mark == 0 ? 0x37f : mark & 1 ? 0x27f : 0x07f;  // precision control
    r.v[MXCSR] = 0x1f80 | (mark & 3) << 13;                    // rounding control
    for (unsigned i = 0; i < 4; ++i) r.v[DR0 + i] = mark ? 0xdead0000 + mark * 0x100 + i * 8 : 0;
    r.v[DR6] = 0xffff0ff0 | (mark & 0xf);  // B0-B3
    r.v[DR7] = mark ? 0x400 | (mark & 1 ? 0x100 : 0x200) | (mark & 3) << 18 : 0x400;  // LE/GE, LEN0: nothing armed
    r.v[CR2] = mark ? 0x7ff000000abcull + mark * 0x1000 : 0;
    r.v[CR8] = mark && cr8 < 16 ? cr8 : 0;  // 16: left alone
    r.v[CR0_CACHE] = mark == 0 ? 0 : mark & 1 ? kCr0Cd : kCr0Cd | kCr0Nw;  // (NW without CD is a #GP)
    r.v[KGS] = r.v[KGS_SWAPGS] = mark ? 0xffff800000001234ull | mark << 32 : 0;
    r.v[STAR] = mark ? 0x0023001000000000ull | mark : 0;
    r.v[LSTAR] = mark ? 0xffffffff81000000ull + mark * 0x10 : 0;
    r.v[CSTAR] = mark ? 0xffffffff82000000ull + mark * 0x10 : 0;
    r.v[SFMASK] = mark ? 0x47700 | mark : 0;
    for (unsigned i = 0; i < 32; ++i) {
        r.v[XMM + i] = mark ? xmm_value(mark, i) : 0;
        r.v[YMM_HI + i] = mark ? xmm_value(mark, 32 + i) : 0;
    }
}

#define HV_XMM(op, n) op " %%xmm" #n ", " #n "*16(%0)\n\t"
#define HV_XMM_TO(op, n) op " " #n "*16(%0), %%xmm" #n "\n\t"
#define HV_ALL16(m, op) \
    m(op, 0) m(op, 1) m(op, 2) m(op, 3) m(op, 4) m(op, 5) m(op, 6) m(op, 7) m(op, 8) m(op, 9) m(op, 10) m(op, 11) \
        m(op, 12) m(op, 13) m(op, 14) m(op, 15)
#define HV_YMM_HI_OUT(op, n) "vextractf128 $1, %%ymm" #n ", " #n "*16(%0)\n\t"
#define HV_YMM_HI_IN(op, n) "vinsertf128 $1, " #n "*16(%0), %%ymm" #n ", %%ymm" #n "\n\t"
#define HV_DR_OUT(n) asm volatile("mov %%dr" #n ", %0" : "=r"(r.v[DR0 + n]))
#define HV_DR_IN(n) asm volatile("mov %0, %%dr" #n ::"r"(r.v[DR0 + n]))

uint64_t read_gs_base() {
    uint64_t v = 0;
    if (fsgsbase)
        asm volatile("rdgsbase %0" : "=r"(v));
    else
        try_rdmsr(kIa32GsBase, v);
    return v;
}

void read_regs(Regs& r, bool avx) {
    r = Regs{};
    uint16_t fcw;
    uint32_t mxcsr;
    asm volatile("fnstcw %0; stmxcsr %1" : "=m"(fcw), "=m"(mxcsr));
    r.v[FCW] = fcw, r.v[MXCSR] = mxcsr;
    asm volatile(HV_ALL16(HV_XMM, "movdqu")::"r"(&r.v[XMM]) : "memory");
    if (avx) asm volatile(HV_ALL16(HV_YMM_HI_OUT, "")::"r"(&r.v[YMM_HI]) : "memory");
    HV_DR_OUT(0);
    HV_DR_OUT(1);
    HV_DR_OUT(2);
    HV_DR_OUT(3);
    asm volatile("mov %%dr6, %0" : "=r"(r.v[DR6]));
    asm volatile("mov %%dr7, %0" : "=r"(r.v[DR7]));
    asm volatile("mov %%cr2, %0" : "=r"(r.v[CR2]));
    asm volatile("mov %%cr8, %0" : "=r"(r.v[CR8]));
    r.v[CR0_CACHE] = read_cr0() & (kCr0Cd | kCr0Nw);
    const uint32_t msrs[] = {kIa32KernelGsBase, kIa32Star, kIa32Lstar, kIa32Cstar, kIa32Fmask};
    const Reg at[] = {KGS, STAR, LSTAR, CSTAR, SFMASK};
    for (unsigned i = 0; i < 5; ++i) r.faulted[at[i]] = try_rdmsr(msrs[i], r.v[at[i]]) >= 0;
    // SWAPGS makes KERNEL_GS_BASE the GS base: the register itself, whatever
    // RDMSR's emulation says. Interrupts cannot come between the two: a guest
    // takes none.
    asm volatile("swapgs" ::: "memory");
    r.v[KGS_SWAPGS] = read_gs_base();
    asm volatile("swapgs" ::: "memory");
}

// Writes r (legacy part); counts each write that faulted.
unsigned write_regs(const Regs& r, bool cr8) {
    uint16_t fcw = uint16_t(r.v[FCW]);
    uint32_t mxcsr = uint32_t(r.v[MXCSR]);
    asm volatile("fldcw %0; ldmxcsr %1" ::"m"(fcw), "m"(mxcsr));
    asm volatile(HV_ALL16(HV_XMM_TO, "movdqu")::"r"(&r.v[XMM]) : "memory");
    HV_DR_IN(0);
    HV_DR_IN(1);
    HV_DR_IN(2);
    HV_DR_IN(3);
    asm volatile("mov %0, %%dr6" ::"r"(r.v[DR6]));
    asm volatile("mov %0, %%dr7" ::"r"(r.v[DR7]));
    asm volatile("mov %0, %%cr2" ::"r"(r.v[CR2]));
    if (cr8) asm volatile("mov %0, %%cr8" ::"r"(r.v[CR8]));
    unsigned bad = 0;
    if (int v = try_write_cr0((read_cr0() & ~(kCr0Cd | kCr0Nw)) | r.v[CR0_CACHE]); v >= 0) {
        print("isolation: MOV CR0 (CD, NW) raised exception %d\n", v);
        ++bad;
    }
    const uint32_t msrs[] = {kIa32KernelGsBase, kIa32Star, kIa32Lstar, kIa32Cstar, kIa32Fmask};
    const Reg at[] = {KGS, STAR, LSTAR, CSTAR, SFMASK};
    for (unsigned i = 0; i < 5; ++i)
        if (int v = try_wrmsr(msrs[i], r.v[at[i]]); v >= 0) {
            print("isolation: WRMSR %s raised exception %d\n", kNames[at[i]], v);
            ++bad;
        }
    return bad;
}

void name_of(unsigned i, char* buf, size_t n) {
    if (i < XMM)
        hv::format(buf, n, "%s", kNames[i]);
    else if (i < YMM_HI)
        hv::format(buf, n, "XMM%u[%s]", (i - XMM) / 2, (i - XMM) % 2 ? "127:64" : "63:0");
    else
        hv::format(buf, n, "YMM%u[%s]", (i - YMM_HI) / 2, (i - YMM_HI) % 2 ? "255:192" : "191:128");
}

// Prints each register of [first, end) that differs from want; returns how many.
unsigned compare(const char* when, const Regs& got, const Regs& want, unsigned first, unsigned end) {
    unsigned bad = 0;
    for (unsigned i = first; i < end; ++i) {
        if (!got.faulted[i] && got.v[i] == want.v[i]) continue;
        char name[32];
        name_of(i, name, sizeof name);
        if (got.faulted[i])
            print("isolation: %s: reading %s raised an exception (want 0x%lx)\n", when, name, want.v[i]);
        else
            print("isolation: %s: %s = 0x%lx, want 0x%lx\n", when, name, got.v[i], want.v[i]);
        ++bad;
    }
    return bad;
}

uint64_t xgetbv0() {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return uint64_t(hi) << 32 | lo;
}

int probe(const Args& args) {
    const uint64_t mark = args.u64("mark", 1), cr8 = args.u64("cr8", 16), wait = args.u64("wait", 1ull << 28);
    const bool write_cr8 = cr8 < 16, hold = args.u64("hold", 0);
    if (mark == 0 || mark > 15) {
        print("isolation: mark=%lu is not in 1-15\n", mark);
        return 2;
    }
    volatile Status* st = status_at(0);
    install_traps();
    constexpr uint32_t kCpuid7EbxFsgsbase = 1u << 0, kCpuid1EcxXsave = 1u << 26, kCpuid1EcxAvx = 1u << 28;
    fsgsbase = cpuid(7).ebx & kCpuid7EbxFsgsbase;
    const bool avx = args.u64("avx", 1) && (cpuid(1).ecx & (kCpuid1EcxXsave | kCpuid1EcxAvx)) ==
                                               (kCpuid1EcxXsave | kCpuid1EcxAvx);
    uint64_t cr4 = read_cr4() | kCr4Osfxsr | kCr4Osxmmexcpt;
    if (fsgsbase) cr4 |= kCr4Fsgsbase;
    if (avx) cr4 |= kCr4Osxsave;
    if (int v = try_write_cr4(cr4); v >= 0) {
        print("isolation: MOV CR4 0x%lx raised exception %d\n", cr4, v);
        return 1;
    }

    Regs reset, mine, got;
    expected(0, 0, reset);
    expected(mark, cr8, mine);
    read_regs(got, false);
    unsigned leaked = compare("at start", got, reset, 0, kLegacyRegs);
    unsigned bad = write_regs(mine, write_cr8);
    if (avx) {
        if (uint64_t x = xgetbv0(); x != kXcr0X87) {
            print("isolation: at start: XCR0 = 0x%lx, want 0x1\n", x);
            ++leaked;
        }
        // XSETBV always exits in VMX non-root operation: the hypervisor keeps
        // this guest's XCR0.
        if (int v = try_xsetbv(0, kXcr0X87 | kXcr0Sse | kXcr0Avx); v >= 0) {
            print("isolation: XSETBV 7 raised exception %d\n", v);
            return 1;
        }
        read_regs(got, true);
        leaked += compare("at start", got, reset, YMM_HI, kRegs);
        asm volatile(HV_ALL16(HV_YMM_HI_IN, "")::"r"(&mine.v[YMM_HI]) : "memory");
    }
    st->magic = kStatusMagic;
    st->phase = kSet;

    if (const uint64_t passes = args.u64("migrate", 0)) {
        // As a migration source: each pass is stamped with the TSC, which
        // the migrator checks went on from the record's.
        volatile hv_dirtier_progress* p = reinterpret_cast<volatile hv_dirtier_progress*>(HV_DIRTIER_PROGRESS_GPA);
        p->pages = 0;
        p->magic = HV_DIRTIER_MAGIC;
        const uint64_t spin = args.u64("wait", 1ull << 20);
        for (uint64_t pass = 1; pass <= passes; ++pass) {
            for (uint64_t t1 = rdtsc(); rdtsc() - t1 < spin;) asm volatile("pause");
            p->last_pass_end = rdtsc();
            p->passes = pass;
        }
        read_regs(got, avx);
        unsigned changed = compare("after its migration", got, mine, 0, avx ? kRegs : kLegacyRegs);
        if (avx && xgetbv0() != (kXcr0X87 | kXcr0Sse | kXcr0Avx)) {
            print("isolation: after its migration: XCR0 = 0x%lx, want 0x7\n", xgetbv0());
            ++changed;
        }
        print("isolation: mark %lu: %u registers checked%s, %u held another guest's values at start, %u changed "
              "across %lu passes and a migration\n", mark, avx ? kRegs : kLegacyRegs, avx ? " (AVX)" : "", leaked,
              changed, passes);
        return leaked || changed || bad ? 1 : 0;
    }

    // Until another guest has had the CPU (and, with hold=1, until the
    // kicker is done), or for `wait` cycles.
    bool interleaved = false;
    uint64_t t0 = rdtsc(), last = t0;
    for (;;) {
        uint64_t now = rdtsc();
        if (now - last > kGap) interleaved = true;
        last = now;
        if (interleaved && (!hold || st->phase == kReleased)) break;
        if (now - t0 > wait) break;
    }
    read_regs(got, avx);
    unsigned changed = compare("after another guest ran", got, mine, 0, avx ? kRegs : kLegacyRegs);
    if (avx && xgetbv0() != (kXcr0X87 | kXcr0Sse | kXcr0Avx)) {
        print("isolation: after another guest ran: XCR0 = 0x%lx, want 0x7\n", xgetbv0());
        ++changed;
    }
    st->phase = kDone;
    print("isolation: mark %lu: %u registers checked%s, %u held another guest's values at start, %u changed while "
          "it ran, interleaved: %s\n",
          mark, avx ? kRegs : kLegacyRegs, avx ? " (AVX)" : "", leaked, changed, interleaved ? "yes" : "no");
    return leaked || changed || bad || !interleaved ? 1 : 0;
}

bool wait_phase(volatile Status* st, uint64_t phase, uint64_t limit) {
    for (uint64_t t0 = rdtsc(); st->magic != kStatusMagic || st->phase < phase;)
        if (rdtsc() - t0 > limit) return false;
    return true;
}

int kicker(const Args& args) {
    const uint64_t target = args.u64("target", 0), other = args.u64("other", 1);
    const uint64_t pauses = args.u64("pauses", 8), limit = args.u64("limit", 1ull << 20);
    constexpr uint64_t kTargetWindow = 1ull << 30, kOtherWindow = 2ull << 30, kTimeout = 1ull << 32;
    if (int64_t r = hypercall(HV_HC_MAP_GUEST, target, kTargetWindow, HV_MAP_WRITABLE); r <= 0) {
        print("isolation: kicker: map guest %lu -> %ld\n", target, r);
        return 2;
    }
    if (int64_t r = hypercall(HV_HC_MAP_GUEST, other, kOtherWindow, 0); r <= 0) {
        print("isolation: kicker: map guest %lu -> %ld\n", other, r);
        return 2;
    }
    volatile Status* t = status_at(kTargetWindow);
    if (!wait_phase(t, kSet, kTimeout) || !wait_phase(status_at(kOtherWindow), kDone, kTimeout)) {
        print("isolation: kicker: guest %lu never set its registers or guest %lu never finished\n", target, other);
        return 1;
    }
    uint64_t longest = 0;
    for (uint64_t i = 0; i < pauses; ++i) {
        uint64_t t0 = rdtsc();
        if (int64_t r = pause_guest(target); r) {
            print("isolation: kicker: pause guest %lu -> %ld\n", target, r);
            return 1;
        }
        uint64_t dt = rdtsc() - t0;
        if (dt > longest) longest = dt;
        hypercall(HV_HC_RESUME, target);
        // Let it run again before the next request.
        for (uint64_t t1 = rdtsc(); rdtsc() - t1 < limit;) {
        }
    }
    t->phase = kReleased;
    print("isolation: kicker: %lu pauses of guest %lu, the longest took %lu cycles (limit %lu)\n", pauses, target,
          longest, limit);
    return longest < limit ? 0 : 1;
}

}  // namespace

int guest_main(const Args& args) { return args.u64("kick", 0) ? kicker(args) : probe(args); }
