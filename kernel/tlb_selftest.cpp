// selftest=hung_cpu: the cross-CPU deadline end to end. CPU 1 declares
// itself a holder of EPT translations, as a scheduler does before its first
// VM entry, then spins with interrupts disabled and serves nothing, as a CPU
// lost in a guest would; CPU 0 asks it for a flush. The run must end within
// the deadline with CPU 1 named, not hang. Needs no VMX: nothing is
// invalidated, since nothing ever answers.
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/console.h"
#include "kernel/smp.h"
#include "kernel/stall.h"
#include "kernel/tlb.h"
#include "kernel/verdict.h"

namespace hv::tlb {
namespace {

constexpr const char* kTest = "tlb: unanswered flush";
bool hung;  // atomic: CPU 1 is active and spinning

[[noreturn]] void hang(void*) {
    cpu_online();
    __atomic_store_n(&hung, true, __ATOMIC_RELEASE);
    for (;;) x86::pause();
}

}  // namespace

void self_test_hung_cpu() {
    if (smp::cpu_count() < 2) {
        report_fail(kTest, "only one CPU online: run it with two");
        end_run();
    }
    smp::run_on(1, hang, nullptr);
    const uint64_t t0 = x86::rdtsc(), limit = stall::deadline_tsc();
    while (!__atomic_load_n(&hung, __ATOMIC_ACQUIRE)) {
        if (x86::rdtsc() - t0 > limit) {
            report_fail(kTest, "CPU 1 did not start spinning within %lu ms", stall::kDeadlineMs);
            end_run();
        }
        x86::pause();
    }
    print("tlb: selftest: CPU 1 spins with interrupts off and serves nothing; CPU 0 asks it for a flush\n");
    const uint64_t t1 = x86::rdtsc();
    flush_cpu(1, "the self-test");
    report_fail(kTest, "flush_cpu returned after %lu TSC cycles, with nothing served", x86::rdtsc() - t1);
    end_run();
}

}  // namespace hv::tlb
