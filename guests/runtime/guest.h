// The guest runtime: what every guest program gets. A guest defines
//   int guest_main(const hv::guest::Args& args);
// whose return value becomes its exit status (HV_HC_EXIT).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "include/hv/hypercall.h"

namespace hv::guest {

struct Args {
    const hv_guest_boot* boot;
    // The value of key in boot->args ("k=v,k=v"), or def when absent or not a
    // decimal or 0x-prefixed hexadecimal number.
    uint64_t u64(const char* key, uint64_t def) const;
    // True when key is present (with any value).
    bool has(const char* key) const;
    // True when key is present with exactly this value.
    bool is(const char* key, const char* value) const;
    // The value of key, NUL-terminated, into out[size]; false (out
    // untouched) when key is absent or its value does not fit.
    bool str(const char* key, char* out, size_t size) const;
};

// VMCALL per the ABI: number in RAX, arguments in RBX, RCX, RDX, RSI.
inline int64_t hypercall(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    int64_t ret;
    asm volatile("vmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3) : "memory");
    return ret;
}

[[noreturn]] void exit(uint64_t status);

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return uint64_t(hi) << 32 | lo;
}

// printf onto the guest's console (the UART at HV_GUEST_CONSOLE_PORT). One
// call's bytes stay together when several vCPUs print.
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// This guest's vCPUs (its description's vcpus=, default 1); index 0 runs
// guest_main.
unsigned vcpu_count();

// Starts vCPU index (1..vcpu_count()-1) running fn(index, arg) on a stack of
// its own (16 KiB), through HV_HC_START_VCPU; 0 or the hypercall's negative
// errno. fn must not return: a vCPU cannot end alone; the guest ends when
// one of its vCPUs exits (HV_HC_EXIT).
int64_t start_vcpu(unsigned index, void (*fn)(unsigned index, void* arg), void* arg);

// A lock between this guest's vCPUs (a test-and-set spinlock with PAUSE).
class SpinLock {
public:
    void lock() {
        while (__atomic_exchange_n(&taken_, true, __ATOMIC_ACQUIRE))
            while (__atomic_load_n(&taken_, __ATOMIC_RELAXED)) asm volatile("pause");
    }
    void unlock() { __atomic_store_n(&taken_, false, __ATOMIC_RELEASE); }

private:
    bool taken_ = false;
};

}  // namespace hv::guest

int guest_main(const hv::guest::Args& args);

namespace hv::guest {

// Pauses guest `id` (privileged): HV_HC_PAUSE until it is parked.
inline int64_t pause_guest(uint64_t id) {
    int64_t r;
    while ((r = hypercall(HV_HC_PAUSE, id)) == -HV_EAGAIN) {
    }
    return r;
}

}  // namespace hv::guest
