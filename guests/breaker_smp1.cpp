// breaker_smp1: a control guest with two vCPUs, on two CPUs, whose vCPU 1
// ends the guest (HV_HC_EXIT 0) while vCPU 0 is inside HV_HC_CREATE_GUEST.
// The hypervisor finishes the creation for a guest that has already
// stopped; the new guest is placed on the CPU of the stopped vCPU 1.
//   args: gmem=MiB (the created guest's memory, default 256), gcpu=N (its
//         CPU, default 1), delay=N (TSC ticks vCPU 1 waits after "go", 0)
#include "guests/runtime/guest.h"
#include "kernel/format.h"

using namespace hv::guest;

namespace {

volatile bool ready, go;
uint64_t delay;
char spec[256];
size_t spec_len;

// mirror=1: vCPU 1 (CPU 1) creates, vCPU 0 (CPU 0, the BSP) exits.
void creator(unsigned, void*) {
    ready = true;
    while (!go) asm volatile("pause");
    int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), spec_len);
    print("breaker_smp1: create_guest returned %ld before vCPU 0's exit\n", id);
    for (;;) asm volatile("pause");
}

void ender(unsigned, void*) {
    ready = true;
    while (!go) asm volatile("pause");
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < delay) asm volatile("pause");
    hypercall(HV_HC_EXIT, 0);
    for (;;) asm volatile("pause");
}

}  // namespace

int guest_main(const Args& args) {
    delay = args.u64("delay", 0);
    size_t n = hv::format(spec, sizeof spec, "late:image=memtest,mib=1,mem=%lu,cpu=%lu", args.u64("gmem", 256),
                          args.u64("gcpu", 1));
    spec_len = n;
    if (args.has("mirror")) {
        print("breaker_smp1: vCPU 0 will exit while vCPU 1 creates '%s'\n", spec);
        if (int64_t r = start_vcpu(1, creator, nullptr); r) return 3;
        while (!ready) asm volatile("pause");
        go = true;
        const uint64_t t0 = rdtsc();
        while (rdtsc() - t0 < delay) asm volatile("pause");
        return 0;
    }
    print("breaker_smp1: vCPU 1 will exit while vCPU 0 creates '%s'\n", spec);
    if (int64_t r = start_vcpu(1, ender, nullptr); r) {
        print("breaker_smp1: start_vcpu: %ld\n", r);
        return 3;
    }
    while (!ready) asm volatile("pause");
    go = true;
    int64_t id = hypercall(HV_HC_CREATE_GUEST, reinterpret_cast<uint64_t>(spec), n);
    // Not reached when vCPU 1's exit came first: the guest is stopped.
    print("breaker_smp1: create_guest returned %ld before vCPU 1's exit\n", id);
    for (;;) asm volatile("pause");
}
