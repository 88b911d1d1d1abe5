// badregs: writes to CR0, CR4, XCR0 and MSRs that the processor refuses.
// Each must raise #GP in this guest (its own handler takes it), as on
// hardware without a hypervisor, and leave the register as it was; the
// hypervisor must not stop the guest for it. Then the legal changes that VMX
// makes the hypervisor emulate must take effect: CR0.NE (which VMX fixes to
// 1, so a guest's clear is shadowed), XCR0, the MSRs a 64-bit kernel sets up.
// Exits 0 when every check held; prints one line per failed check.
#include "guests/runtime/guest.h"
#include "guests/runtime/trap.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Ne = 1ull << 5, kCr0Nw = 1ull << 29, kCr0Cd = 1ull << 30;
constexpr uint64_t kCr4Vmxe = 1ull << 13, kCr4Osxsave = 1ull << 18;
constexpr uint32_t kIa32FsBase = 0xc0000100, kIa32KernelGsBase = 0xc0000102, kIa32Lstar = 0xc0000082,
                   kIa32Fmask = 0xc0000084;
constexpr uint64_t kNonCanonical = 0x0000800000000000ull;

unsigned checks, failures;

// The attempt raised #GP and the register still reads `before`.
void expect_gp(const char* what, int vector, uint64_t now, uint64_t before) {
    ++checks;
    if (vector != kVectorGp) {
        ++failures;
        print("badregs: FAILED %s: exception %d, want #GP (13)\n", what, vector);
    } else if (now != before) {
        ++failures;
        print("badregs: FAILED %s: the register changed from 0x%lx to 0x%lx\n", what, before, now);
    }
}

// The attempt raised nothing and the register reads `want`.
void expect_ok(const char* what, int vector, uint64_t now, uint64_t want) {
    ++checks;
    if (vector >= 0) {
        ++failures;
        print("badregs: FAILED %s: exception %d, want none\n", what, vector);
    } else if (now != want) {
        ++failures;
        print("badregs: FAILED %s: reads 0x%lx, want 0x%lx\n", what, now, want);
    }
}

// The attempt first, then the register read back.
#define EXPECT_GP(what, attempt, reread, before) \
    do {                                         \
        int vector_ = (attempt);                 \
        expect_gp(what, vector_, reread, before); \
    } while (0)
#define EXPECT_OK(what, attempt, reread, want)  \
    do {                                        \
        int vector_ = (attempt);                \
        expect_ok(what, vector_, reread, want); \
    } while (0)

uint64_t xgetbv0() {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return uint64_t(hi) << 32 | lo;
}

uint64_t rdmsr(uint32_t msr) {
    uint64_t v = ~0ull;
    try_rdmsr(msr, v);
    return v;
}

struct Cpuid {
    uint32_t eax, ebx, ecx, edx;
};
Cpuid cpuid(uint32_t leaf, uint32_t sub = 0) {
    Cpuid r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(sub));
    return r;
}

void control_registers() {
    const uint64_t cr4 = read_cr4();
    EXPECT_GP("MOV CR4: VMXE (VMX is not offered to guests)", try_write_cr4(cr4 | kCr4Vmxe), read_cr4(), cr4);
    EXPECT_GP("MOV CR4: reserved bit 63", try_write_cr4(cr4 | 1ull << 63), read_cr4(), cr4);
    EXPECT_GP("MOV CR4: reserved bit 32", try_write_cr4(cr4 | 1ull << 32), read_cr4(), cr4);

    const uint64_t cr0 = read_cr0();
    EXPECT_GP("MOV CR0: reserved bit 32", try_write_cr0(cr0 | 1ull << 32), read_cr0(), cr0);
    // Clearing NE makes the MOV exit (VMX owns NE): the hypervisor must
    // then make the architecture's checks on the whole value.
    EXPECT_GP("MOV CR0: NE clear with bit 63 set", try_write_cr0((cr0 & ~kCr0Ne) | 1ull << 63), read_cr0(), cr0);
    EXPECT_GP("MOV CR0: NE clear with NW set and CD clear", try_write_cr0((cr0 & ~(kCr0Ne | kCr0Cd)) | kCr0Nw),
              read_cr0(), cr0);
    EXPECT_GP("MOV CR0: NE clear with PE clear and PG set", try_write_cr0(cr0 & ~(kCr0Ne | kCr0Pe)), read_cr0(),
              cr0);
    EXPECT_OK("MOV CR0: NE clear", try_write_cr0(cr0 & ~kCr0Ne), read_cr0(), cr0 & ~kCr0Ne);
    EXPECT_OK("MOV CR0: NE set again", try_write_cr0(cr0), read_cr0(), cr0);
}

void xcr0() {
    constexpr uint32_t kCpuid1EcxXsave = 1u << 26;
    if (!(cpuid(1).ecx & kCpuid1EcxXsave)) {
        print("badregs: no XSAVE: XCR0 not checked\n");
        return;
    }
    const uint64_t supported = cpuid(0xd).eax | uint64_t(cpuid(0xd).edx) << 32;
    if (int v = try_write_cr4(read_cr4() | kCr4Osxsave); v >= 0) {
        ++failures;
        print("badregs: FAILED MOV CR4: OSXSAVE: exception %d\n", v);
        return;
    }
    const uint64_t x = xgetbv0();
    expect_ok("XCR0 after reset", -1, x, 1);
    EXPECT_GP("XSETBV: XCR1", try_xsetbv(1, 3), xgetbv0(), x);
    EXPECT_GP("XSETBV: x87 state off", try_xsetbv(0, 2), xgetbv0(), x);
    EXPECT_GP("XSETBV: reserved bit 63", try_xsetbv(0, 1ull << 63 | 3), xgetbv0(), x);
    if (supported & 4) EXPECT_GP("XSETBV: AVX without SSE", try_xsetbv(0, 5), xgetbv0(), x);
    if (supported & 0xe0)
        EXPECT_GP("XSETBV: AVX-512 without its opmask state", try_xsetbv(0, 0xc7 & supported), xgetbv0(), x);
    EXPECT_OK("XSETBV: x87 and SSE", try_xsetbv(0, 3), xgetbv0(), 3);
    EXPECT_OK("XSETBV: every supported state", try_xsetbv(0, supported), xgetbv0(), supported);
    EXPECT_OK("XSETBV: x87 only", try_xsetbv(0, 1), xgetbv0(), 1);
}

void msrs() {
    const uint64_t kgs = rdmsr(kIa32KernelGsBase), lstar = rdmsr(kIa32Lstar), fmask = rdmsr(kIa32Fmask);
    EXPECT_GP("WRMSR KERNEL_GS_BASE: non-canonical", try_wrmsr(kIa32KernelGsBase, kNonCanonical),
              rdmsr(kIa32KernelGsBase), kgs);
    EXPECT_GP("WRMSR LSTAR: non-canonical", try_wrmsr(kIa32Lstar, kNonCanonical), rdmsr(kIa32Lstar), lstar);
    EXPECT_GP("WRMSR SFMASK: reserved bit 32", try_wrmsr(kIa32Fmask, 1ull << 32), rdmsr(kIa32Fmask), fmask);
    EXPECT_GP("WRMSR FS_BASE: non-canonical", try_wrmsr(kIa32FsBase, kNonCanonical), rdmsr(kIa32FsBase), 0);
    EXPECT_OK("WRMSR KERNEL_GS_BASE", try_wrmsr(kIa32KernelGsBase, 0xffff800000400000ull), rdmsr(kIa32KernelGsBase),
              0xffff800000400000ull);
    EXPECT_OK("WRMSR FS_BASE", try_wrmsr(kIa32FsBase, 0x7fff0000), rdmsr(kIa32FsBase), 0x7fff0000);
    try_wrmsr(kIa32FsBase, 0);
}

}  // namespace

// Instructions of features CPUID does not offer: MONITOR and MWAIT #UD (else
// MWAIT could put the CPU where the hypervisor's timer cannot reach it),
// RDPMC #GP (no performance counters); WBINVD is harmless and goes on.
void unoffered_instructions() {
    int (*const attempt[])() = {try_monitor, try_mwait, try_rdpmc, try_wbinvd};
    struct {
        const char* what;
        int want;
    } const cases[] = {{"MONITOR", kVectorUd}, {"MWAIT", kVectorUd}, {"RDPMC", kVectorGp}, {"WBINVD", -1}};
    for (int i = 0; i < 4; ++i) {
        ++checks;
        const int got = attempt[i]();
        if (got != cases[i].want) {
            ++failures;
            print("badregs: FAILED %s: exception %d, want %d\n", cases[i].what, got, cases[i].want);
        }
    }
}

int guest_main(const Args&) {
    install_traps();
    control_registers();
    xcr0();
    msrs();
    unoffered_instructions();
    print("badregs: %u checks, %u failed\n", checks, failures);
    return failures ? 1 : 0;
}
