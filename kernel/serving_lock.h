// A spinlock whose holder may wait for other CPUs (a grace period, a TLB
// flush): the per-VM slots lock (KVM's slots_lock), held across memslot
// changes and dirty-log calls, which synchronize epochs and flush TLBs.
//
// The rule that keeps such waits from deadlocking: a CPU that waits for
// this lock keeps serving what the holder may be waiting for, namely the
// flush requests posted to it and a quiescent state. A plain spin would
// hold its CPU's last quiescent state for as long as the holder's grace
// period lasts, and leave its flush mailbox unserved: each waiting for the
// other, forever. Waiters are never inside an epoch read section (they are
// hypercall handlers: VM objects are not epoch-protected), which is what
// makes the quiescent state legitimate; lock() checks it.
#pragma once

#include "kernel/mmu_platform.h"
#include "kernel/spinlock.h"
#include "kernel/tlb.h"

namespace hv {

class ServingLock {
public:
    void lock() {
        mm::Epoch& epoch = mmu_platform::epoch();
        while (!lock_.try_lock()) {
            tlb::serve();
            if (epoch.online()) epoch.quiescent_state();  // refused (counted as misuse) in a read section
            mm::cpu_pause();
        }
    }
    void unlock() { lock_.unlock(); }

private:
    SpinLock lock_;
};

class ServingGuard {
public:
    explicit ServingGuard(ServingLock& l) : l_(l) { l_.lock(); }
    ~ServingGuard() { l_.unlock(); }
    ServingGuard(const ServingGuard&) = delete;
    ServingGuard& operator=(const ServingGuard&) = delete;

private:
    ServingLock& l_;
};

}  // namespace hv
