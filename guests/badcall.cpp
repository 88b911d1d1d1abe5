// badcall: calls every hypercall with bad arguments and checks each errno
// (docs/hypercalls.md, "Errors"), then checks that the good forms still work.
// Exits 0 when every check held; prints one line per failed check.
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

unsigned checks, failures, refusals;

void expect(const char* what, int64_t got, int64_t want) {
    ++checks;
    if (want < 0) ++refusals;
    if (got == want) return;
    ++failures;
    print("badcall: FAILED %s: got %ld, want %ld\n", what, got, want);
}

char message[] = "badcall: console write through a hypercall\n";

// What vCPU 1 saw when it started: its index, its argument, the ABI version
// through a hypercall of its own.
struct Started {
    unsigned index;
    uint64_t version;
    void* arg;
    bool done;
} started;

void second_vcpu(unsigned index, void* arg) {
    started.index = index, started.arg = arg;
    started.version = uint64_t(hypercall(HV_HC_VERSION));
    __atomic_store_n(&started.done, true, __ATOMIC_RELEASE);
    for (;;) asm volatile("pause");
}

// HV_HC_START_VCPU refuses what the guest does not have, then starts vCPU 1
// once (with vcpus=2 in its description).
void check_start_vcpu(uint64_t mem, uint64_t tsc_hz) {
    const unsigned n = vcpu_count();
    const uint64_t entry = reinterpret_cast<uint64_t>(&message);  // any address inside the guest
    expect("start_vcpu: vCPU 0 (started with the guest)", hypercall(HV_HC_START_VCPU, 0, entry, 0), -HV_EBUSY);
    expect("start_vcpu: index = vcpus", hypercall(HV_HC_START_VCPU, n, entry, 0), -HV_EINVAL);
    expect("start_vcpu: index 2^32", hypercall(HV_HC_START_VCPU, 1ull << 32, entry, 0), -HV_EINVAL);
    if (n < 2) return;
    expect("start_vcpu: rip outside its memory", hypercall(HV_HC_START_VCPU, 1, mem, 0), -HV_EINVAL);
    expect("start_vcpu: rip above 4 GiB", hypercall(HV_HC_START_VCPU, 1, 1ull << 32, 0), -HV_EINVAL);
    expect("start_vcpu: arg above 32 bits", hypercall(HV_HC_START_VCPU, 1, entry, 1ull << 32), -HV_EINVAL);
    expect("start_vcpu: vCPU 1", start_vcpu(1, second_vcpu, &started), 0);
    expect("start_vcpu: vCPU 1 twice", hypercall(HV_HC_START_VCPU, 1, entry, 0), -HV_EBUSY);
    const uint64_t deadline = rdtsc() + 10 * tsc_hz;
    while (!__atomic_load_n(&started.done, __ATOMIC_ACQUIRE) && rdtsc() < deadline) asm volatile("pause");
    expect("start_vcpu: vCPU 1 ran within 10 s", started.done, 1);
    expect("start_vcpu: vCPU 1's index", started.index, 1);
    expect("start_vcpu: vCPU 1's argument", started.arg == &started, 1);
    expect("start_vcpu: vCPU 1's hypercall", int64_t(started.version), HV_ABI_VERSION);
}

}  // namespace

int guest_main(const Args& args) {
    const uint64_t mem = args.boot->mem_bytes;
    const uint64_t buf = reinterpret_cast<uint64_t>(message);

    expect("unknown call number", hypercall(0xdead), -HV_ENOSYS);
    expect("call number ~0", hypercall(~0ull), -HV_ENOSYS);
    expect("call number 2^32 + version", hypercall((1ull << 32) | HV_HC_VERSION), -HV_ENOSYS);

    expect("console_write: buffer past the slot", hypercall(HV_HC_CONSOLE_WRITE, mem - 8, 16), -HV_EFAULT);
    expect("console_write: buffer at 2^63", hypercall(HV_HC_CONSOLE_WRITE, 1ull << 63, 1), -HV_EFAULT);
    expect("console_write: range wraps around", hypercall(HV_HC_CONSOLE_WRITE, ~0ull - 3, 8), -HV_EFAULT);
    expect("console_write: longer than HV_CONSOLE_WRITE_MAX",
           hypercall(HV_HC_CONSOLE_WRITE, buf, HV_CONSOLE_WRITE_MAX + 1), -HV_EINVAL);
    expect("console_write: length 2^64 - 1", hypercall(HV_HC_CONSOLE_WRITE, buf, ~0ull), -HV_EINVAL);

    expect("memtest_report: unaligned GPA", hypercall(HV_HC_MEMTEST_REPORT, 0x401000 + 8, 4096, 0), -HV_EINVAL);
    expect("memtest_report: unaligned size", hypercall(HV_HC_MEMTEST_REPORT, 0x400000, 100, 0), -HV_EINVAL);
    expect("memtest_report: size 0", hypercall(HV_HC_MEMTEST_REPORT, 0x400000, 0, 0), -HV_EINVAL);
    expect("memtest_report: past the slot", hypercall(HV_HC_MEMTEST_REPORT, mem - 4096, 8192, 0), -HV_EINVAL);
    expect("memtest_report: wraps around", hypercall(HV_HC_MEMTEST_REPORT, 0x400000, ~0xfffull, 0), -HV_EINVAL);

    const uint64_t mmio = 3ull << 30;
    expect("register_mmio: unaligned", hypercall(HV_HC_REGISTER_MMIO, mmio + 8, HV_MMIO_SIZE), -HV_EINVAL);
    expect("register_mmio: wrong size", hypercall(HV_HC_REGISTER_MMIO, mmio, 2 * HV_MMIO_SIZE), -HV_EINVAL);
    expect("register_mmio: beyond 2^39", hypercall(HV_HC_REGISTER_MMIO, 1ull << 39, HV_MMIO_SIZE), -HV_EINVAL);
    expect("register_mmio: over the slot", hypercall(HV_HC_REGISTER_MMIO, 0x400000, HV_MMIO_SIZE), -HV_EEXIST);
    // The last page below 2^39 is as valid for a region as it is for a slot.
    expect("register_mmio: the last page below 2^39",
           hypercall(HV_HC_REGISTER_MMIO, (1ull << 39) - HV_MMIO_SIZE, HV_MMIO_SIZE), 0);
    for (unsigned i = 0; i < HV_MMIO_MAX - 1; ++i)
        expect("register_mmio", hypercall(HV_HC_REGISTER_MMIO, mmio + i * 4096, HV_MMIO_SIZE), 0);
    expect("register_mmio: twice", hypercall(HV_HC_REGISTER_MMIO, mmio, HV_MMIO_SIZE), -HV_EEXIST);
    expect("register_mmio: one too many", hypercall(HV_HC_REGISTER_MMIO, mmio + 64 * 4096, HV_MMIO_SIZE),
           -HV_ENOSPC);

    check_start_vcpu(mem, args.boot->tsc_hz);

    // Privileged calls from a guest that is not the control guest.
    for (uint64_t nr = HV_HC_PAUSE; nr <= HV_HC_CREATE_GUEST; ++nr)
        if (nr != HV_HC_REGISTER_MMIO) expect("privileged call", hypercall(nr, 0), -HV_EPERM);

    static hv_stats stats;
    const uint64_t sp = reinterpret_cast<uint64_t>(&stats);
    expect("stats: size too small", hypercall(HV_HC_STATS, sp, sizeof stats - 1), -HV_EINVAL);
    expect("stats: buffer past the slot", hypercall(HV_HC_STATS, mem - 16, sizeof stats), -HV_EFAULT);

    // The good forms, after all that: the hypervisor's state is intact.
    expect("version", hypercall(HV_HC_VERSION), HV_ABI_VERSION);
    expect("console_write", hypercall(HV_HC_CONSOLE_WRITE, buf, sizeof message - 1), sizeof message - 1);
    expect("console_write: length 0", hypercall(HV_HC_CONSOLE_WRITE, 0, 0), 0);
    expect("stats", hypercall(HV_HC_STATS, sp, sizeof stats), sizeof stats);
    // Every call refused above was counted as an error, and nothing else.
    expect("stats: errors counted", int64_t(stats.hypercall_errors), int64_t(refusals));
    expect("stats: VMCALL exits counted", int64_t(stats.exits[18]), int64_t(stats.hypercalls));

    print("badcall: %u checks, %u failed\n", checks, failures);
    return failures ? 1 : 0;
}
