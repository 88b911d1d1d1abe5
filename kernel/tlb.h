// Cross-CPU EPT TLB invalidation. A CPU may cache guest-physical translations
// of any EPTP it has entered; only that CPU can drop them (INVEPT is local).
// A requester bumps the target CPU's request counter and kicks it; the target
// serves requests at every point where it is in VMX root operation and about
// to enter a guest or idling (serve()), with one INVEPT all-context. A target
// that does not serve within stall::kDeadlineMs is reported by name and ends
// the run (kernel/stall.h).
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
// for_whom names the request in the report if cpu never answers ("guest
// 'src'"). Also the liveness probe of a CPU that runs guests: it answers
// within the deadline, or the run ends with its name.
void flush_cpu(unsigned cpu, const char* for_whom);

// This CPU may cache EPT-derived translations from now on (before its first
// VM entry); and no longer (it enters no guest again: everything is dropped
// here). Flushes to a CPU outside these two return at once.
void cpu_online();
void cpu_offline();

// selftest=hung_cpu: CPU 1 stops serving on purpose and CPU 0 flushes it;
// the run must end with CPU 1 named (kernel/tlb_selftest.cpp).
[[noreturn]] void self_test_hung_cpu();

// Serves the requests posted to this CPU. Call before each VM entry and in
// every wait loop in VMX root operation.
void serve();

}  // namespace hv::tlb
