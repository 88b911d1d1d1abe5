#include "kernel/vm_table.h"

#include "kernel/static_pool.h"

namespace hv::vm_table {
namespace {

StaticPool<Vm, kMaxGuests> pool;
Vm* by_id[kMaxGuests];

}  // namespace

Vm* create(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls,
           const mm::MmuSwitches& switches) {
    if (id >= kMaxGuests || by_id[id]) return nullptr;
    return by_id[id] = pool.create(id, spec, controls, switches);
}

Vm* get(uint64_t id) { return id < kMaxGuests ? by_id[id] : nullptr; }

void destroy(Vm* vm) {
    by_id[vm->id()] = nullptr;
    pool.destroy(vm);
}

}  // namespace hv::vm_table
