// Cross-CPU waits and their deadline. A CPU that waits for another (a TLB
// flush, a liveness probe) gives up after kDeadlineMs of TSC time, names the
// CPU and the guest it runs, and ends the run with RESULT: FAIL: a request
// that cannot complete (a flush whose invalidation never happened) leaves
// memory safety in doubt, so going on is not an option, and hanging tells
// nobody anything.
//
// The deadline is TSC time from the measured rate. In Bochs the TSC counts
// emulated time (ips=50M: 50 MHz), in which every CPU runs at the same pace,
// so it is a fixed number of the slow CPU's instructions however many CPUs
// share the host thread. Healthy answers take a VM exit and a scheduler round
// (microseconds of TSC time). A CPU serves nothing while it does one
// hypercall's work, so that work must serve as it goes when it is long:
// zeroing a guest's memory does (mmu_platform::zero; a new guest of 1 GiB
// takes Bochs some 21 s of TSC time).
#pragma once

#include <stdint.h>

namespace hv::stall {

inline constexpr uint64_t kDeadlineMs = 2000;

uint64_t deadline_tsc();

// Reports "FAIL: <test>: CPU <cpu> <what> within <ms> ms (it runs guest 'x')"
// and ends the run. A second CPU that times out meanwhile only stops: the run
// has one RESULT line.
[[noreturn]] void unresponsive(const char* test, unsigned cpu, const char* what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace hv::stall
