// fuzzer: hostile input at random. A control guest that makes `calls`
// hypercalls and port accesses with seeded random call numbers, ports and
// arguments, against a paused victim: ids, GPAs, sizes and flags drawn from values at the edges (0, 1,
// page sizes, the end of its memory, 2^39, ~0, unaligned) and structures
// filled the same way. Every result must be 0, a size, or an errno that
// docs/hypercalls.md lists. It never exits, resumes, stops or creates a guest,
// writes to the console or reports a memtest through a random call, so the
// run's verdict stays its own; at the end it stops the victim. The run's
// audits then check what the calls may have broken: each guest's EPT against
// its rmap, descriptors and frames. One access in eight is IN or OUT of 1, 2
// or 4 bytes to a random port (not the console's): nothing is behind them, so
// every IN must read all ones (a floating bus) and every OUT is dropped.
//   args: victim=ID (default 0), calls=N (default 3000), seed=S (default 1),
//         spare=ID (a guest it must leave alone, so that the run can show the
//         others go on: never the id of a call; default none)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

uint64_t state = 1;
uint64_t next() {  // xorshift64*
    state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}

// Arguments point into this buffer (or anywhere), and it holds the
// structures a call may read: its first 4 KiB are filled with edge values
// before every call. 64 KiB: a dirty log of the largest slot (32 KiB) fits
// behind any of those first 4 KiB.
alignas(4096) uint8_t buffer[65536];
constexpr size_t kFilled = 4096;

uint64_t mem_bytes, victim;

uint64_t edge() {
    static const uint64_t values[] = {0, 1, 2, 7, 8, 15, 16, 63, 64, 511, 512, 4095, 4096, 4097, 1ull << 21,
                                      (1ull << 21) - 1, 1ull << 30, 3ull << 30, 1ull << 32, (1ull << 39) - 4096,
                                      1ull << 39, 1ull << 63, ~0ull, ~0ull - 4095};
    switch (next() % 8) {
    case 0: return victim;
    case 1: return next();
    case 2: return reinterpret_cast<uint64_t>(buffer) + next() % kFilled;  // often unaligned
    case 3: return mem_bytes - next() % 8192;                                     // at the end of its memory
    case 4: return next() % 64;
    default: return values[next() % (sizeof values / sizeof values[0])];
    }
}

// Calls that would change the run's verdict or the victim's fate.
bool excluded(uint64_t nr) {
    return nr == HV_HC_EXIT || nr == HV_HC_MEMTEST_REPORT || nr == HV_HC_CONSOLE_WRITE || nr == HV_HC_RESUME ||
           nr == HV_HC_STOP_GUEST || nr == HV_HC_CREATE_GUEST;
}

// Where the hypervisor writes for call nr: the argument holding the output's
// GPA, or null. A hypervisor that writes where it is told is right, so the
// fuzzer keeps such writes off its own code, stack and page tables.
uint64_t* output_arg(uint64_t nr, uint64_t* a) {
    switch (nr) {
    case HV_HC_STATS: return &a[0];
    case HV_HC_GET_STATE:
    case HV_HC_GUEST_STATS: return &a[1];
    case HV_HC_GET_DIRTY_LOG: return &a[2];
    default: return nullptr;
    }
}

// One random port access; false if an IN read anything but all ones.
bool port_access() {
    uint16_t port = uint16_t(next());
    if (port >= HV_GUEST_CONSOLE_PORT && port < HV_GUEST_CONSOLE_PORT + 8) port ^= 0x100;
    uint32_t v = uint32_t(next()), got = 0;
    switch (next() % 6) {
    case 0: asm volatile("outb %b0, %w1" ::"a"(v), "Nd"(port)); return true;
    case 1: asm volatile("outw %w0, %w1" ::"a"(v), "Nd"(port)); return true;
    case 2: asm volatile("outl %0, %w1" ::"a"(v), "Nd"(port)); return true;
    case 3: asm volatile("inb %w1, %b0" : "+a"(got) : "Nd"(port)); return got == 0xff;
    case 4: asm volatile("inw %w1, %w0" : "+a"(got) : "Nd"(port)); return got == 0xffff;
    default: asm volatile("inl %w1, %0" : "=a"(got) : "Nd"(port)); return got == 0xffffffffu;
    }
}

bool documented_errno(int64_t r) {
    return r == -HV_EPERM || r == -HV_ENOENT || r == -HV_EAGAIN || r == -HV_EFAULT || r == -HV_EBUSY ||
           r == -HV_EEXIST || r == -HV_EINVAL || r == -HV_ENOSPC || r == -HV_ENOMEM || r == -HV_ENOSYS;
}

}  // namespace

int guest_main(const Args& args) {
    victim = args.u64("victim", 0);
    state = (args.u64("seed", 1) + 1) * 0x9e3779b97f4a7c15ull;
    mem_bytes = args.boot->mem_bytes;
    const uint64_t calls = args.u64("calls", 3000), spare = args.u64("spare", ~0ull);
    uint64_t made = 0, ok = 0, refused = 0, unexpected = 0, by_errno[64] = {}, ports = 0;
    for (uint64_t i = 0; i < calls; ++i) {
        if (next() % 8 == 0) {
            ++ports;
            if (!port_access()) ++unexpected, print("fuzzer: access %lu: a port read something\n", i);
            continue;
        }
        uint64_t nr = next() % 4 ? next() % (HV_HC_UNMAP_GUEST + 1) : edge();
        if (excluded(nr)) continue;
        for (size_t k = 0; k < kFilled; k += 8) {
            uint64_t v = edge();
            for (unsigned b = 0; b < 8; ++b) buffer[k + b] = uint8_t(v >> (8 * b));
        }
        uint64_t a[4] = {next() % 2 ? victim : edge(), edge(), edge(), edge()};
        if (a[0] == spare) a[0] = victim;
        const uint64_t base = reinterpret_cast<uint64_t>(buffer);
        if (uint64_t* out = output_arg(nr, a); out && *out < mem_bytes && (*out < base || *out >= base + kFilled))
            *out = base + *out % kFilled;
        int64_t r = hypercall(nr, a[0], a[1], a[2], a[3]);
        ++made;
        if (r >= 0) {
            ++ok;
        } else if (documented_errno(r)) {
            ++refused, ++by_errno[-r];
        } else {
            ++unexpected;
            print("fuzzer: call %lu (%lu, 0x%lx, 0x%lx, 0x%lx, 0x%lx) -> %ld: not a documented errno\n", i, nr, a[0],
                  a[1], a[2], a[3], r);
        }
    }
    // Two lines: the guest console breaks longer ones.
    print("fuzzer: refused with EPERM %lu, ENOENT %lu, EFAULT %lu, EINVAL %lu, EEXIST %lu, ENOSPC %lu, EBUSY %lu, "
          "ENOSYS %lu\n", by_errno[HV_EPERM], by_errno[HV_ENOENT], by_errno[HV_EFAULT], by_errno[HV_EINVAL],
          by_errno[HV_EEXIST], by_errno[HV_ENOSPC], by_errno[HV_EBUSY], by_errno[HV_ENOSYS]);
    print("fuzzer: %lu calls made, %lu succeeded, %lu refused, %lu port accesses, %lu unexpected results\n", made, ok,
          refused, ports, unexpected);
    int64_t s = hypercall(HV_HC_STOP_GUEST, victim);
    if (s) print("fuzzer: stopping the victim -> %ld\n", s);
    return unexpected || s ? 1 : 0;
}
