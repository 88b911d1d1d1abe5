// The vCPUs placed on one CPU, run round-robin, each for a slice of the
// VMX-preemption timer, until every one of their guests has stopped. Without
// the timer a vCPU keeps the CPU until its guest stops.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/limits.h"
#include "kernel/spinlock.h"

namespace hv {

class Vcpu;

class Scheduler {
public:
    // A slice long enough that switching (VMPTRLD, a VM exit and entry) is
    // noise, short enough that a console line of each guest interleaves.
    static constexpr uint64_t kSliceTsc = 1ull << 22;

    // Places vcpu here, from any CPU, also while run() runs (it picks the
    // vCPU up at its next round). False when kMaxGuests vCPUs are already
    // placed here.
    bool add(Vcpu* vcpu);
    // How many more add() would take.
    size_t room() const { return kMaxGuests - __atomic_load_n(&count_, __ATOMIC_RELAXED); }
    void run();

private:
    Vcpu* vcpus_[kMaxGuests] = {};
    size_t count_ = 0;     // atomic: published with release after vcpus_[count_] is set
    SpinLock add_lock_;
};

}  // namespace hv
