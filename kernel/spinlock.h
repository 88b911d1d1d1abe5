// The kernel's spinlock is the MMU core's (mm/sync.h): one test-and-test-and-
// set lock with an RAII guard, acquire on lock and release on unlock, for
// the whole hypervisor.
#pragma once

#include "mm/sync.h"

namespace hv {

using SpinLock = mm::SpinLock;
using LockGuard = mm::LockGuard;

}  // namespace hv
