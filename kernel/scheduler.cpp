#include "kernel/scheduler.h"

#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "kernel/vm.h"

namespace hv {

bool Scheduler::add(Vm* vm) {
    if (count_ == kMaxGuests) return false;
    vms_[count_++] = vm;
    return true;
}

void Scheduler::run() {
    Vm* current = nullptr;
    bool first_entry = true;
    for (;;) {
        size_t ran = 0, paused = 0;
        for (size_t i = 0; i < count_; ++i) {
            Vm* vm = vms_[i];
            if (vm->stopped()) continue;
            // Several VMCSs may be active on a CPU; only the current one is
            // entered or read, so switch only when another VM's turn comes.
            if (vm != current) vm->make_current(), current = vm;
            if (!vm->service_requests()) {
                paused += !vm->stopped();
                continue;
            }
            if (first_entry) {
                print("hv: first VM entry at TSC %lu\n", x86::rdtsc());
                first_entry = false;
            }
            vm->run_slice(kSliceTsc);
            ++ran;
        }
        if (ran) continue;
        if (!paused) return;
        // A whole round ran no guest and only paused ones are left: no one
        // can resume them any more.
        for (size_t i = 0; i < count_; ++i)
            if (!vms_[i]->stopped()) vms_[i]->abandon();
    }
}

}  // namespace hv
