#include "kernel/stall.h"

#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/verdict.h"

namespace hv::stall {
namespace {

bool reported;  // atomic

}  // namespace

uint64_t deadline_tsc() { return x86::tsc::cycles_for_us(kDeadlineMs * 1000); }

void unresponsive(const char* test, unsigned cpu, const char* what_fmt, ...) {
    if (__atomic_exchange_n(&reported, true, __ATOMIC_ACQ_REL)) x86::halt_forever();
    char what[160], running[64];
    va_list ap;
    va_start(ap, what_fmt);
    vformat(what, sizeof what, what_fmt, ap);
    va_end(ap);
    const char* guest = __atomic_load_n(&percpu(cpu).guest, __ATOMIC_RELAXED);
    if (guest)
        format(running, sizeof running, "it runs guest '%s'", guest);
    else
        format(running, sizeof running, "it runs no guest");
    report_fail(test, "CPU %u %s within %lu ms (%s)", cpu, what, kDeadlineMs, running);
    end_run();
}

}  // namespace hv::stall
