// The guests placed on one CPU, run round-robin, each for a slice of the
// VMX-preemption timer, until every one of them has stopped. Without the
// timer a guest keeps the CPU until it stops.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/limits.h"
#include "kernel/spinlock.h"

namespace hv {

class Vm;

class Scheduler {
public:
    // A slice long enough that switching (VMPTRLD, a VM exit and entry) is
    // noise, short enough that a console line of each guest interleaves.
    static constexpr uint64_t kSliceTsc = 1ull << 22;

    // Places vm here, from any CPU, also while run() runs (it picks the VM up
    // at its next round). False when kMaxGuests VMs are already placed here.
    bool add(Vm* vm);
    void run();

private:
    Vm* vms_[kMaxGuests] = {};
    size_t count_ = 0;     // atomic: published with release after vms_[count_] is set
    SpinLock add_lock_;
};

}  // namespace hv
