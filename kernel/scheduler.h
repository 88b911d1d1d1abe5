// The guests placed on one CPU, run round-robin, each for a slice of the
// VMX-preemption timer, until every one of them has stopped. Without the
// timer a guest keeps the CPU until it stops.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/limits.h"

namespace hv {

class Vm;

class Scheduler {
public:
    // A slice long enough that switching (VMPTRLD, a VM exit and entry) is
    // noise, short enough that a console line of each guest interleaves.
    static constexpr uint64_t kSliceTsc = 1ull << 22;

    // False when kMaxGuests VMs are already placed here.
    bool add(Vm* vm);
    size_t size() const { return count_; }
    void run();

private:
    Vm* vms_[kMaxGuests] = {};
    size_t count_ = 0;
};

}  // namespace hv
