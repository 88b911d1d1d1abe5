#include "kernel/hypercall.h"

#include "include/hv/hypercall.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/format.h"
#include "kernel/guests.h"
#include "kernel/smp.h"
#include "kernel/tlb.h"
#include "kernel/limits.h"
#include "kernel/state_check.h"
#include "kernel/vm.h"
#include "kernel/vm_table.h"

namespace hv {
namespace {

constexpr HypercallResult ok(int64_t v = 0) { return {v, false, false}; }
constexpr HypercallResult err(int e) { return {-int64_t(e), false, false}; }

HypercallResult hc_version(Vm&, const HypercallArgs&) { return ok(HV_ABI_VERSION); }

HypercallResult hc_exit(Vm& vm, const HypercallArgs& a) {
    vm.guest_exit(a.a0);
    return {0, true, false};
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
    vm.console_write(buf, len);
    return ok(int64_t(len));
}

HypercallResult hc_stats(Vm& vm, const HypercallArgs& a) {
    uint64_t gpa = a.a0, size = a.a1;
    if (size < sizeof(hv_stats)) return err(HV_EINVAL);
    hv_stats s{};
    const VcpuStats v = vm.stats();
    static_assert(HV_STATS_EXIT_REASONS == vmx::kExitReasonCount + 1, "hv_stats.exits mirrors VcpuStats.exits");
    for (unsigned r = 0; r < HV_STATS_EXIT_REASONS; ++r) s.exits[r] = v.exits[r];
    s.ept_violations = v.ept_violations;
    s.hypercalls = v.hypercalls;
    s.hypercall_errors = v.hypercall_errors;
    if (!vm.write_guest(gpa, &s, sizeof s)) return err(HV_EFAULT);
    return ok(sizeof s);
}

// The guest a privileged call names: another live guest, never the caller.
Vm* other_guest(Vm& caller, uint64_t id) {
    Vm* t = vm_table::get(id);
    return t && t != &caller && !t->stopped() ? t : nullptr;
}

HypercallResult hc_pause(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    t->request_pause();
    if (t->paused()) return ok();
    // Each vCPU's own CPU parks it between two slices. On another CPU, which
    // the request kicked, a flush round trip bounds the wait for that CPU to
    // come round: a CPU that never does is reported by name and ends the
    // run, instead of a control guest that retries forever.
    for (unsigned i = 0; i < t->vcpu_count(); ++i) {
        unsigned cpu = t->vcpu(i).cpu();
        if (cpu == smp::current_cpu() || t->vcpu(i).paused()) continue;
        char for_whom[64];
        format(for_whom, sizeof for_whom, "a pause of guest '%s'", t->name());
        tlb::flush_cpu(cpu, for_whom);
    }
    if (t->paused()) return ok();
    // Let it have the CPU (when it shares ours) and be asked again.
    return {-int64_t(HV_EAGAIN), false, true};
}

HypercallResult hc_resume(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (int e = t->resume(); e) {
        HV_LOG_WARN("guest %s: resume of guest '%s' refused: state records for some of its vCPUs only\n",
                    vm.name(), t->name());
        return err(-e);
    }
    return ok();
}

HypercallResult hc_get_state(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (a.a2 < sizeof(hv_guest_state) || a.a3 >= t->vcpu_count()) return err(HV_EINVAL);
    int e = 0;
    // A record is one vCPU's, the one the caller names (it says its index).
    if (!t->vcpu(unsigned(a.a3)).with_exported_state([&](const hv_guest_state& s) {
            // A CPU whose XSAVE area is larger than the record's: refused, not truncated.
            if (s.xsave_bytes > HV_XSAVE_AREA_MAX) e = HV_ENOSPC;
            else if (!vm.write_guest(a.a1, &s, sizeof s)) e = HV_EFAULT;
        }))
        return err(HV_EBUSY);
    return e ? err(e) : ok(sizeof(hv_guest_state));
}

// One record per CPU: too large for the stack, and read once from the
// caller (its other vCPUs could change its memory meanwhile), so that what
// is checked is what the target gets.
hv_guest_state set_state_scratch[kMaxCpus];

HypercallResult hc_set_state(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (a.a2 != sizeof(hv_guest_state)) return err(HV_EINVAL);
    if (!t->paused()) return err(HV_EBUSY);
    hv_guest_state& s = set_state_scratch[smp::current_cpu()];
    if (!vm.read_guest(a.a1, &s, sizeof s)) return err(HV_EFAULT);
    // The record names its vCPU; the check refuses an index the target lacks
    // before it is used.
    Vcpu& boot = t->vcpu(0);
    const StateLimits limits{t->controls(), boot.mxcsr_mask(), boot.linear_address_bits(), x86::tsc::hz(),
                             t->vcpu_count()};
    if (const char* why = state_refusal(s, limits)) {
        HV_LOG_WARN("guest %s: set_state of guest '%s' refused: %s\n", vm.name(), t->name(), why);
        return err(HV_EINVAL);
    }
    if (int e = t->set_state(s); e) return err(-e);
    return ok();
}

HypercallResult hc_start_vcpu(Vm& vm, const HypercallArgs& a) {
    int e = vm.start_vcpu(a.a0, a.a1, a.a2);
    return e ? err(-e) : ok();
}

HypercallResult hc_map_guest(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (a.a2 & ~uint64_t(HV_MAP_WRITABLE)) return err(HV_EINVAL);
    int r = vm.add_window(Window{a.a1, t, bool(a.a2 & HV_MAP_WRITABLE)});
    if (r == -mm::kENOMEM) r = -HV_ENOSPC;  // no host memory for its slot arrays: as for a slot, not in the ABI
    return r ? err(-r) : ok(int64_t(t->mem_bytes()));
}

HypercallResult hc_unmap_guest(Vm& vm, const HypercallArgs& a) {
    int r = vm.remove_window(a.a0);
    return r ? err(-r) : ok();
}

HypercallResult hc_stop_guest(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    t->request_stop();
    return ok();
}

HypercallResult hc_set_memory_region(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    hv_memory_region r;
    if (!vm.read_guest(a.a1, &r, sizeof r)) return err(HV_EFAULT);
    int e = t->set_memory_region(r);
    return e ? err(-e) : ok();
}

HypercallResult hc_get_dirty_log(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (a.a1 >= HV_MAX_SLOTS || a.a3 % 8) return err(HV_EINVAL);
    // The snapshot goes straight into the caller's memory (an output only),
    // through the path that dirty-logs the hypervisor's writes.
    if (a.a2 % 8) return err(HV_EFAULT);
    int e = -HV_EFAULT;
    if (!vm.write_guest_with(a.a2, a.a3, [&](void* out) {
            e = t->get_dirty_log(uint32_t(a.a1), static_cast<uint64_t*>(out), a.a3 / 8);
        }))
        return err(HV_EFAULT);
    return e ? err(-e) : ok();
}

uint64_t clear_bitmap_scratch[kMaxCpus][(HV_MAX_SLOT_BYTES >> 12) / 64];

HypercallResult hc_clear_dirty_log(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    hv_clear_dirty_log c;
    if (!vm.read_guest(a.a1, &c, sizeof c)) return err(HV_EFAULT);
    if (c.slot >= HV_MAX_SLOTS || c.reserved || c.num_pages == 0 || c.num_pages > (HV_MAX_SLOT_BYTES >> 12))
        return err(HV_EINVAL);
    // Copied once: the caller's other vCPUs may rewrite the bitmap while the
    // MMU reads it (once to check the range, once to clear), and what is
    // checked must be what is cleared. One buffer per CPU: a slot's bitmap is
    // at most 32 KiB, too much for the stack.
    const uint64_t words = (c.num_pages + 63) / 64;
    static_assert(HV_MAX_SLOT_BYTES >> 12 <= sizeof clear_bitmap_scratch[0] * 8, "a whole slot's bitmap fits");
    uint64_t* bitmap = clear_bitmap_scratch[smp::current_cpu()];
    if (c.bitmap_gpa % 8 || !vm.read_guest(c.bitmap_gpa, bitmap, words * 8)) return err(HV_EFAULT);
    int e = t->clear_dirty_log(c, bitmap);
    return e ? err(-e) : ok();
}

HypercallResult hc_guest_stats(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    if (a.a2 < sizeof(hv_guest_stats)) return err(HV_EINVAL);
    const mm::MmuStats& m = t->mmu().stats();
    const VcpuStats v = t->stats();
    auto ld = [](const std::atomic<uint64_t>& x) { return x.load(std::memory_order_relaxed); };
    hv_guest_stats s{};
    s.faults_slow = ld(m.faults_slow), s.faults_fast = ld(m.faults_fast), s.fast_retries = ld(m.fast_retries);
    s.wp_cleared = ld(m.wp_cleared), s.tlb_flushes = ld(m.flushes);
    s.splits = ld(m.splits), s.split_alloc_fallbacks = ld(m.split_alloc_fallbacks), s.lazy_splits = ld(m.lazy_splits);
    s.mmio_created = ld(m.mmio_created), s.mmio_stale = ld(m.mmio_stale);
    const mm::Mmu::LeafCounts leaves = t->mmu().count_leaves();
    s.leaves_4k = leaves.at[1], s.leaves_2m = leaves.at[2], s.leaves_1g = leaves.at[3];
    for (uint64_t e : v.exits) s.exits += e;
    s.ept_exits = v.exits[uint32_t(vmx::ExitReason::EPT_VIOLATION)] + v.exits[uint32_t(vmx::ExitReason::EPT_MISCONFIG)];
    s.ept_fault_cycles = v.ept_fault_cycles;
    s.mmio_walk_zaps = ld(m.mmio_walk_zaps), s.mmio_wrap_zaps = ld(m.mmio_wrap_zaps);
    s.mmio_emulated = t->mmio_emulated();
    s.memslot_generation = t->mmu().generation();
    s.recovered_huge = ld(m.recovered_huge);
    s.pml_entries = ld(m.pml_entries);
    s.console_lines = t->console().lines();
    s.vcpus = t->vcpu_count();
    if (!vm.write_guest(a.a1, &s, sizeof s)) return err(HV_EFAULT);
    return ok(sizeof s);
}

HypercallResult hc_create_guest(Vm& vm, const HypercallArgs& a) {
    uint64_t len = a.a1;
    char text[HV_CREATE_SPEC_MAX + 1];
    if (len == 0 || len > HV_CREATE_SPEC_MAX) return err(HV_EINVAL);
    if (!vm.read_guest(a.a0, text, len)) return err(HV_EFAULT);
    text[len] = '\0';
    cmdline::GuestSpec spec;
    char why[160];
    if (!cmdline::parse_guest(text, len, spec, why, sizeof why)) {
        HV_LOG_WARN("guest %s: create_guest refused: %s\n", vm.name(), why);
        return err(HV_EINVAL);
    }
    if (spec.control) return err(HV_EPERM);  // one control guest, from the command line
    // Another vCPU of a control guest may take the same free id at once
    // (launch() says -EEXIST): then the next free one. Bounded: each retry
    // means an id was taken, and there are kMaxGuests.
    for (unsigned attempt = 0; attempt < kMaxGuests; ++attempt) {
        int id = guests::free_id();
        if (id < 0) return err(HV_ENOSPC);
        int e = guests::launch(unsigned(id), spec, why, sizeof why);
        if (e == -HV_EEXIST) continue;
        if (e) {
            HV_LOG_WARN("guest %s: create_guest refused: %s\n", vm.name(), why);
            return err(-e);
        }
        return ok(id);
    }
    return err(HV_ENOSPC);
}

HypercallResult hc_enable_cap(Vm& vm, const HypercallArgs& a) {
    Vm* t = other_guest(vm, a.a0);
    if (!t) return err(HV_ENOENT);
    constexpr uint64_t kFlags = HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE | HV_DIRTY_LOG_INITIALLY_SET;
    if (a.a1 != HV_CAP_MANUAL_DIRTY_LOG_PROTECT2 || (a.a2 & ~kFlags)) return err(HV_EINVAL);
    // Initially-set only means something with manual protection (as KVM).
    if (a.a2 == HV_DIRTY_LOG_INITIALLY_SET) return err(HV_EINVAL);
    int e = t->set_dirty_log_mode(a.a2 & HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE, a.a2 & HV_DIRTY_LOG_INITIALLY_SET);
    return e ? err(-e) : ok();
}

HypercallResult hc_register_mmio(Vm& vm, const HypercallArgs& a) {
    int e = vm.register_mmio(a.a0, a.a1);
    return e ? err(-e) : ok();
}

struct Call {
    const char* name;
    bool privileged;  // the control guest's only
    HypercallResult (*fn)(Vm&, const HypercallArgs&);
};

// Indexed by call number (enum hv_hypercall).
constexpr Call kCalls[] = {
    {"version", false, hc_version},
    {"exit", false, hc_exit},
    {"memtest_report", false, hc_memtest_report},
    {"console_write", false, hc_console_write},
    {"stats", false, hc_stats},
    {"pause", true, hc_pause},
    {"resume", true, hc_resume},
    {"get_state", true, hc_get_state},
    {"set_state", true, hc_set_state},
    {"map_guest", true, hc_map_guest},
    {"stop_guest", true, hc_stop_guest},
    {"set_memory_region", true, hc_set_memory_region},
    {"get_dirty_log", true, hc_get_dirty_log},
    {"clear_dirty_log", true, hc_clear_dirty_log},
    {"guest_stats", true, hc_guest_stats},
    {"register_mmio", false, hc_register_mmio},
    {"create_guest", true, hc_create_guest},
    {"enable_cap", true, hc_enable_cap},
    {"unmap_guest", true, hc_unmap_guest},
    {"start_vcpu", false, hc_start_vcpu},
};

}  // namespace

HypercallResult dispatch_hypercall(Vm& vm, const HypercallArgs& a) {
    if (a.nr >= sizeof kCalls / sizeof *kCalls) return err(HV_ENOSYS);
    const Call& c = kCalls[a.nr];
    if (c.privileged && !vm.control()) return err(HV_EPERM);
    return c.fn(vm, a);
}

}  // namespace hv
