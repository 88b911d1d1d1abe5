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
    for (size_t live = count_; live;) {
        live = 0;
        for (size_t i = 0; i < count_; ++i) {
            Vm* vm = vms_[i];
            if (vm->stopped()) continue;
            // Several VMCSs may be active on a CPU; only the current one is
            // entered, so switch only when another VM's turn comes.
            if (vm != current) vm->make_current(), current = vm;
            if (first_entry) {
                print("hv: first VM entry at TSC %lu\n", x86::rdtsc());
                first_entry = false;
            }
            if (!vm->run_slice(kSliceTsc)) ++live;
        }
    }
}

}  // namespace hv
