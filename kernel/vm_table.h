// The guests by id. A guest is created (its id taken) and only published
// once it is complete and scheduled: until then no other guest's hypercall
// can find it. A half-built VM (no MMU yet, backing 0) reached by a control
// guest's HV_HC_MAP_GUEST mapped host-physical [0, mem) into that guest.
#pragma once

#include <stdint.h>

#include "kernel/vm.h"

namespace hv::vm_table {

// Takes id and builds the Vm object, unpublished; nullptr if id is taken.
Vm* create(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls,
           const mm::MmuSwitches& switches);
// Makes a complete VM visible to get() (release: whoever finds it sees it whole).
void publish(Vm* vm);
// A published guest, or nullptr.
Vm* get(uint64_t id);
bool taken(uint64_t id);
void destroy(Vm* vm);

}  // namespace hv::vm_table
