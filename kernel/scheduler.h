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

    // Placing vCPUs here, from any CPU, also while run() runs (it picks a
    // vCPU up at its next round): under add_lock(), held by the placer
    // across every CPU a guest gets, so that a guest is placed whole or not
    // at all. room() is 0 once run() has ended: a vCPU placed then would
    // never run (and the run would wait for it forever).
    SpinLock& add_lock() { return add_lock_; }
    size_t room() const { return closed_ ? 0 : kMaxGuests - count_; }
    bool closed() const { return closed_; }
    void add(Vcpu* vcpu);  // room() > 0
    void run();

private:
    Vcpu* vcpus_[kMaxGuests] = {};
    size_t count_ = 0;     // atomic: published with release after vcpus_[count_] is set
    bool closed_ = false;  // run() has ended (add_lock_)
    SpinLock add_lock_;
};

}  // namespace hv
