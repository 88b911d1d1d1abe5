// memtest: writes a pattern over mib MiB of guest memory starting at base,
// reads it back, reports the range and the mismatches to the hypervisor (which
// audits that each page was faulted in exactly once) and exits 0 when every
// word read back as written.
//   args: mib=N (default 4), base=GPA (default 4 MiB)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {
// Distinct per word and per run, so a page mapped to the wrong frame or a
// write that went elsewhere shows up as a mismatch.
inline uint64_t pattern(uint64_t gpa) { return gpa * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5a5a5a5a5aull; }
}  // namespace

int guest_main(const Args& args) {
    uint64_t mib = args.u64("mib", 4), base = args.u64("base", 4ull << 20);
    uint64_t bytes = mib << 20, mem = args.boot->mem_bytes;
    if (mib == 0 || base % 4096 || base >= mem || bytes > mem - base) {
        print("memtest: %lu MiB at 0x%lx does not fit in %lu MiB of memory\n", mib, base, mem >> 20);
        return 2;
    }
    print("memtest: writing %lu MiB at 0x%lx\n", mib, base);
    volatile uint64_t* p = reinterpret_cast<volatile uint64_t*>(base);
    uint64_t words = bytes / 8;
    for (uint64_t i = 0; i < words; ++i) p[i] = pattern(base + 8 * i);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < words; ++i)
        if (p[i] != pattern(base + 8 * i)) ++bad;
    int64_t r = hypercall(HV_HC_MEMTEST_REPORT, base, bytes, bad);
    print("memtest: %lu MiB verified, %lu mismatches, report -> %ld\n", mib, bad, r);
    return bad || r ? 1 : 0;
}
