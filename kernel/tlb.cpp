#include "kernel/tlb.h"

#include "arch/x86/cpu.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/limits.h"
#include "kernel/smp.h"
#include "kernel/stall.h"

namespace hv::tlb {
namespace {

// Per CPU: requests posted (by others) and requests served (by the CPU).
// The requester's release-increment pairs with the server's acquire load; the
// server's release store of `done` after INVEPT pairs with the requester's
// acquire load, so a requester that sees done >= its ticket knows the
// invalidation has completed.
//
// `active`: the CPU may hold EPT-derived translations, from cpu_online()
// (before its first VM entry) to cpu_offline() (after an INVEPT of all
// contexts, with no VM entry after it). A CPU that is not active has nothing
// to drop, and nothing to answer with: its idle loop does not serve.
struct alignas(64) Mailbox {
    uint64_t requested, done;
    bool active;
};
Mailbox boxes[kMaxCpus];
bool single_context;

void invept_all() {
    vmx::InveptDescriptor d{0, 0};
    vmx::invept(vmx::InveptType::AllContexts, d);
}

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
    invept_all();
    __atomic_store_n(&b.done, r, __ATOMIC_RELEASE);
}

void cpu_online() {
    // Sequentially consistent, as the requester's side: either it sees this
    // CPU active (and waits for it), or this CPU's first EPT walks see the
    // entries the requester changed before it looked.
    __atomic_store_n(&boxes[smp::current_cpu()].active, true, __ATOMIC_SEQ_CST);
}

void cpu_offline() {
    Mailbox& b = boxes[smp::current_cpu()];
    invept_all();
    __atomic_store_n(&b.active, false, __ATOMIC_RELEASE);
}

void flush_cpu(unsigned cpu, const char* for_whom) {
    Mailbox& b = boxes[cpu];
    uint64_t ticket = __atomic_add_fetch(&b.requested, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&b.active, __ATOMIC_SEQ_CST)) return;
    smp::kick(cpu);
    const uint64_t t0 = x86::rdtsc(), deadline = stall::deadline_tsc();
    while (__atomic_load_n(&b.done, __ATOMIC_ACQUIRE) < ticket && __atomic_load_n(&b.active, __ATOMIC_ACQUIRE)) {
        // Two CPUs may flush each other.
        serve();
        x86::pause();
        if (x86::rdtsc() - t0 > deadline) stall::unresponsive("tlb", cpu, "did not serve a flush for %s", for_whom);
    }
}

}  // namespace hv::tlb
