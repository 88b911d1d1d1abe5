// What the hypervisor checks after each guest has stopped, reported as result
// lines: the guest ended the way the command line expected, its EPT maps only
// its own slot, each page to its own backing frame, and population was lazy
// (one EPT violation per page the guest touched, none for pages it did not).
#pragma once

#include "kernel/vm.h"

namespace hv {

void audit_guest(const Vm& vm, Outcome outcome, Outcome expected);

}  // namespace hv
