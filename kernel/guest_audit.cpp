#include "kernel/guest_audit.h"

#include "kernel/format.h"
#include "kernel/verdict.h"

namespace hv {
namespace {

void print_exit_counts(const Vm& vm) {
    char line[400];
    size_t n = format(line, sizeof line, "guest %s: VM exits:", vm.name());
    const VmStats& s = vm.stats();
    uint64_t total = 0;
    for (unsigned r = 0; r <= vmx::kExitReasonCount; ++r) {
        if (!s.exits[r]) continue;
        total += s.exits[r];
        const char* name = r < vmx::kExitReasonCount ? vmx::exit_reason_name(r) : "beyond-table";
        if (n < sizeof line) n += format(line + n, sizeof line - n, " %s=%lu", name, s.exits[r]);
    }
    print("%s (total %lu)\n", line, total);
}

void audit_ept(const Vm& vm) {
    char test[64];
    format(test, sizeof test, "%s: EPT audit", vm.name());
    uint64_t outside = 0, misdirected = 0, in_memtest = 0;
    const MemtestReport& m = vm.memtest();
    size_t leaves = vm.ept().for_each_leaf([&](uint64_t gpa, uint64_t e) {
        uint64_t hpa;
        if (!vm.expected_backing(gpa, hpa)) ++outside;
        else if ((e & vmx::ept::ADDRESS_MASK) != hpa) ++misdirected;
        if (m.valid && gpa >= m.gpa && gpa - m.gpa < m.bytes) ++in_memtest;
    });
    uint64_t violations = vm.stats().ept_violations;
    if (outside || misdirected)
        return report_fail(test, "%lu leaves outside the slot and windows, %lu not mapping their own backing frame",
                           outside, misdirected);
    if (leaves != violations)
        return report_fail(test, "%zu EPT leaves but %lu EPT violations: population is not one fault per page",
                           leaves, violations);
    report_pass(test, "%zu leaves, one per EPT violation, each mapping its own frame", leaves);

    if (!m.valid) return;
    format(test, sizeof test, "%s: lazy EPT population", vm.name());
    uint64_t pages = m.bytes >> 12, slot_pages = vm.mem_bytes() >> 12;
    if (m.mismatches) return report_fail(test, "the guest read back %lu mismatching words", m.mismatches);
    if (in_memtest != pages)
        return report_fail(test, "guest wrote %lu pages at GPA 0x%lx but %lu of them were faulted in", pages, m.gpa,
                           in_memtest);
    if (leaves >= slot_pages)
        return report_fail(test, "all %lu pages of the slot are mapped: population was not lazy", slot_pages);
    report_pass(test, "%lu EPT violations for the %lu pages written, %zu of %lu slot pages mapped in all", in_memtest,
                pages, leaves, slot_pages);
}

}  // namespace

void audit_guest(const Vm& vm, Outcome outcome, Outcome expected) {
    print("guest %s: stopped: %s\n", vm.name(), vm.stop_reason());
    print_exit_counts(vm);
    char test[64];
    format(test, sizeof test, "%s: outcome %s", vm.name(), outcome_name(expected));
    if (outcome == expected)
        report_pass(test, "%s", vm.stop_reason());
    else
        report_fail(test, "expected %s, got %s: %s", outcome_name(expected), outcome_name(outcome), vm.stop_reason());
    audit_ept(vm);
}

}  // namespace hv
