// Every VM of this run, by id (its position on the kernel command line): the
// fixed storage they live in, and the lookup the privileged hypercalls use.
#pragma once

#include <stdint.h>

#include "kernel/vm.h"

namespace hv::vm_table {

// Constructs VM `id` in place; nullptr if the id is taken or out of range.
Vm* create(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls,
           const mm::MmuSwitches& switches);
// The VM with this id, or nullptr: ids come from guests, any value may arrive.
Vm* get(uint64_t id);
void destroy(Vm* vm);

}  // namespace hv::vm_table
