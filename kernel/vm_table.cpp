#include "kernel/vm_table.h"

#include "kernel/static_pool.h"

namespace hv::vm_table {
namespace {

StaticPool<Vm, kMaxGuests> pool;
Vm* by_id[kMaxGuests];      // taken ids (the launch lock serialises changes)
Vm* published[kMaxGuests];  // what get() finds: complete, scheduled guests

}  // namespace

Vm* create(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls,
           const mm::MmuSwitches& switches) {
    if (id >= kMaxGuests || by_id[id]) return nullptr;
    return by_id[id] = pool.create(id, spec, controls, switches);
}

void publish(Vm* vm) { __atomic_store_n(&published[vm->id()], vm, __ATOMIC_RELEASE); }

Vm* get(uint64_t id) { return id < kMaxGuests ? __atomic_load_n(&published[id], __ATOMIC_ACQUIRE) : nullptr; }

bool taken(uint64_t id) { return id < kMaxGuests && by_id[id]; }

void destroy(Vm* vm) {
    __atomic_store_n(&published[vm->id()], nullptr, __ATOMIC_RELEASE);
    by_id[vm->id()] = nullptr;
    pool.destroy(vm);
}

}  // namespace hv::vm_table
