#include "kernel/hypercall.h"

#include "include/hv/hypercall.h"
#include "kernel/vm.h"

namespace hv {
namespace {

constexpr HypercallResult ok(int64_t v = 0) { return {v, false}; }
constexpr HypercallResult err(int e) { return {-int64_t(e), false}; }

HypercallResult hc_version(Vm&, const HypercallArgs&) { return ok(HV_ABI_VERSION); }

HypercallResult hc_exit(Vm& vm, const HypercallArgs& a) {
    vm.guest_exit(a.a0);
    return {0, true};
}

HypercallResult hc_memtest_report(Vm& vm, const HypercallArgs& a) {
    uint64_t gpa = a.a0, bytes = a.a1;
    if ((gpa | bytes) & 0xfff || bytes == 0 || !vm.in_slot(gpa, bytes)) return err(HV_EINVAL);
    vm.record_memtest(MemtestReport{true, gpa, bytes, a.a2});
    return ok();
}

HypercallResult hc_console_write(Vm& vm, const HypercallArgs& a) {
    uint64_t gpa = a.a0, len = a.a1;
    if (len > HV_CONSOLE_WRITE_MAX) return err(HV_EINVAL);
    char buf[HV_CONSOLE_WRITE_MAX];
    // One copy, then only the copy is used: the guest may rewrite its buffer
    // from another vCPU while we print.
    if (!vm.read_guest(gpa, buf, len)) return err(HV_EFAULT);
    for (uint64_t i = 0; i < len; ++i) vm.console().put(buf[i]);
    return ok(int64_t(len));
}

HypercallResult hc_stats(Vm& vm, const HypercallArgs& a) {
    uint64_t gpa = a.a0, size = a.a1;
    if (size < sizeof(hv_stats)) return err(HV_EINVAL);
    hv_stats s{};
    const VmStats& v = vm.stats();
    static_assert(HV_STATS_EXIT_REASONS == vmx::kExitReasonCount + 1, "hv_stats.exits mirrors VmStats.exits");
    for (unsigned r = 0; r < HV_STATS_EXIT_REASONS; ++r) s.exits[r] = v.exits[r];
    s.ept_violations = v.ept_violations;
    s.hypercalls = v.hypercalls;
    s.hypercall_errors = v.hypercall_errors;
    if (!vm.write_guest(gpa, &s, sizeof s)) return err(HV_EFAULT);
    return ok(sizeof s);
}

struct Call {
    const char* name;
    HypercallResult (*fn)(Vm&, const HypercallArgs&);
};

// Indexed by call number (enum hv_hypercall).
constexpr Call kCalls[] = {
    {"version", hc_version},
    {"exit", hc_exit},
    {"memtest_report", hc_memtest_report},
    {"console_write", hc_console_write},
    {"stats", hc_stats},
};

}  // namespace

HypercallResult dispatch_hypercall(Vm& vm, const HypercallArgs& a) {
    if (a.nr >= sizeof kCalls / sizeof *kCalls) return err(HV_ENOSYS);
    return kCalls[a.nr].fn(vm, a);
}

}  // namespace hv
