#include "kernel/tlb.h"

#include "arch/x86/cpu.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/limits.h"
#include "kernel/smp.h"

namespace hv::tlb {
namespace {

// Per CPU: requests posted (by others) and requests served (by the CPU).
// The requester's release-increment pairs with the server's acquire load; the
// server's release store of `done` after INVEPT pairs with the requester's
// acquire load, so a requester that sees done >= its ticket knows the
// invalidation has completed.
struct alignas(64) Mailbox {
    uint64_t requested, done;
};
Mailbox boxes[kMaxCpus];
bool single_context;

}  // namespace

void init(const vmx::Controls& c) { single_context = c.ept_caps & vmx::ept_cap::INVEPT_SINGLE_CONTEXT; }

void flush_local(uint64_t eptp) {
    vmx::InveptDescriptor d{eptp, 0};
    vmx::invept(single_context ? vmx::InveptType::SingleContext : vmx::InveptType::AllContexts, d);
}

void serve() {
    Mailbox& b = boxes[smp::current_cpu()];
    uint64_t r = __atomic_load_n(&b.requested, __ATOMIC_ACQUIRE);
    if (r == __atomic_load_n(&b.done, __ATOMIC_RELAXED)) return;
    // All contexts (vmx::enable requires the type): the request does not say
    // which EPTP, and a CPU caches only those of the guests placed on it.
    vmx::InveptDescriptor d{0, 0};
    vmx::invept(vmx::InveptType::AllContexts, d);
    __atomic_store_n(&b.done, r, __ATOMIC_RELEASE);
}

void flush_cpu(unsigned cpu) {
    Mailbox& b = boxes[cpu];
    uint64_t ticket = __atomic_add_fetch(&b.requested, 1, __ATOMIC_RELEASE);
    smp::kick(cpu);
    while (__atomic_load_n(&b.done, __ATOMIC_ACQUIRE) < ticket) {
        serve();
        x86::pause();
    }
}

}  // namespace hv::tlb
