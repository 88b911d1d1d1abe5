#include "kernel/scheduler.h"

#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "kernel/format.h"
#include "kernel/mmu_platform.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/stall.h"
#include "kernel/tlb.h"
#include "kernel/vm.h"
#include "kernel/vm_table.h"

namespace hv {

void Scheduler::add(Vcpu* vcpu) {
    const size_t n = count_;
    vcpus_[n] = vcpu;
    __atomic_store_n(&count_, n + 1, __ATOMIC_RELEASE);
}

static bool first_entry_reported;

// A guest anywhere that runs or is about to: it could still resume a
// paused guest of this CPU.
static bool any_guest_can_run() {
    for (unsigned id = 0; id < kMaxGuests; ++id)
        if (Vm* vm = vm_table::get(id); vm && vm->can_run()) return true;
    return false;
}

// An idle CPU waits for the guests of the others. Each CPU that runs one
// must still answer: a flush round trip, which ends the run naming the CPU
// if it does not come back within the deadline (a guest that took its CPU
// out of the hypervisor's reach would otherwise hang the run, silently).
static void probe_busy_cpus() {
    unsigned self = smp::current_cpu();
    bool probed[kMaxCpus] = {};
    char for_whom[48];
    format(for_whom, sizeof for_whom, "the liveness probe of idle CPU %u", self);
    for (unsigned id = 0; id < kMaxGuests; ++id) {
        Vm* vm = vm_table::get(id);
        if (!vm || !vm->can_run()) continue;
        for (unsigned i = 0; i < vm->vcpu_count(); ++i) {
            unsigned cpu = vm->vcpu(i).cpu();
            if (cpu == self || cpu >= kMaxCpus || probed[cpu]) continue;
            probed[cpu] = true;
            tlb::flush_cpu(cpu, for_whom);
        }
    }
}

static void set_running(const char* guest) { __atomic_store_n(&this_cpu()->guest, guest, __ATOMIC_RELAXED); }

void Scheduler::run() {
    mm::Epoch& epoch = mmu_platform::epoch();
    epoch.cpu_online();
    tlb::cpu_online();
    Vcpu* current = nullptr;
    size_t prepared = 0;
    uint64_t next_probe = 0;
    for (;;) {
        // Acquire: a vCPU added from another CPU is complete when counted.
        size_t count = __atomic_load_n(&count_, __ATOMIC_ACQUIRE);
        for (; prepared < count; ++prepared) vcpus_[prepared]->prepare(), current = vcpus_[prepared];
        size_t ran = 0, paused = 0;
        for (size_t i = 0; i < count; ++i) {
            Vcpu* vcpu = vcpus_[i];
            if (vcpu->stopped()) continue;
            // Several VMCSs may be active on a CPU; only the current one is
            // entered or read, so switch only when another vCPU's turn comes.
            if (vcpu != current) vcpu->make_current(), current = vcpu;
            if (!vcpu->service_requests()) {
                paused += !vcpu->stopped();
                continue;
            }
            if (!__atomic_exchange_n(&first_entry_reported, true, __ATOMIC_RELAXED))
                print("hv: first VM entry at TSC %lu\n", x86::rdtsc());
            set_running(vcpu->vm().name());
            vcpu->run_slice(kSliceTsc);
            ++ran;
        }
        if (ran) continue;
        set_running(nullptr);
        // Idle: nothing to run here. A quiescent state, the flushes asked of
        // us and the epoch's callbacks, while another CPU may resume a paused
        // guest of ours or create one here.
        epoch.quiescent_state();
        epoch.poll();
        tlb::serve();
        x86::pause();
        if (any_guest_can_run()) {
            uint64_t now = x86::rdtsc();
            if (next_probe && now >= next_probe) probe_busy_cpus();
            if (!next_probe || now >= next_probe) next_probe = now + stall::deadline_tsc();
            continue;
        }
        if (!paused) {
            // Nothing here can run again. Closed under the lock, so that a
            // guest being placed either is counted below (and run) or finds
            // no room: one created by a guest that stopped meanwhile, or
            // after the verdict, is refused rather than left unrun.
            LockGuard g(add_lock_);
            if (__atomic_load_n(&count_, __ATOMIC_RELAXED) == count) {
                closed_ = true;
                break;
            }
            continue;  // one was just added
        }
        if (__atomic_load_n(&count_, __ATOMIC_ACQUIRE) != count) continue;  // one was just added
        // Every guest everywhere is stopped or paused: no one can resume ours.
        for (size_t i = 0; i < count; ++i)
            if (!vcpus_[i]->stopped()) vcpus_[i]->make_current(), current = vcpus_[i], vcpus_[i]->abandon();
    }
    for (size_t i = 0; i < prepared; ++i) vcpus_[i]->retire();
    set_running(nullptr);
    tlb::cpu_offline();
    epoch.cpu_offline();
}

}  // namespace hv
