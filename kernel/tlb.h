// Cross-CPU EPT TLB invalidation. A CPU may cache guest-physical translations
// of any EPTP it has entered; only that CPU can drop them (INVEPT is local).
// A requester bumps the target CPU's request counter and kicks it; the target
// serves requests at every point where it is in VMX root operation and about
// to enter a guest or idling (serve()), with one INVEPT all-context.
#pragma once

#include <stdint.h>

namespace hv::vmx {
struct Controls;
}

namespace hv::tlb {

void init(const vmx::Controls& c);

// Drops every EPT-derived translation on this CPU for eptp.
void flush_local(uint64_t eptp);

// Makes cpu drop its EPT-derived translations and waits until it has,
// serving this CPU's own requests meanwhile (two CPUs may flush each other).
void flush_cpu(unsigned cpu);

// Serves the requests posted to this CPU. Call before each VM entry and in
// every wait loop in VMX root operation.
void serve();

}  // namespace hv::tlb
