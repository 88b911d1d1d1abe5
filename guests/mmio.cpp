// mmio: registers the hypervisor's test device (include/hv/hypercall.h) at a
// guest-physical address no slot covers and drives it: every access traps
// and is emulated. Checks 64-bit and 32-bit stores and loads (a 32-bit store
// zero-extends), then the device's access counter, then a store and a load
// whose instruction bytes straddle a page boundary (the hypervisor must fetch
// them from both pages), split after each of their first two bytes.
//   args: base=GPA (default 3 GiB), iterations=N (default 500)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {
inline uint64_t pattern(uint64_t i) { return i * 0x9e3779b97f4a7c15ull + 0x1234; }

// Code written here at run time: the guest maps its memory writable and
// executable. Each snippet ends `split` bytes before a page boundary.
alignas(4096) uint8_t code[3 * 4096];

// Runs `insn` (3 bytes, then RET) placed across the end of page `page` of
// code, with RAX = value, RBX = address; returns RCX.
uint64_t run_across(unsigned page, unsigned split, const uint8_t (&insn)[3], uint64_t address, uint64_t value) {
    uint8_t* p = code + 4096 * (page + 1) - split;
    for (unsigned i = 0; i < 3; ++i) p[i] = insn[i];
    p[3] = 0xc3;
    uint64_t rcx = 0;
    asm volatile("call *%[fn]" : "+c"(rcx), "+a"(value) : [fn] "r"(p), "b"(address) : "memory");
    return rcx;
}

// Stores with one instruction and loads with another, each across a page
// boundary; returns the number of wrong values.
unsigned across_pages(uint64_t base) {
    static const uint8_t kStore[3] = {0x48, 0x89, 0x03};  // mov [rbx], rax
    static const uint8_t kLoad[3] = {0x48, 0x8b, 0x0b};   // mov rcx, [rbx]
    unsigned bad = 0;
    for (unsigned split = 1; split <= 2; ++split) {
        uint64_t v = pattern(1000 + split);
        run_across(0, split, kStore, base, v);
        uint64_t got = run_across(1, split, kLoad, base, 0);
        if (got != v) {
            print("mmio: across a page boundary after byte %u: stored 0x%lx, loaded 0x%lx\n", split, v, got);
            ++bad;
        }
    }
    return bad;
}
}  // namespace

int guest_main(const Args& args) {
    uint64_t base = args.u64("base", 3ull << 30), iterations = args.u64("iterations", 500);
    if (int64_t r = hypercall(HV_HC_REGISTER_MMIO, base, HV_MMIO_SIZE); r) {
        print("mmio: register at 0x%lx -> %ld\n", base, r);
        return 2;
    }
    unsigned bad = 0;
    for (uint64_t i = 0; i < iterations; ++i) {
        volatile uint64_t* reg = reinterpret_cast<volatile uint64_t*>(base + (i % HV_MMIO_REGS) * 8);
        *reg = pattern(i);
        if (*reg != pattern(i)) ++bad;
        volatile uint32_t* low = reinterpret_cast<volatile uint32_t*>(reg);
        *low = uint32_t(i);
        if (*reg != uint32_t(i)) ++bad;  // a 32-bit store zero-extends
    }
    uint64_t accesses = *reinterpret_cast<volatile uint64_t*>(base + HV_MMIO_ACCESSES);
    uint64_t want = iterations * 4 + 1;
    print("mmio: %lu iterations, %u bad values, %lu device accesses (want %lu)\n", iterations, bad, accesses, want);
    unsigned across = across_pages(base);
    print("mmio: instructions across a page boundary: %u bad values\n", across);
    return bad || across || accesses != want ? 1 : 0;
}
