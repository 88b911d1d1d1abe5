// mmio: registers the hypervisor's test device (include/hv/hypercall.h) at a
// guest-physical address no slot covers and drives it: every access traps
// and is emulated. Checks 64-bit and 32-bit stores and loads (a 32-bit store
// zero-extends), then the device's access counter.
//   args: base=GPA (default 3 GiB), iterations=N (default 500)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {
inline uint64_t pattern(uint64_t i) { return i * 0x9e3779b97f4a7c15ull + 0x1234; }
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
    return bad || accesses != want ? 1 : 0;
}
