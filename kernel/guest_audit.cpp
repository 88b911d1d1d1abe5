#include "kernel/guest_audit.h"

#include "kernel/format.h"
#include "kernel/verdict.h"
#include "mm/spte.h"

namespace hv {
namespace {

void print_exit_counts(const Vm& vm) {
    char line[400];
    size_t n = format(line, sizeof line, "guest %s: VM exits:", vm.name());
    const VcpuStats s = vm.stats();
    uint64_t total = 0;
    for (unsigned r = 0; r <= vmx::kExitReasonCount; ++r) {
        if (!s.exits[r]) continue;
        total += s.exits[r];
        const char* name = r < vmx::kExitReasonCount ? vmx::exit_reason_name(r) : "beyond-table";
        if (n < sizeof line) n += format(line + n, sizeof line - n, " %s=%lu", name, s.exits[r]);
    }
    print("%s (total %lu, in %lu slices)\n", line, total, s.slices);
}

// Every page of [gpa, gpa + bytes) that the EPT maps must map the frame the
// slot (or window) says; returns the number of pages mapped.
uint64_t check_mappings(Vm& vm, uint64_t gpa, uint64_t bytes, uint64_t& misdirected) {
    uint64_t mapped = 0;
    for (uint64_t gfn = gpa >> 12; gfn < (gpa + bytes) >> 12; ++gfn) {
        int level = 1;
        uint64_t s = vm.mmu().lookup(gfn, &level);
        if (!mm::ept::is_present(s) || mm::ept::is_mmio(s)) continue;
        ++mapped;
        uint64_t pfn = mm::ept::pfn(s) + (gfn & (mm::ept::pages_per_level(level) - 1)), hpa;
        if (!vm.expected_backing(gfn << 12, hpa) || pfn != hpa >> 12) ++misdirected;
    }
    return mapped;
}

void audit_ept(Vm& vm) {
    char test[64], why[160];
    format(test, sizeof test, "%s: EPT audit", vm.name());
    if (!vm.mmu().audit(why, sizeof why)) return report_fail(test, "%s", why);
    uint64_t misdirected = 0;
    uint64_t mapped = check_mappings(vm, 0, vm.mem_bytes(), misdirected);
    for (size_t i = 0; i < HV_MAP_MAX; ++i)
        if (const Window& w = vm.window(i); w.target)
            mapped += check_mappings(vm, w.gpa, w.target->mem_bytes(), misdirected);
    const mm::Mmu::LeafCounts leaves = vm.mmu().count_leaves();
    size_t l1 = leaves.at[1], l2 = leaves.at[2], l3 = leaves.at[3];
    if (misdirected) return report_fail(test, "%lu mapped pages do not map their own frame", misdirected);
    report_pass(test, "rmap and leaves agree; %lu pages mapped by %zu 4K, %zu 2M and %zu 1G leaves, each to its "
                      "own frame, after %lu EPT faults", mapped, l1, l2, l3, vm.stats().ept_violations);

    const MemtestReport& m = vm.memtest();
    if (!m.valid) return;
    format(test, sizeof test, "%s: lazy EPT population", vm.name());
    uint64_t pages = m.bytes >> 12, slot_pages = vm.mem_bytes() >> 12, ignored = 0;
    if (m.mismatches) return report_fail(test, "the guest read back %lu mismatching words", m.mismatches);
    uint64_t in_range = check_mappings(vm, m.gpa, m.bytes, ignored);
    if (in_range != pages)
        return report_fail(test, "guest wrote %lu pages at GPA 0x%lx but only %lu of them are mapped", pages, m.gpa,
                           in_range);
    uint64_t own = check_mappings(vm, 0, vm.mem_bytes(), ignored);
    if (own >= slot_pages)
        return report_fail(test, "all %lu pages of the slot are mapped: population was not lazy", slot_pages);
    report_pass(test, "the %lu pages written are mapped, %lu of %lu slot pages in all, after %lu EPT faults", pages,
                own, slot_pages, vm.stats().ept_violations);
}

}  // namespace

void audit_guest(Vm& vm, Outcome outcome, Outcome expected) {
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
