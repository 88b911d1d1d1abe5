// What the hypervisor checks after each guest has stopped, reported as result
// lines: the guest ended the way the command line expected, its EPT passes
// the MMU's audit (rmap and leaves a bijection) and maps each page to its own
// backing frame, and population was lazy (a memtest guest's pages are mapped,
// the slot's untouched ones are not).
#pragma once

#include "kernel/vm.h"

namespace hv {

void audit_guest(Vm& vm, Outcome outcome, Outcome expected);

}  // namespace hv
